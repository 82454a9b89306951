//! CPU time used by the processes of a point, from `/proc/<pid>/stat` (Linux).

use std::fmt;
use std::time::Instant;

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, 100 per second on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// The processes whose CPU use a point reports, besides this one (the load generator).
#[derive(Debug, Clone, Copy)]
pub struct Pids {
    /// The server under load, if any.
    pub server: Option<u32>,
    /// The broker, if known.
    pub broker: Option<u32>,
}

/// Cores each process kept busy on average while a point was measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cores {
    /// The server under load.
    pub server: Option<f64>,
    /// The broker.
    pub broker: Option<f64>,
    /// This process: the load generator, or the producer of ceiling C.
    pub client: Option<f64>,
}

impl fmt::Display for Cores {
    /// `server / broker / client`, `–` where unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |cores: Option<f64>| cores.map_or("–".to_owned(), |c| format!("{c:.2}"));
        write!(
            f,
            "{} / {} / {}",
            show(self.server),
            show(self.broker),
            show(self.client)
        )
    }
}

/// CPU seconds (user + system, all threads) process `pid` has used so far.
fn seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name start at field 3; utime and stime are
    // fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / TICKS_PER_SECOND)
}

/// The cores `pids` and this process kept busy between `from` and `to` (waits until `to`).
pub async fn between(pids: Pids, from: Instant, to: Instant) -> Cores {
    let all = [pids.server, pids.broker, Some(std::process::id())];
    tokio::time::sleep_until(from.into()).await;
    let (started, before) = (Instant::now(), all.map(|pid| pid.and_then(seconds)));
    tokio::time::sleep_until(to.into()).await;
    let (wall, after) = (
        started.elapsed().as_secs_f64(),
        all.map(|pid| pid.and_then(seconds)),
    );
    let used = |i: usize| Some((after[i]? - before[i]?) / wall);
    Cores {
        server: used(0),
        broker: used(1),
        client: used(2),
    }
}
