//! The load generator: N keep-alive HTTP/1.1 connections, one hyper client connection each.

use super::server::Server;
use super::settings::Timing;
use super::{cpu, payload, stats};
use axum::body::Bytes;
use axum::http::{header, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_adapters::channels::meta::SIGNATURE_HEADER;
use tokio::net::TcpStream;

/// The webhook route for `integration` (a path parameter pattern works too).
pub fn webhook_path(integration: &str) -> String {
    format!("/webhooks/messenger/{integration}")
}

/// A server under load, and the payloads it is sent, in order, across all its points.
pub struct Target {
    addr: SocketAddr,
    pids: cpu::Pids,
    uri: Uri,
    host: HeaderValue,
    payloads: Arc<Vec<payload::Payload>>,
    next: AtomicUsize,
}

impl Target {
    /// `addr`'s webhook route for `integration`, sent `payloads` in turn.
    pub fn new(
        addr: SocketAddr,
        pids: cpu::Pids,
        integration: &str,
        payloads: Arc<Vec<payload::Payload>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            addr,
            pids,
            uri: Uri::try_from(webhook_path(integration)).expect("a valid path"),
            host: HeaderValue::from_str(&addr.to_string()).expect("an address is ASCII"),
            payloads,
            next: AtomicUsize::new(0),
        })
    }

    /// How many requests it has been sent (distinct while at most the payload count).
    pub fn sent(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }

    /// The next request: the next payload, signed, to the webhook route.
    fn request(&self) -> Request<Full<Bytes>> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let payload = &self.payloads[n % self.payloads.len()];
        Request::post(self.uri.clone())
            .header(header::HOST, self.host.clone())
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .header(SIGNATURE_HEADER, payload.signature.clone())
            .body(Full::new(payload.body.clone()))
            .expect("a valid request")
    }
}

/// Closed loop (each connection sends its next request when the previous one is answered)
/// or open loop at a fixed total rate in requests/s.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as answers come.
    Closed,
    /// This many requests per second in all, on schedule.
    Rate(f64),
}

/// The outcome of one point.
#[derive(Debug, Clone)]
pub struct Point {
    /// Connections used.
    pub connections: usize,
    /// How requests were paced.
    pub pace: Pace,
    /// 200 answers per second within the measured window.
    pub rate: f64,
    /// Latency percentiles of those answers.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The slowest.
    pub max: Duration,
    /// Requests not answered 200 (or lost with their connection), warm-up included.
    pub failed: u64,
    /// What the first failure was.
    pub first_failure: Option<String>,
    /// All 200 answers, warm-up included.
    pub ok_total: u64,
    /// Cores the server, the broker and the load generator kept busy while measured.
    pub cores: cpu::Cores,
}

/// `server`'s point with the highest rate among `points`.
pub fn best_of(points: &[(Server, Point)], server: Server) -> Option<&Point> {
    points
        .iter()
        .filter(|(s, _)| *s == server)
        .map(|(_, point)| point)
        .max_by(|a, b| a.rate.total_cmp(&b.rate))
}

impl Point {
    /// One line for the progress log.
    pub fn summary(&self) -> String {
        let pace = match self.pace {
            Pace::Closed => format!("{:>4} conns", self.connections),
            Pace::Rate(rate) => format!("{:>4} conns at {rate:.0}/s", self.connections),
        };
        let failed = match &self.first_failure {
            Some(first) => format!(", {} failed (first: {first})", self.failed),
            None => String::new(),
        };
        format!(
            "{pace}: {:>8.0} req/s  p50 {}  p99 {}  max {}  cores {}{failed}",
            self.rate,
            stats::ms(self.p50),
            stats::ms(self.p99),
            stats::ms(self.max),
            self.cores
        )
    }
}

/// When a point starts and ends, which part is measured, and (open loop) each request's slot.
struct Clock {
    start: Instant,
    measure_from: Instant,
    end: Instant,
    pace: Pace,
    slots: AtomicU64,
}

impl Clock {
    /// A point that starts now: warm-up, then the measured window.
    fn starting_now(timing: Timing, pace: Pace) -> Self {
        let start = Instant::now();
        Self {
            start,
            measure_from: start + timing.warmup,
            end: start + timing.warmup + timing.measure,
            pace,
            slots: AtomicU64::new(0),
        }
    }

    /// When the caller's next request starts (waiting for its slot in an open loop), or
    /// `None` once the point is over.
    async fn next_start(&self) -> Option<Instant> {
        let start = match self.pace {
            Pace::Closed => Instant::now(),
            Pace::Rate(rate) => {
                let slot = self.slots.fetch_add(1, Ordering::Relaxed);
                self.start + Duration::from_secs_f64(slot as f64 / rate)
            }
        };
        if start >= self.end {
            return None;
        }
        if matches!(self.pace, Pace::Rate(_)) {
            tokio::time::sleep_until(start.into()).await;
        }
        Some(start)
    }

    /// Whether an answer at `at` falls in the measured window.
    fn measures(&self, at: Instant) -> bool {
        at >= self.measure_from && at < self.end
    }
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    ok_total: u64,
    failed: u64,
    first_failure: Option<String>,
}

impl Tally {
    /// Counts a failure, remembering the first one.
    fn fail(&mut self, why: String) {
        self.failed += 1;
        self.first_failure.get_or_insert(why);
    }

    /// Adds another connection's tally to this one.
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.ok_total += other.ok_total;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

type Sender = SendRequest<Full<Bytes>>;

/// Loads `target` over `connections` connections for one warm-up plus one measured window.
pub async fn run(
    target: &Arc<Target>,
    connections: usize,
    pace: Pace,
    timing: Timing,
) -> anyhow::Result<Point> {
    let senders =
        futures::future::try_join_all((0..connections).map(|_| connect(target.addr))).await?;
    let clock = Arc::new(Clock::starting_now(timing, pace));
    let cores = tokio::spawn(cpu::between(target.pids, clock.measure_from, clock.end));
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|sender| tokio::spawn(drive(target.clone(), sender, clock.clone())))
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await?);
    }
    tally.latencies_us.sort_unstable();
    let latencies = &tally.latencies_us;
    Ok(Point {
        connections,
        pace,
        rate: latencies.len() as f64 / timing.measure.as_secs_f64(),
        p50: stats::percentile(latencies, 0.50),
        p99: stats::percentile(latencies, 0.99),
        max: stats::percentile(latencies, 1.0),
        failed: tally.failed,
        first_failure: tally.first_failure,
        ok_total: tally.ok_total,
        cores: cores.await?,
    })
}

/// A fresh keep-alive HTTP/1.1 connection to `addr`, its driver running in a task.
async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One connection's loop: requests back-to-back (or on schedule) until the point ends.
async fn drive(target: Arc<Target>, mut sender: Sender, clock: Arc<Clock>) -> Tally {
    let mut tally = Tally::default();
    while let Some(started) = clock.next_start().await {
        match send(&mut sender, &target).await {
            Ok(StatusCode::OK) => {
                let done = Instant::now();
                tally.ok_total += 1;
                if clock.measures(done) {
                    let micros = done.duration_since(started).as_micros();
                    tally
                        .latencies_us
                        .push(micros.try_into().unwrap_or(u32::MAX));
                }
            }
            Ok(status) => tally.fail(format!("HTTP {status}")),
            Err(error) => {
                tally.fail(format!("{error:#}"));
                match connect(target.addr).await {
                    Ok(fresh) => sender = fresh,
                    Err(_) => break,
                }
            }
        }
    }
    tally
}

/// Sends the target's next payload and reads the whole answer.
async fn send(sender: &mut Sender, target: &Target) -> anyhow::Result<StatusCode> {
    sender.ready().await?;
    let response = sender.send_request(target.request()).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}
