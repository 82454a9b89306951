//! # Outbound benchmark
//!
//! **What it measures.** Sends per second through the outbound engine, the very code
//! `switchboard adapters` runs (`switchboard_api::outbound::run`): `SWITCHBOARD_BENCH_SENDS`
//! (default 50,000) `SendMessage` commands, after as many unmeasured ones
//! (`SWITCHBOARD_BENCH_WARMUP_SENDS`: the throwaway broker's JIT compiles its hot paths then),
//! pre-produced round-robin over
//! `SWITCHBOARD_BENCH_CONVERSATIONS` (default 1,000) conversations of one connected Messenger
//! integration, consumed from a real broker, looked up in PostgreSQL, sent to a local fake Graph
//! API and answered with `MessageSent` on `messages.status`. Next to it, in the same run against
//! the same fake, the ceiling: a direct HTTP client (the senders' own pooled client) posting the
//! same Send API bodies with the same concurrency, one request in flight per conversation.
//!
//! The engine's rate limit is set to 1,000,000 sends/s (burst 1,000,000) so it never binds; the
//! fake answers after `SWITCHBOARD_BENCH_PLATFORM_LATENCY_MS` (default 0: the ceiling is then
//! the bare HTTP round trip). The engine's clock starts when the last warm-up outcome is read
//! back from `messages.status` (without a warm-up, at the first call the fake receives:
//! consumer-group join excluded) and stops when the last `MessageSent` is. Beside it, the two other round trips of every send, each alone at the
//! same concurrency: the integration lookup in PostgreSQL and the acknowledged status publish.
//! What binds is read from those, the mean calls in flight at the fake and how busy all cores
//! were (where the kernel tells it).
//!
//! `outbound_max_in_flight` keeps its default (10,000; `SWITCHBOARD_BENCH_MAX_IN_FLIGHT`
//! overrides it), so the engine holds back its consumer as it would in production.
//! A run fails rather than hang: after 180 s without a first status event (consumer-group
//! join included), or 30 s without the next one.
//!
//! **How to run it.** `bash deploy/bench.sh outbound` (PostgreSQL and a throwaway broker, then
//! this with `KAFKA_BROKERS` and `DATABASE_URL` set to an admin connection; the benchmark creates
//! its own database and topics with a unique prefix). Without `--bench` (as `cargo test` runs
//! it) it only checks its workload and its ceiling client against the fake, without a broker.
//! `SWITCHBOARD_BENCH_BROKER=mock bash deploy/bench.sh outbound` uses librdkafka's in-process
//! mock cluster instead of the throwaway Apache Kafka node.

#[path = "common/broker.rs"]
mod broker;
#[path = "outbound/fake_graph.rs"]
mod fake_graph;
#[path = "common/fake_meta_app.rs"]
mod fake_meta_app;
#[path = "outbound/probes.rs"]
mod probes;
#[path = "outbound/workload.rs"]
mod workload;
#[path = "common/workspace_key.rs"]
mod workspace_key;

use anyhow::Context;
use fake_graph::FakeGraph;
use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::kafka::envelope::header_value;
use switchboard_api::app::App;
use switchboard_api::config::Config;
use switchboard_domain::message::SendMessage;
use switchboard_domain::IntegrationId;
use workload::{command, messenger};

/// The allocator the `switchboard` binary runs with (see `api/src/main.rs`), so the engine is
/// measured as deployed; the ceiling client shares the process and gets it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PAGE_ID: &str = "1122334455";
const PAGE_TOKEN: &str = "EAAB-bench-page-token";
const UNBOUNDED_RATE: u32 = 1_000_000;
const STALL: Duration = Duration::from_secs(30);
/// How long the engine may take to join its consumer group and send the first message.
const STARTUP: Duration = Duration::from_secs(180);

/// What one run does, from the environment.
struct Settings {
    sends: usize,
    /// Sends through the engine before the measured ones: a throwaway broker's JIT compiles
    /// its hot paths meanwhile (a `perf` sample of an unwarmed run found its C2 compiler
    /// threads on a fifth of both cores).
    warmup: usize,
    conversations: usize,
    latency: Duration,
    max_in_flight: usize,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let read = |name: &str, default: usize| -> anyhow::Result<usize> {
            std::env::var(name).map_or(Ok(default), |v| v.parse().context(name.to_owned()))
        };
        let sends = read("SWITCHBOARD_BENCH_SENDS", 50_000)?.max(1);
        Ok(Self {
            sends,
            warmup: read("SWITCHBOARD_BENCH_WARMUP_SENDS", sends)?,
            conversations: read("SWITCHBOARD_BENCH_CONVERSATIONS", 1_000)?.max(1),
            latency: Duration::from_millis(read("SWITCHBOARD_BENCH_PLATFORM_LATENCY_MS", 0)? as u64),
            max_in_flight: read("SWITCHBOARD_BENCH_MAX_IN_FLIGHT", 10_000)?,
        })
    }
}

fn main() -> ExitCode {
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| {
            if std::env::args().any(|a| a == "--bench") {
                bench_on_chosen_broker(&runtime)
            } else {
                runtime.block_on(self_check())
            }
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("outbound bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// What `cargo test` runs: the commands are valid Messenger sends, and the ceiling client gets
/// the fake's Send API answers. No broker, no database.
async fn self_check() -> anyhow::Result<()> {
    let command = command(IntegrationId::new(), 7, 1_000);
    command.check()?;
    let back: SendMessage = serde_json::from_slice(&serde_json::to_vec(&command)?)?;
    anyhow::ensure!(back == command, "commands must round-trip");
    anyhow::ensure!(
        ChannelRegistry::builtin().sender(&messenger()).is_some(),
        "Messenger must have a sender"
    );
    let fake = FakeGraph::start(Duration::ZERO).await?;
    let (rate, _) = probes::http_ceiling(&fake, PAGE_ID, PAGE_TOKEN, 20, 4).await?;
    anyhow::ensure!(
        rate > 0.0 && fake.calls() == 20,
        "the ceiling client must reach the fake"
    );
    Ok(())
}

/// Every number of one run.
struct Results {
    broker: String,
    ceiling: f64,
    ceiling_in_flight: f64,
    lookups: f64,
    publishes: f64,
    engine: f64,
    engine_in_flight: f64,
    engine_with_startup: Duration,
    ceiling_cpu: Option<f64>,
    engine_cpu: Option<f64>,
}

/// Runs the benchmark on the broker [`broker::chosen`] picks.
fn bench_on_chosen_broker(runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let mock = broker::chosen()?;
    runtime.block_on(bench(mock.as_ref()))
}

async fn bench(mock: Option<&broker::Mock>) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let settings = Settings::from_env()?;
    let fake = FakeGraph::start(settings.latency).await?;
    let (config, admin, database) = workload::config(&settings, &fake.base).await?;
    let outcome = measure(&settings, &config, &fake, mock).await;
    // The run's database goes whatever happened; its topics stay under their unique prefix.
    let drop = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
    if let Err(error) = sqlx::query(&drop).execute(&admin).await {
        eprintln!("could not drop {database}: {error}");
    }
    report(&settings, &outcome?);
    Ok(())
}

/// Sets the workload up, then measures the ceilings and the engine.
async fn measure(
    settings: &Settings,
    config: &Config,
    fake: &FakeGraph,
    mock: Option<&broker::Mock>,
) -> anyhow::Result<Results> {
    let mut topics = config.topics().specs(config.topic_partitions);
    topics.push(probes::probe_topic(config));
    broker::create_topics(mock, &config.kafka(), &topics).await?;
    let app = App::build(config).await?;
    let integration = workload::connect_integration(&app, config).await?;
    workload::produce(config, integration, settings).await?;

    let (total, concurrency) = (settings.sends, settings.conversations);
    eprintln!("ceilings: {total} of each, {concurrency} in flight");
    let meter = probes::CpuMeter::start();
    let (ceiling, ceiling_in_flight) =
        probes::http_ceiling(fake, PAGE_ID, PAGE_TOKEN, total, concurrency).await?;
    let ceiling_cpu = meter.busy_percent();
    let lookups = probes::lookups(&app, config, integration, total, concurrency).await?;
    let publishes = probes::publishes(config, total, concurrency).await?;
    fake.reset();
    eprintln!("engine: {total} commands");
    let (engine, engine_in_flight, engine_with_startup, engine_cpu) =
        engine_phase(config, fake, settings.warmup, total).await?;
    app.state.pool.close().await;
    Ok(Results {
        broker: broker::describe(mock),
        ceiling,
        ceiling_in_flight,
        lookups,
        publishes,
        engine,
        engine_in_flight,
        engine_with_startup,
        ceiling_cpu,
        engine_cpu,
    })
}

/// Runs `switchboard adapters`' engine until `warmup + total` `MessageSent` are on
/// `messages.status`: sends/s over the last `total` (from the fake's first call when there is
/// no warm-up), the mean calls in flight at the fake, the wall time from the engine's start and
/// how busy the cores were while the measured sends went.
async fn engine_phase(
    config: &Config,
    fake: &FakeGraph,
    warmup: usize,
    total: usize,
) -> anyhow::Result<(f64, f64, Duration, Option<f64>)> {
    let statuses: StreamConsumer = config
        .kafka()
        .client_config()
        .set("group.id", format!("bench-status-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    statuses.subscribe(&[&config.topics().status])?;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let engine_config = config.clone();
    let started = Instant::now();
    let engine = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        switchboard_api::outbound::run(&engine_config, shutdown).await
    });
    let (mut sent, mut failed, mut example) = (0, 0, None);
    let mut stream = statuses.stream();
    let mut meter = None;
    let mut measured_from = None;
    while sent + failed < warmup + total {
        let patience = if sent + failed == 0 { STARTUP } else { STALL };
        let Ok(next) = tokio::time::timeout(patience, stream.next()).await else {
            let _ = stop.send(true);
            anyhow::bail!(
                "stalled: {sent} sent, {failed} failed, {} platform calls of {total} after {:.0} s",
                fake.calls(),
                started.elapsed().as_secs_f64()
            );
        };
        let record = next.context("status stream ended")??;
        if warmup == 0 {
            meter.get_or_insert_with(probes::CpuMeter::start);
        }
        let kind = record.headers().and_then(|h| header_value(h, "ce_type"));
        if kind.is_some_and(|k| k.ends_with("MessageSent.v1")) {
            sent += 1;
        } else {
            failed += 1;
            example.get_or_insert_with(|| {
                String::from_utf8_lossy(record.payload().unwrap_or_default()).into_owned()
            });
        }
        if warmup > 0 && sent + failed == warmup {
            measured_from = Some(Instant::now());
            meter = Some(probes::CpuMeter::start());
        }
        if (sent + failed) % 10_000 == 0 {
            eprintln!("engine: {} outcomes", sent + failed);
        }
    }
    let finished = Instant::now();
    let cpu = meter.and_then(|m| m.busy_percent());
    let _ = stop.send(true);
    engine.await??;
    anyhow::ensure!(failed == 0, "{failed} sends failed, e.g. {example:?}");
    let first = fake.first_call().context("the fake was never called")?;
    let wall = finished.duration_since(first);
    let measured = match measured_from {
        Some(from) if warmup > 0 => finished.duration_since(from),
        _ => wall,
    };
    Ok((
        total as f64 / measured.as_secs_f64(),
        fake.mean_in_flight(wall),
        finished.duration_since(started),
        cpu,
    ))
}

fn report(settings: &Settings, r: &Results) {
    let ratio = r.engine / r.ceiling;
    let conversations = settings.conversations as f64;
    let cpu = |busy: Option<f64>| busy.map_or("unknown".to_owned(), |b| format!("{b:.0} %"));
    let binds = if ratio >= 0.9 {
        "the platform: the engine keeps up with the direct client".to_owned()
    } else if r.engine_cpu.is_some_and(|busy| busy >= 85.0) {
        let (part, rate) = if r.lookups < r.publishes {
            ("integration lookup in PostgreSQL", r.lookups)
        } else {
            ("acknowledged status publish", r.publishes)
        };
        format!(
            "CPU: all cores {} busy (engine, PostgreSQL and broker together) while only {:.0} of {} conversations wait on the platform; the costliest round trip besides the platform call is the {part} ({rate:.0}/s alone)",
            cpu(r.engine_cpu), r.engine_in_flight, settings.conversations
        )
    } else if r.engine_in_flight >= 0.8 * conversations.min(r.ceiling_in_flight.max(1.0)) {
        "the platform: the engine keeps as many calls in flight as the direct client".to_owned()
    } else {
        format!(
            "the engine's pipeline: {:.0} of {} conversations at the platform, cores {} busy",
            r.engine_in_flight,
            settings.conversations,
            cpu(r.engine_cpu)
        )
    };
    println!("## Outbound benchmark\n");
    println!("| measure | value |\n|---|---|");
    println!("| broker | {} |", r.broker);
    println!(
        "| sends | {} over {} conversations of one Messenger integration, after {} unmeasured ones through the engine (the broker's warm-up) |",
        settings.sends, settings.conversations, settings.warmup
    );
    println!(
        "| fake platform latency | {} ms |",
        settings.latency.as_millis()
    );
    println!("| engine settings | rate limit {UNBOUNDED_RATE}/s, burst {UNBOUNDED_RATE} (never binds); max in flight {} |", settings.max_in_flight);
    println!(
        "| direct HTTP client (ceiling) | {:.0} sends/s, cores {} busy |",
        r.ceiling,
        cpu(r.ceiling_cpu)
    );
    println!("| outbound engine (ours) | {:.0} sends/s ({:.1} s with consumer start-up and the warm-up), cores {} busy |", r.engine, r.engine_with_startup.as_secs_f64(), cpu(r.engine_cpu));
    println!("| **ours / ceiling** | **{ratio:.2}** (target ≥ 0.80) |");
    println!("| integration lookups alone | {:.0}/s |", r.lookups);
    println!(
        "| acknowledged status publishes alone | {:.0}/s |",
        r.publishes
    );
    println!(
        "| mean calls in flight at the platform (ours over its whole run, the warm-up included) | ceiling {:.1}, ours {:.1} |",
        r.ceiling_in_flight, r.engine_in_flight
    );
    println!("| binds | {binds} |");
}
