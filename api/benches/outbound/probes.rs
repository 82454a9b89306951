//! The outbound benchmark's ceilings, each measured alone with the engine's concurrency: the
//! direct HTTP client against the fake platform (the headline ceiling), and the two other
//! round trips every send makes, the integration lookup in PostgreSQL and the acknowledged
//! status publish, which tell which part binds when the engine falls short.

use super::fake_graph::{concurrently, FakeGraph};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::channels::platform_credentials::PlatformCredentials;
use switchboard_adapters::channels::sender::http_client;
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::kafka::{CloudEvent, EventProducer, OutgoingRecord, TopicSpec};
use switchboard_adapters::outbound::targets::{SendTargets, StoreSendTargets, TargetLookup};
use switchboard_api::app::App;
use switchboard_api::config::Config;
use switchboard_domain::IntegrationId;

/// The Send API body the Messenger sender posts for the `n`th text.
pub fn send_api_body(n: usize, conversations: usize) -> Value {
    json!({
        "recipient": {"id": format!("psid-{}", n % conversations.max(1))},
        "messaging_type": "RESPONSE",
        "message": {"text": format!("Your order #{n} has shipped and arrives Tuesday.")},
    })
}

/// `total` Send API calls with `concurrency` in flight through the senders' own pooled HTTP
/// client, each answer read as JSON like the sender does; calls/s and the mean calls in flight
/// at the fake.
pub async fn http_ceiling(
    fake: &FakeGraph,
    page: &str,
    token: &'static str,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, f64)> {
    fake.reset();
    let url = Arc::new(format!("{}/{page}/messages", fake.base));
    let http = http_client();
    let rate = concurrently(total, concurrency, move |n| {
        let (url, http) = (url.clone(), http.clone());
        async move {
            let body = send_api_body(n, concurrency);
            let response = http
                .post(url.as_str())
                .bearer_auth(token)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "fake answered {}",
                response.status()
            );
            let answer: Value = response.json().await?;
            anyhow::ensure!(answer["message_id"].is_string(), "no message id");
            Ok(())
        }
    })
    .await?;
    let wall = Duration::from_secs_f64(total as f64 / rate);
    Ok((rate, fake.mean_in_flight(wall)))
}

/// `total` lookups of the integration as the engine makes one before each send (PostgreSQL
/// read, secrets opened), `concurrency` at once, on a pool of the engine's size; lookups/s.
pub async fn lookups(
    app: &App,
    config: &Config,
    integration: IntegrationId,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let platform = match &config.platform_credentials {
        Some(text) => PlatformCredentials::parse(text.expose())?,
        None => PlatformCredentials::default(),
    };
    let targets = Arc::new(StoreSendTargets::new(
        app.state.integrations.clone(),
        platform,
        Arc::new(ChannelRegistry::builtin()),
    ));
    concurrently(total, concurrency, move |_| {
        let targets = targets.clone();
        async move {
            match targets.lookup(integration).await? {
                TargetLookup::Ready(_) => Ok(()),
                other => anyhow::bail!("integration not ready: {other:?}"),
            }
        }
    })
    .await
}

/// The topic of [`publishes`], made with the run's other topics.
pub fn probe_topic(config: &Config) -> TopicSpec {
    TopicSpec {
        name: format!("{}bench.probe", config.topic_prefix),
        partitions: config.topic_partitions,
    }
}

/// `total` status-sized records published and acknowledged one by one, `concurrency` at once,
/// with the engine's producer settings, to [`probe_topic`]; records/s.
pub async fn publishes(config: &Config, total: usize, concurrency: usize) -> anyhow::Result<f64> {
    let topic = probe_topic(config).name;
    let producer = EventProducer::new(&config.kafka())?;
    let body = Arc::new(serde_json::to_vec(&json!({
        "type": "MessageSent", "event_id": uuid::Uuid::new_v4(), "message_id": uuid::Uuid::new_v4(),
        "platform_message_id": "m_psid-1_1", "attempts": 1, "channel": "messenger",
        "conversation_key": "00000000-0000-0000-0000-000000000000:psid-1", "at": chrono::Utc::now(),
    }))?);
    concurrently(total, concurrency, move |n| {
        let (producer, topic, body) = (producer.clone(), topic.clone(), body.clone());
        async move {
            let key = format!("probe:psid-{}", n % concurrency.max(1));
            let record = OutgoingRecord {
                topic,
                key: key.clone(),
                event: CloudEvent {
                    id: uuid::Uuid::new_v4(),
                    event_type: "switchboard.message.MessageSent.v1".into(),
                    source: "switchboard/bench".into(),
                    subject: Some(key),
                    time: chrono::Utc::now(),
                    sequence: None,
                    actor: None,
                },
                body: body.to_vec(),
                traceparent: None,
            };
            producer.publish(&record).await?;
            Ok(())
        }
    })
    .await
}

/// The machine's CPU time so far (busy, total) in clock ticks, where the kernel tells it.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// How busy all cores were between `start` and now, in percent, where the kernel tells it.
pub struct CpuMeter(Option<(u64, u64)>);

impl CpuMeter {
    /// Starts measuring.
    pub fn start() -> Self {
        Self(cpu_ticks())
    }

    /// Percent of all cores busy since the start.
    pub fn busy_percent(&self) -> Option<f64> {
        let ((busy0, total0), (busy1, total1)) = (self.0?, cpu_ticks()?);
        let total = total1.checked_sub(total0).filter(|t| *t > 0)?;
        Some(100.0 * busy1.saturating_sub(busy0) as f64 / total as f64)
    }
}
