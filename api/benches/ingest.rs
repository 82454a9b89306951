//! # Inbound ingest benchmark
//!
//! **What it measures.** Signed Messenger webhooks (one message each, 1 KiB body) posted over
//! HTTP/1.1 keep-alive connections to the real `switchboard serve` process, which verifies,
//! parses and publishes each one to `messages.received` on a real Kafka-protocol broker and
//! answers 200 only after the broker acknowledged it (`acks=all`, idempotent producer). For
//! several connection counts it reports sustained requests/s and p50/p99 latency, next to three
//! ceilings measured in the same run, on the same machine, with the same load generator:
//!
//! - **A**: a bare axum handler that reads the body and answers 200 — what HTTP alone costs;
//! - **B**: a bare axum handler that verifies `X-Hub-Signature-256` (HMAC-SHA256 with the app
//!   secret over the raw body, with the service's own functions) and parses the JSON — what
//!   the unavoidable per-request work costs;
//! - **C**: the service's producer alone, no HTTP: the very records the service would publish
//!   (built by its own Messenger parser and publisher from the same bodies), the same broker,
//!   `acks=all`, `enable.idempotence=true`, pipelined (many enqueued, their delivery futures
//!   awaited as they resolve), in messages/s. It writes to a topic of its own, partitioned like
//!   the webhook topic, so that consumers of the service's topics do not read along.
//!
//! From those it derives ours / the lowest ceiling, the p99 of ours at half its maximum rate,
//! and the peak resident memory (`VmHWM`) of the `serve` process. Every point also reports the
//! cores the server, the broker and the load generator kept busy while it was measured (from
//! `/proc/<pid>/stat`), and so the CPU each spends per request: that shows which process
//! binds, not just that something does.
//!
//! **Why it is built this way.** A and B run as separate processes (this binary re-executed
//! with `SWITCHBOARD_BENCH_ROLE`), so every server is measured the same way, over loopback
//! TCP. Every body is distinct (distinct message id and sender, so keys spread across
//! partitions) and is signed before the clock starts, so the client does as little as possible
//! per request. The closed-loop points (each connection sends its next request as soon as the
//! previous one is answered) find the maximum rate; the half-rate run is open-loop at a fixed
//! total rate and counts each latency from the request's *scheduled* start, so a stall in the
//! server cannot hide behind a client that waits for it (tokio's timer adds up to ~1 ms). The
//! warm-up of each point is excluded. The broker, the server and the load generator share the
//! machine's cores, so only the ratios measured within one run mean much.
//!
//! **How to run it.** `bash deploy/bench.sh` starts PostgreSQL, a throwaway broker and the
//! service, then runs this with their whereabouts in the environment (see [`Settings`]). Under
//! `cargo test` (no `--bench` argument) it only checks that its payloads pass the service's own
//! signature check and parser.

use anyhow::{bail, ensure, Context};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use futures::stream::{FuturesUnordered, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::{Command, ExitCode, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchboard_adapters::channels::meta::{APP_SECRET, SIGNATURE_HEADER};
use switchboard_adapters::channels::webhook::{
    hex_signature_matches, hmac_sha256, RawWebhook, WebhookChannel, WebhookSecrets,
};
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::inbound::{InboundPublisher, WebhookTarget};
use switchboard_adapters::kafka::{
    ensure_topics, EventProducer, KafkaSettings, OutgoingRecord, TopicSpec, Topics,
};
use switchboard_domain::integration::IntegrationStatus;
use switchboard_domain::message::InboundEvent;
use switchboard_domain::{ChannelKind, SecretString};
use tokio::net::{TcpListener, TcpStream};

/// Size of every webhook body, in bytes.
const BODY_BYTES: usize = 1024;
/// The Facebook page the benchmark integration stands for.
const PAGE_ID: &str = "104000000000001";
/// The workspace the benchmark integration lives in.
const WORKSPACE: &str = "bench";
/// Selects a ceiling server role when this binary is re-executed as one.
const ROLE_ENV: &str = "SWITCHBOARD_BENCH_ROLE";
/// The address a ceiling server binds.
const ROLE_ADDR_ENV: &str = "SWITCHBOARD_BENCH_ROLE_ADDR";
/// The Messenger app secret the service (and ceiling B) checks signatures with.
const APP_SECRET_ENV: &str = "SWITCHBOARD_BENCH_APP_SECRET";
/// Distinct records the producer ceiling cycles through.
const PRODUCER_RECORDS: usize = 20_000;
/// The producer ceiling's own topic (partitioned like the webhook topic), so that no consumer
/// of the service's topics reads along while it is measured.
const PRODUCER_TOPIC: &str = "bench.producer-ceiling";
/// Pause between points, so one point's tail does not run into the next.
const SETTLE: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let outcome = if let Ok(role) = std::env::var(ROLE_ENV) {
        ceiling::serve(&role)
    } else if std::env::args().any(|arg| arg == "--bench") {
        bench()
    } else {
        self_check()
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ingest bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The benchmark proper: every point, then the Markdown report on stdout.
fn bench() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let report = tokio::runtime::Runtime::new()?.block_on(run(&settings))?;
    println!("{}", report.markdown(&settings));
    Ok(())
}

/// What `cargo test` runs: the payloads are what the service accepts, one event each.
fn self_check() -> anyhow::Result<()> {
    let secret = "self-check-secret";
    let payloads = payload::build(64, secret);
    let parser = records::Parser::new(&uuid::Uuid::new_v4().to_string(), secret)?;
    let mut keys = std::collections::HashSet::new();
    for payload in &payloads {
        ensure!(
            payload.body.len() == BODY_BYTES,
            "a body is not {BODY_BYTES} bytes"
        );
        let events = parser.events(payload)?;
        ensure!(events.len() == 1, "a payload is not exactly one message");
        keys.insert(events[0].conversation_key.clone());
    }
    ensure!(keys.len() == payloads.len(), "payloads share senders");
    ensure!(stats::percentile(&[1, 2, 3, 4], 0.5) == Duration::from_micros(2));
    eprintln!("ingest bench: payloads check out (run the benchmark with `bash deploy/bench.sh`)");
    Ok(())
}

/// Where things are and how long to load them, from the environment `deploy/bench.sh` sets.
struct Settings {
    /// The running `switchboard serve` (`SWITCHBOARD_BENCH_ADDR`, `host:port`).
    server_addr: SocketAddr,
    /// Its process id, for its memory and CPU use (`SWITCHBOARD_BENCH_SERVER_PID`).
    server_pid: u32,
    /// The broker's process id, for its CPU use (`SWITCHBOARD_BENCH_BROKER_PID`, optional).
    broker_pid: Option<u32>,
    /// The Messenger app secret it was configured with (`SWITCHBOARD_BENCH_APP_SECRET`).
    app_secret: String,
    /// Bootstrap servers of its broker (`KAFKA_BROKERS`).
    brokers: String,
    /// The topic it publishes webhooks to (`SWITCHBOARD_BENCH_TOPIC`, default `messages.received`).
    topic: String,
    /// The broker, as the report names it (`SWITCHBOARD_BENCH_BROKER`).
    broker_label: String,
    /// The service's settings, as the report names them (`SWITCHBOARD_BENCH_SERVE_SETTINGS`).
    serve_label: String,
    /// Warm-up and measured time of every point.
    timing: Timing,
    /// Connection counts of the closed-loop points (`SWITCHBOARD_BENCH_CONNECTIONS`, `16,64,256`).
    connections: Vec<usize>,
    /// Connections of the half-rate run (`SWITCHBOARD_BENCH_HALF_RATE_CONNECTIONS`, 64).
    half_rate_connections: usize,
    /// Distinct bodies to precompute (`SWITCHBOARD_BENCH_BODIES`, 200 000).
    bodies: usize,
    /// Records ceiling C keeps in flight (`SWITCHBOARD_BENCH_PRODUCER_WINDOW`, 10 000).
    producer_window: usize,
}

/// How long a point warms up (not measured) and is then measured.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// `SWITCHBOARD_BENCH_WARMUP_SECS`, default 2.
    warmup: Duration,
    /// `SWITCHBOARD_BENCH_SECS`, default 8.
    measure: Duration,
}

impl Settings {
    /// Reads the settings, refusing missing or malformed ones.
    fn from_env() -> anyhow::Result<Self> {
        let connections = env_or("SWITCHBOARD_BENCH_CONNECTIONS", "16,64,256".to_owned())?
            .split(',')
            .map(|n| n.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .context("SWITCHBOARD_BENCH_CONNECTIONS must be numbers separated by commas")?;
        ensure!(
            !connections.is_empty() && !connections.contains(&0),
            "SWITCHBOARD_BENCH_CONNECTIONS must name at least one non-zero connection count"
        );
        Ok(Self {
            server_addr: required("SWITCHBOARD_BENCH_ADDR")?.parse()?,
            server_pid: required("SWITCHBOARD_BENCH_SERVER_PID")?.parse()?,
            broker_pid: std::env::var("SWITCHBOARD_BENCH_BROKER_PID")
                .ok()
                .and_then(|pid| pid.parse().ok()),
            app_secret: required(APP_SECRET_ENV)?,
            brokers: required("KAFKA_BROKERS")?,
            topic: env_or("SWITCHBOARD_BENCH_TOPIC", Topics::default().received)?,
            broker_label: env_or("SWITCHBOARD_BENCH_BROKER", "unnamed broker".to_owned())?,
            serve_label: env_or("SWITCHBOARD_BENCH_SERVE_SETTINGS", "unknown".to_owned())?,
            timing: Timing {
                warmup: Duration::from_secs_f64(env_or("SWITCHBOARD_BENCH_WARMUP_SECS", 2.0)?),
                measure: Duration::from_secs_f64(env_or("SWITCHBOARD_BENCH_SECS", 8.0)?),
            },
            connections,
            half_rate_connections: env_or("SWITCHBOARD_BENCH_HALF_RATE_CONNECTIONS", 64)?,
            bodies: env_or("SWITCHBOARD_BENCH_BODIES", 200_000)?.max(1),
            producer_window: env_or("SWITCHBOARD_BENCH_PRODUCER_WINDOW", 10_000)?.max(1),
        })
    }
}

/// The environment variable `name`, which must be set.
fn required(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: run the benchmark with `bash deploy/bench.sh`")
    })
}

/// The environment variable `name` parsed, or `default` when unset.
fn env_or<T: FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .with_context(|| format!("{name}={text} is not valid")),
        Err(_) => Ok(default),
    }
}

/// Everything measured, in the order it was measured.
struct Report {
    /// Closed-loop points, labelled with their server.
    points: Vec<(Server, load::Point)>,
    /// Ours at half its maximum rate.
    half_rate: load::Point,
    /// The producer alone, or why it could not be measured.
    producer: Result<producer::Outcome, String>,
    /// Peak RSS of `serve` over the whole run, and during the half-rate run only (KiB).
    serve_peak_kib: (Option<u64>, Option<u64>),
    /// Peak RSS of the ceiling servers A and B (KiB).
    ceiling_peak_kib: Vec<(Server, Option<u64>)>,
    /// Records the broker gained while ours ran (if it could still tell), and ours' 200 answers.
    stored_vs_answered: (Option<i64>, u64),
    /// Distinct bodies precomputed, and requests ours was sent.
    bodies: (usize, usize),
}

/// Which server a point measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    /// Ceiling A.
    Bare,
    /// Ceiling B.
    VerifyParse,
    /// `switchboard serve`.
    Ours,
}

impl Server {
    /// Its name in a sentence.
    fn short(self) -> &'static str {
        match self {
            Self::Bare => "A",
            Self::VerifyParse => "B",
            Self::Ours => "ours",
        }
    }

    /// Its name in a table.
    fn label(self) -> &'static str {
        match self {
            Self::Bare => "A: bare axum, answers 200",
            Self::VerifyParse => "B: bare axum, HMAC check + JSON parse",
            Self::Ours => "ours: `switchboard serve` → broker",
        }
    }
}

/// Runs every point: ceilings A and B, ours, ours at half rate, then ceiling C.
async fn run(settings: &Settings) -> anyhow::Result<Report> {
    eprintln!("precomputing {} signed bodies…", settings.bodies);
    let payloads = Arc::new(payload::build(settings.bodies, &settings.app_secret));
    let integration = setup::messenger_integration(settings).await?;
    setup::check_one_webhook(settings, &integration).await?;
    let mut points = Vec::new();
    let ceiling_peak_kib = ceilings_a_b(settings, &integration, &payloads, &mut points).await?;
    let ours = ours(settings, &integration, &payloads, &mut points).await?;
    eprintln!("C: the producer alone…");
    let producer = producer::ceiling(settings, &payloads, &integration)
        .await
        .map_err(|error| format!("{error:#}"));
    match &producer {
        Ok(c) => eprintln!(
            "C: {:.0} msg/s, {} failed, cores {}",
            c.rate, c.failed, c.cores
        ),
        Err(error) => eprintln!("C could not be measured: {error}"),
    }
    Ok(Report {
        points,
        half_rate: ours.half_rate,
        producer,
        serve_peak_kib: ours.peak_kib,
        ceiling_peak_kib,
        stored_vs_answered: ours.stored_vs_answered,
        bodies: (payloads.len(), ours.sent),
    })
}

/// Ceilings A and B, each in its own process, at every connection count; their peak RSS.
async fn ceilings_a_b(
    settings: &Settings,
    integration: &str,
    payloads: &Arc<Vec<payload::Payload>>,
    points: &mut Vec<(Server, load::Point)>,
) -> anyhow::Result<Vec<(Server, Option<u64>)>> {
    let mut peaks = Vec::new();
    for server in [Server::Bare, Server::VerifyParse] {
        let child = ceiling::spawn(server, &settings.app_secret)?;
        let pids = cpu::Pids {
            server: Some(child.pid()),
            broker: settings.broker_pid,
        };
        let target = load::Target::new(child.addr, pids, integration, payloads.clone());
        for &connections in &settings.connections {
            let point = measure(server, &target, connections, settings).await?;
            points.push((server, point));
        }
        peaks.push((server, memory::peak_kib(child.pid())));
    }
    Ok(peaks)
}

/// What the runs of ours found besides their points.
struct OursRun {
    /// The open-loop run at half the best closed-loop rate.
    half_rate: load::Point,
    /// Peak RSS of `serve` over the whole run, and during the half-rate run only (KiB).
    peak_kib: (Option<u64>, Option<u64>),
    /// Records the broker gained (if it could still tell), and 200 answers, over all runs of ours.
    stored_vs_answered: (Option<i64>, u64),
    /// Requests sent.
    sent: usize,
}

/// Ours at every connection count, then at half its best rate, checking the broker got it all.
async fn ours(
    settings: &Settings,
    integration: &str,
    payloads: &Arc<Vec<payload::Payload>>,
    points: &mut Vec<(Server, load::Point)>,
) -> anyhow::Result<OursRun> {
    let pids = cpu::Pids {
        server: Some(settings.server_pid),
        broker: settings.broker_pid,
    };
    let target = load::Target::new(settings.server_addr, pids, integration, payloads.clone());
    let stored_before = broker::records_on(settings).await;
    for &connections in &settings.connections {
        let point = measure(Server::Ours, &target, connections, settings).await?;
        points.push((Server::Ours, point));
    }
    let whole_run_peak = memory::peak_kib(settings.server_pid);
    let half_rate = half_rate(settings, &target, points).await?;
    let half_rate_peak = memory::peak_kib(settings.server_pid);
    let stored = match (stored_before, broker::records_on(settings).await) {
        (Ok(before), Ok(after)) => Some(after - before),
        _ => None,
    };
    let answered = points
        .iter()
        .filter(|(server, _)| *server == Server::Ours)
        .map(|(_, point)| point.ok_total)
        .sum::<u64>()
        + half_rate.ok_total;
    Ok(OursRun {
        half_rate,
        peak_kib: (whole_run_peak.max(half_rate_peak), half_rate_peak),
        stored_vs_answered: (stored, answered),
        sent: target.sent(),
    })
}

/// One closed-loop point, logged as it completes.
async fn measure(
    server: Server,
    target: &Arc<load::Target>,
    connections: usize,
    settings: &Settings,
) -> anyhow::Result<load::Point> {
    let point = load::run(target, connections, load::Pace::Closed, settings.timing).await?;
    eprintln!("{:<40} {}", server.label(), point.summary());
    tokio::time::sleep(SETTLE).await;
    Ok(point)
}

/// Ours, open-loop at half the best closed-loop rate, with its peak RSS counted from the start.
async fn half_rate(
    settings: &Settings,
    ours: &Arc<load::Target>,
    points: &[(Server, load::Point)],
) -> anyhow::Result<load::Point> {
    let max = points
        .iter()
        .filter(|(server, _)| *server == Server::Ours)
        .map(|(_, point)| point.rate)
        .fold(0.0, f64::max);
    ensure!(max > 0.0, "ours answered nothing: see the service log");
    if !memory::reset_peak(settings.server_pid) {
        eprintln!("(cannot reset the server's peak RSS: the half-rate peak is the whole run's)");
    }
    let pace = load::Pace::Rate(max / 2.0);
    let point = load::run(ours, settings.half_rate_connections, pace, settings.timing).await?;
    eprintln!("{:<40} {}", "ours at half of max", point.summary());
    Ok(point)
}

/// The payloads: distinct, signed Messenger webhooks of exactly [`BODY_BYTES`].
mod payload {
    use super::*;

    /// One request's body and its `X-Hub-Signature-256` value.
    pub struct Payload {
        /// The raw JSON body.
        pub body: Bytes,
        /// `sha256=<hex HMAC-SHA256(app secret, body)>`.
        pub signature: HeaderValue,
    }

    /// `count` distinct payloads signed with `secret`. Message ids carry a tag of this run, so
    /// a rerun against the same broker publishes new event ids.
    pub fn build(count: usize, secret: &str) -> Vec<Payload> {
        let run = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        (0..count)
            .map(|i| sign(messenger_body(&format!("{run:x}"), i), secret))
            .collect()
    }

    /// `body` with the signature Meta would send for it.
    fn sign(body: Vec<u8>, secret: &str) -> Payload {
        let digest = hmac_sha256(secret.as_bytes(), &[&body]);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Payload {
            body: Bytes::from(body),
            signature: HeaderValue::from_str(&format!("sha256={hex}")).expect("hex is ASCII"),
        }
    }

    /// A page-message webhook from sender `i` with message id `m_<run>_<i>`, its text padded
    /// so the whole body is [`BODY_BYTES`] long.
    fn messenger_body(run: &str, i: usize) -> Vec<u8> {
        let sender = (7_000_000_000_000_000u64 + i as u64).to_string();
        let timestamp = 1_700_000_000_000i64 + i as i64;
        let envelope = |text: &str| {
            serde_json::json!({"object": "page", "entry": [{"id": PAGE_ID, "time": timestamp,
                "messaging": [{"sender": {"id": sender}, "recipient": {"id": PAGE_ID},
                    "timestamp": timestamp, "message": {"mid": format!("m_{run}_{i}"), "text": text}}]}]})
            .to_string()
        };
        let room = BODY_BYTES.saturating_sub(envelope("").len());
        envelope(&filler(room, i)).into_bytes()
    }

    /// `len` bytes of plain ASCII text that JSON does not escape.
    fn filler(len: usize, i: usize) -> String {
        format!("Hello, where is my order {i}? It was due yesterday; could you also change the delivery address please. ")
            .chars()
            .cycle()
            .take(len)
            .collect()
    }
}

/// The service's own Messenger parser and publisher, used to make ceiling C's records.
mod records {
    use super::*;

    /// Verifies and parses payloads exactly as the service does for one integration.
    pub struct Parser {
        webhook: Arc<dyn WebhookChannel>,
        target: WebhookTarget,
    }

    impl Parser {
        /// A parser for `integration_id`, whose platform app secret is `secret`.
        pub fn new(integration_id: &str, secret: &str) -> anyhow::Result<Self> {
            let channel = ChannelKind::parse("messenger").context("no messenger channel")?;
            let webhook = ChannelRegistry::builtin()
                .webhook(&channel)
                .cloned()
                .context("messenger has no webhook")?;
            let platform = BTreeMap::from([(APP_SECRET.to_owned(), SecretString::new(secret))]);
            let target = WebhookTarget {
                integration_id: integration_id.parse()?,
                workspace_id: WORKSPACE.parse()?,
                channel,
                status: IntegrationStatus::Connected,
                secrets: WebhookSecrets::new(BTreeMap::new(), platform),
            };
            Ok(Self { webhook, target })
        }

        /// The events the service makes of `payload`.
        pub fn events(&self, payload: &payload::Payload) -> anyhow::Result<Vec<InboundEvent>> {
            let mut headers = HeaderMap::new();
            headers.insert(SIGNATURE_HEADER, payload.signature.clone());
            let raw = RawWebhook {
                headers: &headers,
                body: &payload.body,
            };
            let verified = self.webhook.verify(raw, &self.target.secrets)?;
            let drafts = self.webhook.parse(&verified)?;
            Ok(InboundPublisher::events(&self.target, drafts))
        }

        /// The Kafka records `publisher` makes of the events of `payloads`.
        pub fn records(
            &self,
            publisher: &InboundPublisher,
            payloads: &[payload::Payload],
        ) -> anyhow::Result<Vec<OutgoingRecord>> {
            let mut records = Vec::with_capacity(payloads.len());
            for payload in payloads {
                for event in self.events(payload)? {
                    records.push(publisher.record(&event, None));
                }
            }
            Ok(records)
        }
    }
}

/// Creating and connecting the benchmark's Messenger integration through the service's API.
mod setup {
    use super::*;

    /// Creates and connects a Messenger integration; returns its id.
    pub async fn messenger_integration(settings: &Settings) -> anyhow::Result<String> {
        let client = reqwest::Client::new();
        let base = format!(
            "http://{}/v1/workspaces/{WORKSPACE}/integrations",
            settings.server_addr
        );
        let created = client
            .post(&base)
            .json(
                &serde_json::json!({"channel": "messenger", "name": "Ingest benchmark",
                "auth": {"page_id": PAGE_ID, "page_access_token": "bench-page-token"}}),
            )
            .send()
            .await?;
        ensure!(
            created.status() == StatusCode::CREATED,
            "creating the integration: {}",
            created.text().await?
        );
        let body: serde_json::Value = created.json().await?;
        let id = body["id"]
            .as_str()
            .context("no id in the answer")?
            .to_owned();
        let connected = client
            .post(format!("{base}/{id}/connect"))
            .json(&serde_json::json!({}))
            .send()
            .await?;
        ensure!(
            connected.status() == StatusCode::OK,
            "connecting the integration: {}",
            connected.text().await?
        );
        Ok(id)
    }

    /// Posts one webhook (not from the measured set) and insists on `200 {"events": 1}`.
    pub async fn check_one_webhook(settings: &Settings, integration: &str) -> anyhow::Result<()> {
        let payload = payload::build(1, &settings.app_secret).remove(0);
        let answer = reqwest::Client::new()
            .post(format!(
                "http://{}{}",
                settings.server_addr,
                load::webhook_path(integration)
            ))
            .header(header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, payload.signature)
            .body(payload.body)
            .send()
            .await?;
        let status = answer.status();
        let body = answer.text().await?;
        ensure!(
            status == StatusCode::OK && body.contains("\"events\":1"),
            "a single signed webhook was answered {status}: {body}"
        );
        Ok(())
    }
}

/// Ceilings A and B: bare axum servers, each in its own process (this binary, re-executed).
mod ceiling {
    use super::*;

    /// A child process, killed when dropped.
    pub struct Child {
        process: std::process::Child,
        /// Where it listens.
        pub addr: SocketAddr,
    }

    impl Child {
        /// Its process id.
        pub fn pid(&self) -> u32 {
            self.process.id()
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }

    /// Starts the ceiling server for `server` (A or B) and waits until it accepts connections.
    pub fn spawn(server: Server, secret: &str) -> anyhow::Result<Child> {
        let role = match server {
            Server::Bare => "bare",
            Server::VerifyParse => "verify-parse",
            Server::Ours => bail!("ours is not a ceiling"),
        };
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let process = Command::new(std::env::current_exe()?)
            .env(ROLE_ENV, role)
            .env(ROLE_ADDR_ENV, addr.to_string())
            .env(APP_SECRET_ENV, secret)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?;
        let child = Child { process, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            ensure!(Instant::now() < deadline, "the {role} server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(child)
    }

    /// The child side: serves `role` on `SWITCHBOARD_BENCH_ROLE_ADDR` until killed, on the
    /// same kind of runtime as `switchboard serve` (multi-threaded, one worker per core).
    pub fn serve(role: &str) -> anyhow::Result<()> {
        let addr: SocketAddr = required(ROLE_ADDR_ENV)?.parse()?;
        let route = load::webhook_path("{integration_id}");
        let router = match role {
            "bare" => Router::new().route(&route, post(bare)),
            "verify-parse" => Router::new()
                .route(&route, post(verify_parse))
                .with_state(Arc::<str>::from(required(APP_SECRET_ENV)?)),
            other => bail!("unknown {ROLE_ENV} {other}"),
        };
        tokio::runtime::Runtime::new()?.block_on(async move {
            let listener = TcpListener::bind(addr).await?;
            axum::serve(listener, router).await?;
            Ok(())
        })
    }

    /// Ceiling A: reads the body, answers 200.
    async fn bare(_body: Bytes) -> StatusCode {
        StatusCode::OK
    }

    /// Ceiling B: checks `X-Hub-Signature-256` over the raw body, parses the JSON, answers 200.
    async fn verify_parse(
        State(secret): State<Arc<str>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let expected = hmac_sha256(secret.as_bytes(), &[&body]);
        let signed = headers
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("sha256="))
            .is_some_and(|given| hex_signature_matches(given, &expected));
        if !signed {
            return StatusCode::UNAUTHORIZED;
        }
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(_) => StatusCode::OK,
            Err(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// The load generator: N keep-alive HTTP/1.1 connections, one hyper client connection each.
mod load {
    use super::*;

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
}

/// Ceiling C: the service's producer, on its own.
mod producer {
    use super::*;

    /// Messages/s the producer sustained, and how many failed.
    pub struct Outcome {
        /// Acknowledged records per second within the measured window.
        pub rate: f64,
        /// Records not acknowledged.
        pub failed: u64,
        /// Average record value size, in bytes.
        pub record_bytes: usize,
        /// Cores the broker and this process (the producer) kept busy while measured.
        pub cores: cpu::Cores,
        /// Records kept in flight.
        pub window: usize,
    }

    /// Publishes the service's records for the first payloads, pipelined, for one point, to
    /// [`PRODUCER_TOPIC`].
    pub async fn ceiling(
        settings: &Settings,
        payloads: &[payload::Payload],
        integration: &str,
    ) -> anyhow::Result<Outcome> {
        broker::topic_like_webhooks(settings, PRODUCER_TOPIC).await?;
        let producer = EventProducer::new(&KafkaSettings::new(&settings.brokers))?;
        // Only used to build records: its acknowledgement deadline never applies.
        let publisher =
            InboundPublisher::new(producer.clone(), PRODUCER_TOPIC.to_owned(), Duration::ZERO);
        let parser = records::Parser::new(integration, &settings.app_secret)?;
        let sample = &payloads[..payloads.len().min(PRODUCER_RECORDS)];
        let records = parser.records(&publisher, sample)?;
        producer
            .publish(&records[0])
            .await
            .context("the producer cannot reach the broker")?;
        let (rate, failed, cores) = pipelined(&producer, &records, settings).await?;
        let record_bytes = records.iter().map(|r| r.body.len()).sum::<usize>() / records.len();
        Ok(Outcome {
            rate,
            failed,
            record_bytes,
            cores,
            window: settings.producer_window,
        })
    }

    /// Keeps the settings' window of records in flight for one point, counting
    /// acknowledgements in the measured window: acknowledged records/s, failures, and the CPU
    /// the broker and this process used meanwhile.
    async fn pipelined(
        producer: &EventProducer,
        records: &[OutgoingRecord],
        settings: &Settings,
    ) -> anyhow::Result<(f64, u64, cpu::Cores)> {
        let (timing, window) = (settings.timing, settings.producer_window);
        let pids = cpu::Pids {
            server: None,
            broker: settings.broker_pid,
        };
        let start = Instant::now();
        let (measure_from, end) = (
            start + timing.warmup,
            start + timing.warmup + timing.measure,
        );
        let cores = tokio::spawn(cpu::between(pids, measure_from, end));
        let mut in_flight = FuturesUnordered::new();
        let (mut sent, mut acked, mut failed) = (0usize, 0u64, 0u64);
        loop {
            if Instant::now() < end && in_flight.len() < window {
                in_flight.push(
                    producer
                        .enqueue(&records[sent % records.len()])
                        .await?
                        .settle(),
                );
                sent += 1;
                continue;
            }
            match in_flight.next().await {
                None => break,
                Some(Ok(_)) => {
                    let now = Instant::now();
                    acked += u64::from(now >= measure_from && now < end);
                }
                Some(_) => failed += 1,
            }
        }
        let rate = acked as f64 / timing.measure.as_secs_f64();
        Ok((rate, failed, cores.await?))
    }
}

/// What the broker holds.
mod broker {
    use super::*;

    /// How long a metadata or watermark request may take.
    const TIMEOUT: Duration = Duration::from_secs(10);

    /// Records currently held in the webhook topic, over all its partitions.
    pub async fn records_on(settings: &Settings) -> anyhow::Result<i64> {
        let (brokers, topic) = (settings.brokers.clone(), settings.topic.clone());
        tokio::task::spawn_blocking(move || {
            let consumer = client(&brokers)?;
            let mut total = 0;
            for partition in partitions(&consumer, &topic)? {
                let (low, high) = consumer.fetch_watermarks(&topic, partition, TIMEOUT)?;
                total += high - low;
            }
            Ok(total)
        })
        .await?
    }

    /// Creates `name` (unless it exists) with as many partitions as the webhook topic.
    pub async fn topic_like_webhooks(settings: &Settings, name: &str) -> anyhow::Result<()> {
        let (brokers, topic) = (settings.brokers.clone(), settings.topic.clone());
        let count = tokio::task::spawn_blocking(move || {
            anyhow::Ok(partitions(&client(&brokers)?, &topic)?.len())
        })
        .await??;
        let spec = TopicSpec {
            name: name.to_owned(),
            partitions: i32::try_from(count)?,
        };
        ensure_topics(&KafkaSettings::new(&settings.brokers), &[spec], 1).await?;
        Ok(())
    }

    fn client(brokers: &str) -> anyhow::Result<BaseConsumer> {
        Ok(KafkaSettings::new(brokers)
            .client_config()
            .set("group.id", "switchboard-ingest-bench")
            .create()?)
    }

    fn partitions(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<Vec<i32>> {
        let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .first()
            .map(|t| t.partitions().iter().map(|p| p.id()).collect())
            .unwrap_or_default();
        ensure!(!partitions.is_empty(), "the broker has no topic {topic}");
        Ok(partitions)
    }
}

/// CPU time used by the processes of a point, from `/proc/<pid>/stat` (Linux).
mod cpu {
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
}

/// Resident memory of a process, from `/proc/<pid>/status` (Linux).
mod memory {
    /// `VmHWM`: the peak resident set size since start (or since [`reset_peak`]), in KiB.
    pub fn peak_kib(pid: u32) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// Resets `VmHWM` to the current RSS (`echo 5 > /proc/<pid>/clear_refs`); false if refused.
    pub fn reset_peak(pid: u32) -> bool {
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
    }
}

/// CPU microseconds per request from cores kept busy at `rate` requests/s.
fn per_request(cores: Option<f64>, rate: f64) -> String {
    match cores {
        Some(cores) if rate > 0.0 => format!("{:.0} µs", cores / rate * 1e6),
        _ => "n/a".to_owned(),
    }
}

/// One Markdown table row for `point`.
fn point_row(out: &mut String, label: &str, point: &load::Point) {
    let _ = writeln!(
        out,
        "| {label} | {} | {:.0} | {} | {} | {} | {} | {} |",
        point.connections,
        point.rate,
        stats::ms(point.p50),
        stats::ms(point.p99),
        stats::ms(point.max),
        point.failed,
        point.cores
    );
}

/// Percentiles and number formatting.
mod stats {
    use std::time::Duration;

    /// The `q` quantile (nearest rank) of ascending microsecond latencies; zero when empty.
    pub fn percentile(sorted_us: &[u32], q: f64) -> Duration {
        if sorted_us.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q * sorted_us.len() as f64).ceil() as usize;
        Duration::from_micros(sorted_us[rank.clamp(1, sorted_us.len()) - 1].into())
    }

    /// `12.34 ms`.
    pub fn ms(duration: Duration) -> String {
        format!("{:.2} ms", duration.as_secs_f64() * 1e3)
    }

    /// `123.4 MB` (10^6 bytes) from a `VmHWM` in KiB.
    pub fn mb(kib: Option<u64>) -> String {
        kib.map_or_else(
            || "n/a".to_owned(),
            |k| format!("{:.1} MB", k as f64 * 1.024e-3),
        )
    }
}

impl Report {
    /// The best closed-loop rate of `server`.
    fn max_rate(&self, server: Server) -> f64 {
        self.points
            .iter()
            .filter(|(s, _)| *s == server)
            .map(|(_, point)| point.rate)
            .fold(0.0, f64::max)
    }

    /// CPU time per answered request at `server`'s best point: the server's and the broker's.
    fn cpu_per_request(&self, server: Server) -> String {
        let best = self
            .points
            .iter()
            .filter(|(s, _)| *s == server)
            .map(|(_, point)| point)
            .max_by(|a, b| a.rate.total_cmp(&b.rate));
        best.map_or_else(String::new, |point| {
            format!(
                "{} {} (broker {})",
                server.short(),
                per_request(point.cores.server, point.rate),
                per_request(point.cores.broker, point.rate)
            )
        })
    }

    /// The lowest of the ceilings measured: its name and rate.
    fn binding_ceiling(&self) -> (&'static str, f64) {
        let producer = self.producer.as_ref().map(|c| c.rate).ok();
        [
            ("A (bare axum)", Some(self.max_rate(Server::Bare))),
            ("B (HMAC + JSON)", Some(self.max_rate(Server::VerifyParse))),
            ("C (producer alone)", producer),
        ]
        .into_iter()
        .filter_map(|(name, rate)| Some((name, rate?)))
        .fold(
            ("none", f64::INFINITY),
            |low, c| if c.1 < low.1 { c } else { low },
        )
    }

    /// The results as Markdown, ready for README.
    fn markdown(&self, settings: &Settings) -> String {
        let mut out = String::new();
        self.context(&mut out, settings);
        self.points_table(&mut out);
        self.verdict_table(&mut out);
        self.notes(&mut out);
        out
    }

    /// The heading and what was run where.
    fn context(&self, out: &mut String, settings: &Settings) {
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let _ = writeln!(out, "### Inbound ingest benchmark\n");
        let _ = writeln!(
            out,
            "{cores} cores ({cpu}) shared by the broker, the server and the load generator; \
             broker: {}; `switchboard serve` settings: {}. Signed Messenger webhooks, one \
             message and {BODY_BYTES} bytes each, all distinct; HTTP/1.1 keep-alive, each \
             connection sending back-to-back; {:.0} s warm-up (excluded), then {:.0} s measured \
             per point.\n",
            settings.broker_label,
            settings.serve_label,
            settings.timing.warmup.as_secs_f64(),
            settings.timing.measure.as_secs_f64(),
        );
    }

    /// Every point, then ceiling C.
    fn points_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "| server | connections | requests/s | p50 | p99 | max | failed | CPU cores: server / broker / client |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for (server, point) in &self.points {
            point_row(out, server.label(), point);
        }
        if let load::Pace::Rate(rate) = self.half_rate.pace {
            let label = format!("ours, open loop at half of max ({rate:.0} req/s offered)");
            point_row(out, &label, &self.half_rate);
        }
        let _ = match &self.producer {
            Ok(c) => writeln!(
                out,
                "| C: producer alone (acks=all, idempotent, {} in flight) | – | {:.0} msg/s | | | | {} | {} |\n",
                c.window, c.rate, c.failed, c.cores
            ),
            Err(error) => writeln!(
                out,
                "| C: producer alone (acks=all, idempotent) | – | not measured: {error} | | | | | |\n"
            ),
        };
    }

    /// The derived figures next to the targets.
    fn verdict_table(&self, out: &mut String) {
        let ours = self.max_rate(Server::Ours);
        let (ceiling, lowest) = self.binding_ceiling();
        let ratio = ours / lowest;
        let half = &self.half_rate;
        let offered = match half.pace {
            load::Pace::Rate(rate) => rate,
            load::Pace::Closed => 0.0,
        };
        let peak_mb = self
            .serve_peak_kib
            .0
            .map_or(f64::NAN, |k| k as f64 * 1.024e-3);
        let met = |ok: bool| if ok { "met" } else { "**missed**" };
        let _ = writeln!(out, "| | measured | target | |\n|---|---:|---:|---|");
        let _ = writeln!(
            out,
            "| ours / lowest ceiling, {ceiling} | {ratio:.2} ({ours:.0} / {lowest:.0} per s) | ≥ 0.70 | {} |",
            met(ratio >= 0.7)
        );
        let _ = writeln!(
            out,
            "| p99 of ours at half of max ({offered:.0} req/s offered, {:.0} answered, {} connections, open loop) | {} | ≤ 50 ms | {} |",
            half.rate,
            half.connections,
            stats::ms(half.p99),
            met(half.p99 <= Duration::from_millis(50) && half.failed == 0)
        );
        let _ = writeln!(
            out,
            "| peak RSS of `switchboard serve` (VmHWM, whole run) | {} | ≤ 150 MB | {} |",
            stats::mb(self.serve_peak_kib.0),
            met(peak_mb <= 150.0)
        );
        let _ = writeln!(
            out,
            "| peak RSS of `switchboard serve` during the half-rate run | {} | | |",
            stats::mb(self.serve_peak_kib.1)
        );
        let _ = writeln!(out);
    }

    /// What backs the figures: completeness, CPU per request, what C sent, ceilings' memory.
    fn notes(&self, out: &mut String) {
        let (stored, answered) = self.stored_vs_answered;
        let (bodies, sent) = self.bodies;
        let distinct = if sent <= bodies {
            format!("all {sent} requests to ours carried distinct bodies")
        } else {
            format!("ours was sent {sent} requests from {bodies} distinct bodies (some repeated)")
        };
        let cpu = [Server::Bare, Server::VerifyParse, Server::Ours]
            .map(|server| self.cpu_per_request(server))
            .join("; ");
        let stored = stored.map_or("unknown (the broker no longer answered)".to_owned(), |n| {
            n.to_string()
        });
        let ceilings = self
            .ceiling_peak_kib
            .iter()
            .map(|(server, kib)| format!("{} {}", server.short(), stats::mb(*kib)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "- Records the broker gained while ours ran: {stored}, for {answered} answers 200 \
             (warm-ups included); {distinct}.\n\
             - CPU per request at each server's best point: {cpu}.\n\
             - Peak RSS of the ceiling servers: {ceilings}."
        );
        if let Ok(c) = &self.producer {
            let _ = writeln!(
                out,
                "- C: broker {} per record. C publishes the records the service makes of these \
                 bodies ({} bytes of value each, plus CloudEvents headers), cycling through the \
                 first {PRODUCER_RECORDS}, to its own topic `{PRODUCER_TOPIC}` with as many \
                 partitions.",
                per_request(c.cores.broker, c.rate),
                c.record_bytes
            );
        }
    }
}
