//! # Projection benchmark
//!
//! **What it measures.** The inbox projection's rebuild rate (`switchboard replay inbox`'s own
//! code) over `SWITCHBOARD_BENCH_EVENTS` (default 1,000,000) `MessageReceived` events spread
//! over 10,000 conversations (a realistic mix: text mostly, some media, a reply every fifth
//! message), next to the ceiling that binds it, measured in the same run on the same broker: a
//! raw rdkafka consumer reading the same topic as fast as it can (tuned fetch settings, no
//! processing). Then the p50/p99 latency of the inbox API's queries (first page of the
//! conversation list, a page five cursors deep, a message page of a random conversation),
//! through the real router, at 10,000 messages and again at the full count: keyset pagination
//! should keep them flat.
//!
//! **How to run it.** `bash deploy/bench.sh projections` (PostgreSQL, a throwaway broker, then
//! this with `KAFKA_BROKERS` and `DATABASE_URL` set). Without `--bench` (as `cargo test` runs
//! it) it only checks that its events serialise as the projection reads them.

#[path = "common/broker.rs"]
mod broker;
#[path = "projections/pg_ceiling.rs"]
mod pg_ceiling;
#[path = "common/workspace_key.rs"]
mod workspace_key;

use anyhow::Context;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use serde_json::Value;
use std::time::{Duration, Instant};
use switchboard_adapters::inbound::InboundPublisher;
use switchboard_adapters::kafka::{EventProducer, KafkaSettings, Topics};
use switchboard_api::app::App;
use switchboard_api::config::Config;
use switchboard_api::routes::router;
use switchboard_domain::message::{
    Attachment, AttachmentKind, Contact, InboundDraft, InboundEvent, InboundKind, MessageContent,
};
use switchboard_domain::{ChannelKind, IntegrationId, SecretString};
use switchboard_projections::engine::{
    replay, ProjectorSettings, ReplayProgress, CATCH_UP_PARTITION_FETCH_BYTES,
};
use switchboard_projections::inbox::InboxProjection;
use tower::ServiceExt;

/// The allocator the `switchboard` binary runs with (see `api/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONVERSATIONS: usize = 10_000;
const SMALL: usize = 10_000;
const QUERY_SAMPLES: usize = 1_000;

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        let event = event(IntegrationId::new(), 7);
        let json = serde_json::to_vec(&event)?;
        let back: InboundEvent = serde_json::from_slice(&json)?;
        anyhow::ensure!(back == event, "events must round-trip");
        return Ok(());
    }
    let mock = broker::chosen()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(mock.as_ref()))
}

/// The `n`th event of the workload.
fn event(integration: IntegrationId, n: usize) -> InboundEvent {
    let conversation = (n * 7_919) % CONVERSATIONS;
    let content = match n % 10 {
        0 => MessageContent::Media {
            attachments: vec![Attachment {
                kind: AttachmentKind::Image,
                url: Some(format!("https://cdn.example.com/{n}.jpg")),
                mime_type: Some("image/jpeg".into()),
                media_id: None,
            }],
            caption: None,
        },
        _ => MessageContent::Text {
            text: format!("message {n}: is my order on its way? it was due on Tuesday"),
        },
    };
    let draft = InboundDraft {
        contact: Contact {
            platform_id: format!("psid-{conversation}"),
            display_name: Some(format!("Customer {conversation}")),
            thread_id: None,
        },
        platform_timestamp: chrono::DateTime::from_timestamp_millis(
            1_700_000_000_000 + n as i64 * 250,
        )
        .unwrap_or_default(),
        kind: InboundKind::MessageReceived {
            platform_message_id: format!("m_{n}"),
            content,
            reply_to: None,
            is_echo: n % 5 == 4,
        },
        raw: serde_json::json!({"mid": format!("m_{n}")}),
    };
    InboundEvent::from_draft(
        integration,
        "bench".parse().expect("workspace"),
        ChannelKind::parse("messenger").expect("channel"),
        draft,
    )
}

async fn run(mock: Option<&broker::Mock>) -> anyhow::Result<()> {
    let (config, admin, database) = config(mock.is_some()).await?;
    let outcome = measure(mock, &config).await;
    // The run's database goes whatever happened; its topics stay under their unique prefix.
    let drop = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
    if let Err(error) = sqlx::query(&drop).execute(&admin).await {
        eprintln!("could not drop {database}: {error}");
    }
    outcome
}

/// Loads the workload, rebuilds, queries and reports.
async fn measure(mock: Option<&broker::Mock>, config: &Config) -> anyhow::Result<()> {
    let total: usize = std::env::var("SWITCHBOARD_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let topics = config.topics();
    broker::create_topics(
        mock,
        &config.kafka(),
        &topics.specs(config.topic_partitions),
    )
    .await?;
    let broker_label = broker::describe(mock);
    eprintln!("broker: {broker_label}");
    let app = App::build(config).await?;
    let pool = app.state.pool.clone();
    let api = router(
        app.state.clone(),
        switchboard_api::routes::limits::RequestLimits::from_config(config),
    );
    let api = workspace_key::with_workspace_key(api, &app.state, "bench").await?;
    let integration = IntegrationId::new();

    produce(config, integration, 0..SMALL).await?;
    let small_rebuild = rebuild(config, &pool, &topics).await?.per_second;
    let small = queries(&api, &pool).await?;
    eprintln!("loading {} more events", total - SMALL);
    produce(config, integration, SMALL..total).await?;
    check_nothing_dropped(
        &config.kafka(),
        &topics.received,
        config.topic_partitions,
        total,
    )?;
    let raw = raw_consume(
        &config.kafka(),
        &topics.received,
        config.topic_partitions,
        total,
    )
    .await?;
    let full = rebuild(config, &pool, &topics).await?;
    let large = queries(&api, &pool).await?;
    let postgres = pg_ceiling::rate(&pool, integration, total, replay_settings().lanes).await?;
    report(
        total,
        &format!("{broker_label}, {} partitions", config.topic_partitions),
        Rates {
            raw,
            postgres,
            small_rebuild,
            full,
        },
        &small,
        &large,
    );
    Ok(())
}

/// The run's configuration, the admin connection and the name of the database it created.
async fn config(mock: bool) -> anyhow::Result<(Config, sqlx::PgPool, String)> {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("sb_bench_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&admin).await.context("PostgreSQL")?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&pool)
        .await?;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin.clone());
    let config = Config {
        database_url: format!("{base}/{name}"),
        kafka_brokers: std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        topic_prefix: format!("bench{}.", uuid::Uuid::new_v4().simple()),
        // On the mock cluster the workload (about 170 MB as lz4 batches) is spread so that no
        // partition exceeds its 5 MB; `check_nothing_dropped` verifies it.
        topic_partitions: std::env::var("SWITCHBOARD_BENCH_PARTITIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if mock { broker::MOCK_PARTITIONS } else { 6 }),
        kafka_properties: mock.then(|| SecretString::new("compression.type=lz4")),
        kafka_delivery_timeout_ms: 60_000,
        secret_keys: Some(SecretString::new(
            switchboard_adapters::store::XChaChaSealer::generate_entry("bench"),
        )),
        outbox_relay: false,
        projections: false,
        // The query samples come from one key, far faster than a caller's default rate.
        rate_limit_per_second: u32::MAX,
        rate_limit_burst: u32::MAX,
        ..Config::default()
    };
    Ok((config, pool, name))
}

async fn produce(
    config: &Config,
    integration: IntegrationId,
    range: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let producer = EventProducer::new(&config.kafka())?;
    let publisher =
        InboundPublisher::new(producer, config.topics().received, Duration::from_secs(120));
    let started = Instant::now();
    let count = range.len();
    let events: Vec<usize> = range.collect();
    for chunk in events.chunks(20_000) {
        let batch: Vec<InboundEvent> = chunk.iter().map(|&n| event(integration, n)).collect();
        publisher
            .publish(&batch, None)
            .await
            .context("producing the workload")?;
    }
    eprintln!(
        "produced {count} events in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Fails unless every partition of `topic` still starts at offset 0 and they hold `total`
/// records between them: a broker that dropped old batches would make both rates meaningless.
fn check_nothing_dropped(
    kafka: &KafkaSettings,
    topic: &str,
    partitions: i32,
    total: usize,
) -> anyhow::Result<()> {
    let consumer: rdkafka::consumer::BaseConsumer = kafka.client_config().create()?;
    let mut held = 0;
    for partition in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        anyhow::ensure!(
            low == 0,
            "the broker dropped the first {low} records of partition {partition}: raise the partitions"
        );
        held += high as usize;
    }
    anyhow::ensure!(held == total, "the topic holds {held} records, not {total}");
    Ok(())
}

/// Reads `total` records from the start of `topic` without processing them; records/s.
async fn raw_consume(
    kafka: &KafkaSettings,
    topic: &str,
    partitions: i32,
    total: usize,
) -> anyhow::Result<f64> {
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", format!("bench-raw-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        // Tuned as the rebuild's consumer is: large fetches.
        .set("max.partition.fetch.bytes", CATCH_UP_PARTITION_FETCH_BYTES)
        .create()?;
    // Assigned like the rebuild's consumer, every partition from its beginning: no group join.
    let mut assignment = rdkafka::TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, rdkafka::Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let first = consumer.recv().await?;
    drop(first);
    let started = Instant::now();
    let mut seen = 1;
    while seen < total {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .with_context(|| format!("raw consumer stalled after {seen} of {total} records"))??;
        drop(message);
        seen += 1;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// The replay command's settings, with `SWITCHBOARD_BENCH_LANES` and `SWITCHBOARD_BENCH_BATCH`
/// overriding its lanes and batch size.
fn replay_settings() -> ProjectorSettings {
    let defaults = ProjectorSettings::for_replay();
    let read = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    ProjectorSettings {
        lanes: read("SWITCHBOARD_BENCH_LANES", defaults.lanes),
        max_batch: read("SWITCHBOARD_BENCH_BATCH", defaults.max_batch),
        ..defaults
    }
}

/// Rebuilds the inbox from offset 0 with the replay command's settings.
async fn rebuild(
    config: &Config,
    pool: &sqlx::PgPool,
    topics: &Topics,
) -> anyhow::Result<ReplayProgress> {
    let settings = replay_settings();
    let done = replay(
        pool,
        &InboxProjection,
        &config.kafka(),
        topics,
        &settings,
        |p| {
            eprintln!(
                "rebuild: {} applied, {:.0}/s, lag {}",
                p.applied, p.per_second, p.lag
            )
        },
    )
    .await?;
    Ok(done)
}

/// p50 and p99 (ms) of each query.
struct Latencies {
    first_page: (f64, f64),
    deep_page: (f64, f64),
    messages: (f64, f64),
    latest_message: (f64, f64),
}

async fn get(api: &axum::Router, uri: &str) -> anyhow::Result<(f64, Value)> {
    let started = Instant::now();
    let response = api
        .clone()
        .oneshot(Request::get(uri).body(Body::empty())?)
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::OK,
        "{uri}: {}",
        response.status()
    );
    let body = response.into_body().collect().await?.to_bytes();
    Ok((
        started.elapsed().as_secs_f64() * 1e3,
        serde_json::from_slice(&body)?,
    ))
}

/// Query latencies on a settled database: a checkpoint first, so the writes of the rebuild
/// just finished are not flushed in the middle of the samples.
async fn queries(api: &axum::Router, pool: &sqlx::PgPool) -> anyhow::Result<Latencies> {
    sqlx::query("CHECKPOINT").execute(pool).await?;
    let (mut first, mut deep) = (Vec::new(), Vec::new());
    let (mut messages, mut latest) = (Vec::new(), Vec::new());
    let (_, page) = get(api, "/v1/workspaces/bench/conversations?limit=50").await?;
    let ids: Vec<String> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    let mut cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    for _ in 0..3 {
        let (_, next) = get(
            api,
            &format!("/v1/workspaces/bench/conversations?limit=50&cursor={cursor}"),
        )
        .await?;
        cursor = next["next_cursor"].as_str().unwrap_or_default().to_owned();
    }
    for i in 0..QUERY_SAMPLES {
        first.push(
            get(api, "/v1/workspaces/bench/conversations?limit=50")
                .await?
                .0,
        );
        deep.push(
            get(
                api,
                &format!("/v1/workspaces/bench/conversations?limit=50&cursor={cursor}"),
            )
            .await?
            .0,
        );
        let id = &ids[i % ids.len().max(1)];
        messages.push(
            get(
                api,
                &format!("/v1/workspaces/bench/conversations/{id}/messages?limit=50"),
            )
            .await?
            .0,
        );
        latest.push(
            get(
                api,
                &format!("/v1/workspaces/bench/conversations/{id}/messages?limit=1"),
            )
            .await?
            .0,
        );
    }
    Ok(Latencies {
        first_page: percentiles(first),
        deep_page: percentiles(deep),
        messages: percentiles(messages),
        latest_message: percentiles(latest),
    })
}

fn percentiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

/// The rates one run measured, events/s.
struct Rates {
    raw: f64,
    postgres: f64,
    small_rebuild: f64,
    full: ReplayProgress,
}

fn report(total: usize, broker: &str, rates: Rates, small: &Latencies, large: &Latencies) {
    let Rates {
        raw,
        postgres,
        small_rebuild,
        full: progress,
    } = rates;
    let full = progress.per_second;
    let binding = if postgres < raw {
        "PostgreSQL"
    } else {
        "the broker"
    };
    println!("## Projection benchmark\n");
    println!("| measure | value |\n|---|---|");
    println!("| events | {total} over {CONVERSATIONS} conversations |");
    println!("| broker | {broker} |");
    println!("| raw consumer (broker ceiling) | {raw:.0} events/s |");
    println!(
        "| bare inserts of the same message rows (PostgreSQL ceiling) | {postgres:.0} rows/s |"
    );
    println!("| inbox rebuild, {total} events | {full:.0} events/s |");
    println!("| **rebuild / raw consumer** | **{:.2}** |", full / raw);
    println!(
        "| **rebuild / PostgreSQL ceiling** | **{:.2}** |",
        full / postgres
    );
    println!("| ceiling that binds | {binding} |");
    if let Some(phases) = progress.phases {
        println!(
            "| catch-up alone (before the read indexes, vacuum and hand-over) / PostgreSQL ceiling | {:.2} |",
            phases.catch_up_per_second() / postgres
        );
        println!("| where the rebuild's time went | {phases} |");
    }
    println!("| inbox rebuild, first {SMALL} events | {small_rebuild:.0} events/s |\n");
    println!("| query | p50 at {SMALL} (ms) | p99 at {SMALL} (ms) | p50 at {total} (ms) | p99 at {total} (ms) | p99 ratio |");
    println!("|---|---|---|---|---|---|");
    for (name, a, b) in [
        (
            "conversations, first page",
            small.first_page,
            large.first_page,
        ),
        (
            "conversations, 5th page (cursor)",
            small.deep_page,
            large.deep_page,
        ),
        (
            "messages of a conversation, page of 50 (one message per conversation at the small size)",
            small.messages,
            large.messages,
        ),
        (
            "messages of a conversation, page of 1",
            small.latest_message,
            large.latest_message,
        ),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            a.0,
            a.1,
            b.0,
            b.1,
            b.1 / a.1
        );
    }
}
