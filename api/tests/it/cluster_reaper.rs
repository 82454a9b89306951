//! Destroys a test's mock cluster only after the test's runtime has stopped.
//!
//! A `#[tokio::test]` drops its locals (the cluster among them) before its runtime, and the
//! runtime then drops the tasks still running: projectors, engines, watches, each holding a
//! group consumer. Dropping a group consumer leaves its group, and librdkafka waits for that
//! without end when the cluster is already gone (a known librdkafka hang): the test never
//! finished. The reaper keeps each cluster alive for [`GRACE`] after its test let go of it.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a cluster outlives its test: ample for a runtime to stop and its consumers to
/// leave their groups, even on a loaded machine.
const GRACE: Duration = Duration::from_secs(30);

/// A cluster on its way to the reaper.
struct Doomed(MockCluster<'static, DefaultProducerContext>);

// SAFETY: librdkafka's mock cluster and the client that owns it are thread-safe handles; the
// reaper is the only holder once one is handed over, and it only destroys it.
unsafe impl Send for Doomed {}

/// Hands `cluster` to the reaper, which destroys it [`GRACE`] from now.
pub fn reap_later(cluster: MockCluster<'static, DefaultProducerContext>) {
    static REAPER: OnceLock<Mutex<Sender<(Instant, Doomed)>>> = OnceLock::new();
    let reaper = REAPER.get_or_init(|| {
        let (sender, doomed) = channel::<(Instant, Doomed)>();
        std::thread::Builder::new()
            .name("cluster-reaper".into())
            .spawn(move || {
                for (due, cluster) in doomed {
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    drop(cluster.0);
                }
            })
            .expect("the reaper thread starts");
        Mutex::new(sender)
    });
    let due = Instant::now() + GRACE;
    // The reaper never stops, so the send only fails if it panicked: then leak the cluster.
    let _ = reaper.lock().unwrap().send((due, Doomed(cluster)));
}
