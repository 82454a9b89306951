//! Every long-running process is observable: `adapters` and `analytics` answer `/healthz`,
//! `/readyz` and `/metrics` on their own listener, `serve` on its API listener; each one's
//! `/metrics` carries the consumer lag of its groups once it consumed something, the adapters'
//! the depth of the dead-letter topic they wrote, and `serve`'s the outbox backlog, whose age
//! rises while the relay cannot publish and falls to 0 once it has.

use crate::helpers::{process_env, TestApp, TestKafka};
use crate::processes::{exclusive, free_port, switchboard, tail, wait_for_port, Running};
use serde_json::Value;
use sqlx::Connection;
use std::fs::File;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use switchboard_adapters::kafka::{EventProducer, KafkaSettings, RawRecord};

/// How long a process may take to start, consume and be sampled (2 busy cores).
const WITHIN: Duration = Duration::from_secs(60);

/// A `switchboard` process and the address of its probes.
struct Observed {
    process: Running,
    base: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl Observed {
    /// Starts `switchboard <args>` on `app`'s database and topics; the probes are on
    /// `SWITCHBOARD_METRICS_ADDR` (or, for `serve`, `SWITCHBOARD_HTTP_ADDR`).
    fn start(app: &TestApp, args: &[&str]) -> Self {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut env = process_env();
        env.extend([
            ("SWITCHBOARD_DATABASE_URL", app.config.database_url.clone()),
            (
                "SWITCHBOARD_KAFKA_BROKERS",
                app.config.kafka_brokers.clone(),
            ),
            ("SWITCHBOARD_TOPIC_PREFIX", app.config.topic_prefix.clone()),
            (
                "SWITCHBOARD_SECRET_KEYS",
                app.config.secret_keys.as_ref().unwrap().expose().to_owned(),
            ),
            ("SWITCHBOARD_METRICS_SAMPLE_INTERVAL_MS", "100".to_owned()),
            ("SWITCHBOARD_METRICS_ADDR", addr.clone()),
            ("SWITCHBOARD_HTTP_ADDR", addr.clone()),
            ("SWITCHBOARD_TOKEN_REFRESHER", "false".to_owned()),
            ("SWITCHBOARD_MAILBOX_READERS", "false".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ]);
        let log = std::env::temp_dir().join(format!("sb-observed-{}.log", uuid::Uuid::new_v4()));
        let output = File::create(&log).unwrap();
        let process = Running(
            switchboard(&env)
                .args(args)
                .stdout(output.try_clone().unwrap())
                .stderr(output)
                .stdin(Stdio::null())
                .spawn()
                .expect("the binary runs"),
        );
        wait_for_port(port, WITHIN);
        Self {
            process,
            base: format!("http://{addr}"),
            log,
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, operator: bool) -> (u16, String) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if operator {
            request = request.bearer_auth(crate::helpers::TEST_OPERATOR_TOKEN);
        }
        let response = request.send().await.expect("the probe listener answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Reads `/metrics` until `condition` holds on its text; the text it held on.
    async fn metrics_until(&mut self, what: &str, condition: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WITHIN;
        loop {
            let (status, text) = self.get("/metrics", true).await;
            assert_eq!(status, 200, "{text}");
            if condition(&text) {
                return text;
            }
            if let Some(exit) = self.process.0.try_wait().unwrap() {
                panic!(
                    "the process exited ({exit}) before {what}:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{what} within {WITHIN:?}; last /metrics:\n{text}\nlog:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reads `/readyz` until it answers 200; its body.
    async fn ready(&self) -> Value {
        let deadline = Instant::now() + WITHIN;
        loop {
            let (status, body) = self.get("/readyz", false).await;
            if status == 200 {
                return serde_json::from_str(&body).unwrap();
            }
            assert!(Instant::now() < deadline, "ready within {WITHIN:?}: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The values of the series `name` whose labels include every one of `labels`.
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect()
}

/// The lag series of `group` on `topic`, one value per partition.
fn lag(text: &str, group: &str, topic: &str) -> Vec<f64> {
    series(
        text,
        "switchboard_kafka_consumer_lag",
        &[("group", group), ("topic", topic)],
    )
}

/// Publishes one record that is no command and no event at all.
async fn publish_garbage(brokers: &str, topic: &str) {
    let producer = EventProducer::new(&KafkaSettings::new(brokers)).unwrap();
    producer
        .publish_raw(&RawRecord {
            topic: topic.to_owned(),
            key: Some(b"observed".to_vec()),
            payload: b"not a record of ours".to_vec(),
            headers: Vec::new(),
        })
        .await
        .expect("the garbage record is stored");
}

/// A value of the gauge `name` without labels.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(&format!("{name} ")))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn the_adapters_report_their_lag_and_the_dead_letters_they_wrote() {
    let _one_at_a_time = exclusive().await;
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let topics = app.config.topics();
    let group = format!("{}switchboard-adapters", kafka.prefix);
    let dead_letters = format!("{}.dlq", topics.outbound);
    let mut adapters = Observed::start(&app, &["adapters"]);

    let (status, body) = adapters.get("/healthz", false).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body) = adapters.get("/metrics", false).await;
    assert_eq!(
        status, 401,
        "/metrics needs the operator credential: {body}"
    );
    let ready = adapters.ready().await;
    assert_eq!(ready["consumer"], "running", "{ready}");
    assert_eq!(ready["kafka"], "ok", "{ready}");

    publish_garbage(&kafka.brokers(), &topics.outbound).await;
    let text = adapters
        .metrics_until("the poison command dead-lettered and committed", |text| {
            let lags = lag(text, &group, &topics.outbound);
            series(
                text,
                "switchboard_kafka_dlq_depth",
                &[("topic", &dead_letters)],
            ) == [1.0]
                && lags.len() == 3
                && lags.iter().all(|lag| *lag == 0.0)
        })
        .await;
    assert_eq!(
        lag(&text, &group, &topics.actions_requested).len(),
        3,
        "the action requests' partitions are sampled too:\n{text}"
    );
    let (status, body) = adapters.get("/nowhere", false).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn the_analytics_consumer_reports_its_lag() {
    let _one_at_a_time = exclusive().await;
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let topics = app.config.topics();
    let group = format!("{}switchboard.projection.analytics", kafka.prefix);
    publish_garbage(&kafka.brokers(), &topics.received).await;
    let mut analytics = Observed::start(&app, &["analytics"]);
    assert_eq!(analytics.ready().await["consumer"], "running");
    analytics
        .metrics_until(
            "the analytics group's committed offsets caught up",
            |text| {
                let lags = lag(text, &group, &topics.received);
                lags.len() == 3 && lags.iter().all(|lag| *lag == 0.0)
            },
        )
        .await;
}

#[tokio::test]
async fn the_outbox_age_rises_while_the_relay_cannot_publish_and_falls_once_it_has() {
    let _one_at_a_time = exclusive().await;
    let kafka = TestKafka::new();
    // The app's platform credentials left unpublished rows in the outbox (its relay is off).
    let app = TestApp::new(&kafka).await;
    let topics = app.config.topics();
    // Holding the relay's lock stops every relay, as a relay that cannot reach the broker would.
    let mut holder = sqlx::PgConnection::connect(&app.config.database_url)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(switchboard_adapters::store::outbox::RELAY_LOCK_KEY)
        .execute(&mut holder)
        .await
        .unwrap();
    let mut serve = Observed::start(&app, &["serve"]);
    let age = |text: &str| gauge(text, "switchboard_outbox_oldest_unpublished_age_seconds");
    let first = serve
        .metrics_until("an outbox age", |text| {
            gauge(text, "switchboard_outbox_backlog").is_some_and(|rows| rows > 0.0)
                && age(text).is_some_and(|age| age > 0.0)
        })
        .await;
    let first = age(&first).unwrap();
    serve
        .metrics_until("the outbox age rising", |text| {
            age(text).is_some_and(|age| age > first)
        })
        .await;

    holder.close().await.unwrap();
    let text = serve
        .metrics_until("the outbox published", |text| {
            gauge(text, "switchboard_outbox_backlog") == Some(0.0) && age(text) == Some(0.0)
        })
        .await;
    assert!(
        crate::helpers::topic_len(&kafka.brokers(), &topics.lifecycle) > 0,
        "the relay published the rows"
    );
    let settings = format!("{}switchboard.projection.settings", kafka.prefix);
    serve
        .metrics_until("the settings projection's lag caught up", |text| {
            let lags = lag(text, &settings, &topics.lifecycle);
            lags.len() == 3 && lags.iter().all(|lag| *lag == 0.0)
        })
        .await;
    let inbox = format!("{}switchboard.projection.inbox", kafka.prefix);
    assert_eq!(
        lag(&text, &inbox, &topics.received).len(),
        3,
        "every served projection's group is sampled:\n{text}"
    );
}
