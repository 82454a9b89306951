//! Fault tests against real processes: an Apache Kafka node, the `switchboard` binary and, for
//! database faults, a PostgreSQL server of the test's own. Each kills or stops one of them under
//! load and checks that nothing answered 200 was lost and that the service recovers by itself.
//! They run one at a time (see [`crate::processes::exclusive`]) and each is bounded in time.

mod adapters_crash;
mod broker_restart;
mod graceful_stop;
mod postgres_restart;
mod projector_crash;
mod replicas;
mod serve_crash;

use crate::helpers::{fresh_database, read_topic, topic_len};
use crate::processes::{free_port, switchboard, wait_for_port, KafkaNode, Running};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs::File;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The telegram secret the fault tests' integration checks webhooks with.
const WEBHOOK_SECRET: &str = "fault-secret";

/// A `switchboard serve` process on its own database and the given broker.
pub struct Service {
    pub env: Vec<(&'static str, String)>,
    pub base: String,
    pub port: u16,
    pub process: Option<Running>,
    pub log: PathBuf,
    pub client: reqwest::Client,
}

impl Service {
    /// Waits until `serve` has verified `channel`'s configured platform credentials, as
    /// `GET /v1/channels` reports.
    pub async fn await_available(&self, channel: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let channels: serde_json::Value = self
                .client
                .get(format!("{}/v1/channels", self.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let available = channels["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["kind"] == channel && c["available"] == true);
            if available {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{channel} never became available: {channels}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ensures the topics on `broker`, then starts `serve` with `extra` settings.
    pub async fn start(broker: &KafkaNode, extra: &[(&'static str, &str)]) -> Self {
        let port = free_port();
        let mut env = vec![
            ("DATABASE_URL", fresh_database().await),
            ("KAFKA_BROKERS", broker.brokers()),
            ("SWITCHBOARD_HTTP_ADDR", format!("127.0.0.1:{port}")),
            ("SWITCHBOARD_TOPIC_PARTITIONS", "3".to_owned()),
            (
                "SWITCHBOARD_SECRET_KEYS",
                switchboard_adapters::store::XChaChaSealer::generate_entry("faults"),
            ),
            ("RUST_LOG", "warn".to_owned()),
        ];
        env.extend(crate::helpers::process_env());
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let ensured = switchboard(&env)
            .args(["topics", "ensure"])
            .output()
            .unwrap();
        assert!(ensured.status.success(), "{ensured:?}");
        Self::launched(env, port)
    }

    /// Another `serve` process on the same database, broker and keys, on a port of its own.
    pub fn replica(&self) -> Self {
        let port = free_port();
        let mut env = self.env.clone();
        for (key, value) in env.iter_mut() {
            if *key == "SWITCHBOARD_HTTP_ADDR" {
                *value = format!("127.0.0.1:{port}");
            }
        }
        Self::launched(env, port)
    }

    fn launched(env: Vec<(&'static str, String)>, port: u16) -> Self {
        let log = std::env::temp_dir().join(format!("sb-serve-{port}.log"));
        let mut service = Self {
            env,
            base: format!("http://127.0.0.1:{port}"),
            port,
            process: None,
            log,
            client: crate::helpers::client_for("acme")
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
        };
        service.launch();
        service
    }

    /// Starts (or starts again) the `serve` process.
    pub fn launch(&mut self) {
        let log = File::create(&self.log).unwrap();
        let child = switchboard(&self.env)
            .arg("serve")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.process = Some(Running(child));
        wait_for_port(self.port, Duration::from_secs(60));
    }

    /// The service's own log so far, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Where the `command` process called `name` of this service logs.
    fn background_log(&self, command: &str, name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("sb-{command}-{}-{name}.log", self.port))
    }

    /// The log so far of the adapters process called `name`, for failure messages.
    pub fn adapters_log_tail(&self, name: &str) -> String {
        tail(&self.background_log("adapters", name))
    }

    /// Creates a telegram integration; returns its id. It is not connected: connecting asks
    /// Telegram, which these processes cannot reach (its API base is no platform setting they
    /// can be given), and a created integration accepts its webhooks already.
    pub async fn telegram_integration(&self) -> String {
        let created = self
            .client
            .post(format!("{}/v1/workspaces/acme/integrations", self.base))
            .json(&json!({"channel": "telegram", "name": "Faults",
                "auth": {"bot_token": "1:fault", "webhook_secret": WEBHOOK_SECRET}}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates and connects a Messenger integration (its platform calls go to the fake Graph
    /// API named in the platform credentials); returns its id.
    pub async fn messenger_integration(&self) -> String {
        let created = self
            .client
            .post(format!("{}/v1/workspaces/acme/integrations", self.base))
            .json(&json!({"channel": "messenger", "name": "Page",
                "auth": {"page_id": "1122334455", "page_access_token": "page-token"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let integration: String = created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .into();
        let connected = self
            .client
            .post(format!(
                "{}/v1/workspaces/acme/integrations/{integration}/connect",
                self.base
            ))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(connected.status(), 200);
        integration
    }

    /// Starts a `switchboard adapters` process called `name` with this service's settings.
    pub fn adapters(&self, name: &str) -> Running {
        self.background("adapters", name)
    }

    /// Starts a `switchboard analytics` process called `name` with this service's settings.
    pub fn analytics(&self, name: &str) -> Running {
        self.background("analytics", name)
    }

    /// Starts `switchboard <command>`, logging to a file of `name`'s, with a probe listener of
    /// its own (two on the default address: the second would exit); returns once that listens.
    fn background(&self, command: &str, name: &str) -> Running {
        let log = File::create(self.background_log(command, name)).unwrap();
        let probes = free_port();
        let running = Running(
            switchboard(&self.env)
                .arg(command)
                .env("SWITCHBOARD_METRICS_ADDR", format!("127.0.0.1:{probes}"))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for_port(probes, Duration::from_secs(60));
        running
    }

    /// `GET /readyz`'s status, or 0 when nothing answered.
    pub async fn readiness(&self) -> u16 {
        match self
            .client
            .get(format!("{}/readyz", self.base))
            .send()
            .await
        {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }
}

/// The last lines of the log at `path`.
fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Drop for Service {
    fn drop(&mut self) {
        self.process.take();
        let _ = std::fs::remove_file(&self.log);
        for command in ["adapters", "analytics"] {
            for name in ["first", "second"] {
                let _ = std::fs::remove_file(self.background_log(command, name));
            }
        }
    }
}

/// What a webhook load saw: each update's answer, in the order answers arrived.
#[derive(Default)]
pub struct LoadOutcome {
    /// (update id, HTTP status or 0 for a transport error, when it was answered).
    pub answers: Vec<(u64, u16, Instant)>,
}

impl LoadOutcome {
    /// The updates answered 200.
    pub fn acknowledged(&self) -> BTreeSet<u64> {
        self.answers
            .iter()
            .filter(|(_, status, _)| *status == 200)
            .map(|(id, _, _)| *id)
            .collect()
    }

    /// How many answers had `status`.
    pub fn count(&self, status: u16) -> usize {
        self.answers.iter().filter(|(_, s, _)| *s == status).count()
    }

    /// The first 200 answered after `after`.
    pub fn first_200_after(&self, after: Instant) -> Option<Instant> {
        self.answers
            .iter()
            .filter(|(_, status, at)| *status == 200 && *at > after)
            .map(|(_, _, at)| *at)
            .min()
    }
}

/// Telegram webhooks sent by `concurrency` tasks, each update with a fresh id and text, until
/// stopped or `limit` requests were sent.
pub struct WebhookLoad {
    stop: Arc<AtomicBool>,
    outcome: Arc<Mutex<LoadOutcome>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl WebhookLoad {
    pub fn start(base: &str, integration: &str, concurrency: usize, limit: u64) -> Self {
        Self::numbered_from(base, integration, concurrency, 1, limit)
    }

    /// [`WebhookLoad::start`] with update ids from `first` on (loads on several replicas keep
    /// their updates apart).
    pub fn numbered_from(
        base: &str,
        integration: &str,
        concurrency: usize,
        first: u64,
        limit: u64,
    ) -> Self {
        let last = first + limit - 1;
        let stop = Arc::new(AtomicBool::new(false));
        let outcome = Arc::new(Mutex::new(LoadOutcome::default()));
        let next = Arc::new(AtomicU64::new(first));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let url = format!("{base}/webhooks/telegram/{integration}");
        let tasks = (0..concurrency)
            .map(|task| {
                let (stop, outcome, next) = (stop.clone(), outcome.clone(), next.clone());
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let update = next.fetch_add(1, Ordering::Relaxed);
                        if update > last {
                            break;
                        }
                        let chat = 5000 + task as u64;
                        let body = json!({"update_id": update, "message": {"message_id": update,
                            "date": 1_700_000_000, "from": {"id": chat, "is_bot": false, "first_name": "Load"},
                            "chat": {"id": chat, "type": "private"}, "text": format!("load {update}")}});
                        let answer = client
                            .post(&url)
                            .header("x-telegram-bot-api-secret-token", WEBHOOK_SECRET)
                            .json(&body)
                            .send()
                            .await;
                        let status = answer.map(|r| r.status().as_u16()).unwrap_or(0);
                        if status == 0 {
                            // The server is gone or restarting: do not spin.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        outcome
                            .lock()
                            .unwrap()
                            .answers
                            .push((update, status, Instant::now()));
                    }
                })
            })
            .collect();
        Self {
            stop,
            outcome,
            tasks,
        }
    }

    /// How many 200s were answered so far.
    pub fn acknowledged_so_far(&self) -> usize {
        self.outcome.lock().unwrap().count(200)
    }

    /// Answers seen so far with `status`.
    pub fn count_so_far(&self, status: u16) -> usize {
        self.outcome.lock().unwrap().count(status)
    }

    /// Stops the load and returns what it saw.
    pub async fn finish(self) -> LoadOutcome {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.outcome.lock().unwrap())
    }
}

/// Waits until `condition` holds, checking every 50 ms, for at most `within`.
pub async fn eventually(within: Duration, what: &str, condition: impl FnMut() -> bool) {
    eventually_explained(within, what, condition, String::new).await
}

/// [`eventually`], failing with what `explain` tells of the state then.
pub async fn eventually_explained(
    within: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
    explain: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + within;
    while !condition() {
        if Instant::now() >= deadline {
            panic!("{what} within {within:?}\n{}", explain());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The update ids (from the texts `load <n>`) of every record on `messages.received`.
pub async fn updates_on_topic(brokers: &str) -> Vec<u64> {
    let held = topic_len(brokers, "messages.received");
    read_topic(brokers, "messages.received", held, Duration::from_secs(60))
        .await
        .iter()
        .filter_map(|record| {
            let body: Value = serde_json::from_slice(&record.payload).ok()?;
            body["content"]["text"]
                .as_str()?
                .strip_prefix("load ")?
                .parse()
                .ok()
        })
        .collect()
}

/// Asserts every acknowledged update is on the topic; returns (on the topic, duplicates).
pub async fn assert_none_lost(brokers: &str, outcome: &LoadOutcome) -> (usize, usize) {
    let acknowledged = outcome.acknowledged();
    let on_topic = updates_on_topic(brokers).await;
    let distinct: BTreeSet<u64> = on_topic.iter().copied().collect();
    let lost: Vec<_> = acknowledged.difference(&distinct).take(10).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged webhooks are not on messages.received, e.g. {lost:?}",
        acknowledged.difference(&distinct).count(),
        acknowledged.len()
    );
    (on_topic.len(), on_topic.len() - distinct.len())
}

/// Publishes `count` Messenger send commands of `integration` to `messages.outbound`, to
/// `recipients` recipients in turn (`psid-<n>`), each with the text `send <n>`.
pub async fn publish_sends(brokers: &str, integration: &str, count: usize, recipients: usize) {
    use switchboard_adapters::kafka::{EventProducer, KafkaSettings, OutgoingRecord};
    use switchboard_adapters::outbound::commands::command_record;
    use switchboard_domain::message::{conversation_key, OutboundContent, SendMessage};
    let producer = EventProducer::new(&KafkaSettings::new(brokers)).unwrap();
    let integration_id = integration.parse().unwrap();
    let commands: Vec<OutgoingRecord> = (0..count)
        .map(|n| {
            let recipient = format!("psid-{}", n % recipients);
            let command = SendMessage {
                message_id: uuid::Uuid::new_v4(),
                integration_id,
                workspace_id: "acme".parse().unwrap(),
                channel: switchboard_domain::ChannelKind::parse("messenger").unwrap(),
                conversation_key: conversation_key(integration_id, &recipient),
                recipient,
                content: OutboundContent::text(format!("send {n}")),
                idempotency_key: None,
                requested_at: chrono::Utc::now(),
            };
            command_record(&command, "messages.outbound", None)
        })
        .collect();
    for outcome in producer.publish_all(&commands).await {
        outcome.expect("command published");
    }
}

/// The message ids with a `MessageSent` on `messages.status`, once `expected` of them are there
/// (or after a minute, whatever is there).
pub async fn sent_message_ids(brokers: &str, expected: usize) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held = topic_len(brokers, "messages.status");
        let records = read_topic(brokers, "messages.status", held, Duration::from_secs(30)).await;
        let ids: BTreeSet<String> = records
            .iter()
            .filter(|r| {
                r.header("ce_type").as_deref() == Some("switchboard.message.MessageSent.v1")
            })
            .filter_map(|r| serde_json::from_slice::<Value>(&r.payload).ok())
            .filter_map(|body| body["message_id"].as_str().map(str::to_owned))
            .collect();
        if ids.len() >= expected || Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A fake Graph API answering each of `recipients` recipients (`psid-<n>`) after `delay`, and
/// the platform credentials that point Messenger at it.
pub async fn slow_graph(
    recipients: usize,
    delay: Duration,
) -> (crate::outbound::fake_graph::Fake, String) {
    let (fake, base) = crate::outbound::fake_graph::fake_graph().await;
    for recipient in 0..recipients {
        let mut graph = fake.lock().unwrap();
        graph.slow.insert(format!("psid-{recipient}"), delay);
    }
    let credentials = format!(
        "messenger.app_id=1;messenger.app_secret=a;messenger.verify_token=v;messenger.api_base={base}"
    );
    (fake, credentials)
}

/// Settings for a service that sends with `credentials`, unthrottled.
pub fn sending_settings(credentials: &str) -> [(&'static str, &str); 3] {
    [
        ("SWITCHBOARD_PLATFORM_CREDENTIALS", credentials),
        ("SWITCHBOARD_OUTBOUND_RATE_PER_SECOND", "100000"),
        ("SWITCHBOARD_OUTBOUND_RATE_BURST", "100000"),
    ]
}
