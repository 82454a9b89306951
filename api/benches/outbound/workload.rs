//! The outbound benchmark's workload: its database, topics and configuration, the connected
//! Messenger integration (made through the HTTP API, as a workspace would) and the commands.

use super::{probes, Settings, PAGE_ID, PAGE_TOKEN, UNBOUNDED_RATE};
use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
use std::time::Instant;
use switchboard_adapters::kafka::{CloudEvent, EventProducer, OutgoingRecord};
use switchboard_api::app::App;
use switchboard_api::config::Config;
use switchboard_api::routes::router;
use switchboard_domain::message::{conversation_key, OutboundContent, SendMessage};
use switchboard_domain::{ChannelKind, IntegrationId, SecretString};
use tower::ServiceExt;

/// The channel of every command.
pub fn messenger() -> ChannelKind {
    ChannelKind::parse("messenger").expect("a valid channel name")
}

/// The `n`th command: conversations in turn, so every conversation always has work waiting.
pub fn command(integration: IntegrationId, n: usize, conversations: usize) -> SendMessage {
    let body = probes::send_api_body(n, conversations);
    let recipient = body["recipient"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    SendMessage {
        message_id: uuid::Uuid::new_v4(),
        integration_id: integration,
        workspace_id: "bench".parse().expect("a valid workspace"),
        channel: messenger(),
        conversation_key: conversation_key(integration, &recipient),
        recipient,
        content: OutboundContent::text(body["message"]["text"].as_str().unwrap_or_default()),
        idempotency_key: None,
        requested_at: chrono::Utc::now(),
    }
}

/// A fresh database and topic prefix, the fake as Messenger's API, an unbinding rate limit.
pub async fn config(
    settings: &Settings,
    fake_base: &str,
) -> anyhow::Result<(Config, sqlx::PgPool, String)> {
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("sb_bench_outbound_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .context("PostgreSQL")?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&admin)
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.clone(), |(b, _)| b.to_owned());
    let defaults = Config::default();
    let config = Config {
        database_url: format!("{base}/{name}"),
        kafka_brokers: std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        topic_prefix: format!("bench{}.", uuid::Uuid::new_v4().simple()),
        // The mock cluster keeps 5 MB a partition: spread the commands so that none is dropped.
        topic_partitions: if crate::broker::is_mock() {
            crate::broker::MOCK_PARTITIONS
        } else {
            defaults.topic_partitions
        },
        kafka_delivery_timeout_ms: 60_000,
        secret_keys: Some(SecretString::new(
            switchboard_adapters::store::XChaChaSealer::generate_entry("bench"),
        )),
        platform_credentials: Some(SecretString::new(format!(
            "messenger.app_id=104000000000000;messenger.app_secret=bench-app-secret;messenger.verify_token=bench-verify;messenger.api_base={fake_base}"
        ))),
        outbox_relay: false,
        projections: false,
        outbound_rate_per_second: UNBOUNDED_RATE,
        outbound_rate_burst: UNBOUNDED_RATE,
        outbound_max_in_flight: settings.max_in_flight,
        // The fake Graph API listens on loopback.
        egress_allow: Some("127.0.0.0/8".into()),
        ..defaults
    };
    Ok((config, admin, name))
}

/// Creates and connects the Messenger integration through the HTTP API, as a workspace would.
pub async fn connect_integration(app: &App, config: &Config) -> anyhow::Result<IntegrationId> {
    let api = router(
        app.state.clone(),
        switchboard_api::routes::limits::RequestLimits::from_config(config),
    );
    // The configured Meta app, verified as `serve` verifies it at start (Graph is the fake).
    let messenger = switchboard_domain::ChannelKind::parse("messenger").context("channel name")?;
    switchboard_api::platform_checks::verify_channel(&app.state, &messenger)
        .await
        .map_err(|problem| anyhow::anyhow!("verifying the Meta app: {}", problem.detail))?;
    let api = crate::workspace_key::with_workspace_key(api, &app.state, "bench").await?;
    let call = |uri: String, body: Value| {
        let api = api.clone();
        async move {
            let request = Request::post(uri)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))?;
            let response = api.oneshot(request).await?;
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
            anyhow::ensure!(
                status.is_success(),
                "{status}: {}",
                String::from_utf8_lossy(&bytes)
            );
            Ok::<Value, anyhow::Error>(serde_json::from_slice(&bytes)?)
        }
    };
    let auth = json!({"page_id": PAGE_ID, "page_access_token": PAGE_TOKEN});
    let created = call(
        "/v1/workspaces/bench/integrations".into(),
        json!({"channel": "messenger", "name": "Bench", "auth": auth}),
    )
    .await?;
    let id = created["id"]
        .as_str()
        .context("no integration id")?
        .to_owned();
    call(
        format!("/v1/workspaces/bench/integrations/{id}/connect"),
        json!({}),
    )
    .await?;
    Ok(id.parse()?)
}

/// Puts the whole workload on `messages.outbound` before the engine starts.
pub async fn produce(
    config: &Config,
    integration: IntegrationId,
    settings: &Settings,
) -> anyhow::Result<()> {
    // Commands arrive one HTTP request at a time, so the broker holds them in small batches;
    // a bulk load in 1 MB batches would hand the engine a whole partition's backlog (a few
    // conversations) per fetch, which no deployment sees.
    let mut kafka = config.kafka();
    kafka
        .extra
        .insert("batch.num.messages".into(), SecretString::new("20"));
    let producer = EventProducer::new(&kafka)?;
    let topic = config.topics().outbound;
    let started = Instant::now();
    let commands: Vec<usize> = (0..settings.warmup + settings.sends).collect();
    for chunk in commands.chunks(10_000) {
        let records = chunk
            .iter()
            .map(|&n| {
                let command = command(integration, n, settings.conversations);
                Ok(OutgoingRecord {
                    topic: topic.clone(),
                    key: command.conversation_key.clone(),
                    event: CloudEvent {
                        id: command.message_id,
                        event_type: "switchboard.message.SendMessage.v1".into(),
                        source: "switchboard/bench".into(),
                        subject: Some(command.conversation_key.clone()),
                        time: command.requested_at,
                        sequence: None,
                        actor: None,
                    },
                    body: serde_json::to_vec(&command)?,
                    traceparent: None,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for outcome in producer.publish_all(&records).await {
            outcome.context("producing the workload")?;
        }
    }
    eprintln!(
        "produced {} commands in {:.1}s",
        settings.warmup + settings.sends,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
