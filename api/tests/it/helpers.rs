//! Shared test scaffolding: a fresh database per test, a mock Kafka cluster, the app, a
//! captured log buffer, and a topic reader.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use serde_json::Value;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use switchboard_adapters::kafka::{ConsumedRecord, KafkaSettings};
use switchboard_api::app::App;
use switchboard_api::config::Config;
use switchboard_api::routes::router;
use tokio::sync::OnceCell;
use tower::ServiceExt;

/// Admin connection for creating per-test databases.
pub fn admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// How old a test database must be before a later run drops it as a leftover: older than any
/// run, so two runs at once (two checkouts on one server) never drop each other's.
const LEFTOVER_AGE_SECS: u64 = 3600;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Creates an empty database for one test, `sb_test_<created>_<uuid>` (dropping the leftovers
/// of runs older than [`LEFTOVER_AGE_SECS`] first, once; names without a time are from builds
/// before it and are dropped too).
pub async fn fresh_database() -> String {
    static CLEANED: OnceCell<()> = OnceCell::const_new();
    let admin = sqlx::PgPool::connect(&admin_url())
        .await
        .expect("test PostgreSQL is reachable");
    CLEANED
        .get_or_init(|| async {
            let stale: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE datname LIKE 'sb_test_%'",
            )
            .fetch_all(&admin)
            .await
            .unwrap();
            let cutoff = now_secs().saturating_sub(LEFTOVER_AGE_SECS);
            for name in stale {
                let created = name["sb_test_".len()..]
                    .split_once('_')
                    .and_then(|(secs, _)| secs.parse::<u64>().ok());
                if created.is_some_and(|at| at >= cutoff) {
                    continue;
                }
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&admin)
                    .await;
            }
        })
        .await;
    let name = format!("sb_test_{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let base = admin_url();
    let prefix = base.rsplit_once('/').map(|(p, _)| p).unwrap_or(&base);
    format!("{prefix}/{name}")
}

/// A mock Kafka cluster with Switchboard's topics under a unique prefix.
/// Its cluster is destroyed only after the test's runtime stops ([`crate::cluster_reaper`]).
pub struct TestKafka {
    pub cluster: ManuallyDrop<MockCluster<'static, DefaultProducerContext>>,
    pub prefix: String,
}

impl Drop for TestKafka {
    fn drop(&mut self) {
        // SAFETY: `cluster` is not used again; this is the only place that takes it.
        let cluster = unsafe { ManuallyDrop::take(&mut self.cluster) };
        crate::cluster_reaper::reap_later(cluster);
    }
}

impl TestKafka {
    pub fn new() -> Self {
        let cluster = MockCluster::new(1).expect("mock cluster");
        let prefix = format!("t{}.", uuid::Uuid::new_v4().simple());
        for spec in switchboard_adapters::kafka::Topics::with_prefix(&prefix).specs(3) {
            cluster
                .create_topic(&spec.name, spec.partitions, 1)
                .unwrap();
        }
        Self {
            cluster: ManuallyDrop::new(cluster),
            prefix,
        }
    }

    pub fn brokers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}

/// The platform credentials every test app is configured with.
pub const TEST_PLATFORM_CREDENTIALS: &str = "messenger.app_id=meta-app-id;messenger.app_secret=meta-app-secret;\
     messenger.verify_token=meta-verify-token;\
     whatsapp.app_id=meta-app-id;whatsapp.app_secret=meta-app-secret;whatsapp.verify_token=meta-verify-token;\
     zalo.app_id=zalo-app-id;zalo.app_secret=zalo-app-secret;zalo.oa_secret_key=zalo-oa-secret;\
     tiktok.client_key=tiktok-client-key;tiktok.client_secret=tiktok-client-secret;\
     google-sheets.client_id=google-client-id;google-sheets.client_secret=google-client-secret";

/// The platform credentials of test apps: [`TEST_PLATFORM_CREDENTIALS`], and every channel's
/// account calls pointed at the shared fake ([`crate::fake_accounts`]).
pub fn test_platform_credentials() -> String {
    format!(
        "{TEST_PLATFORM_CREDENTIALS};{}",
        crate::fake_accounts::api_bases()
    )
}

/// The public URL of test apps, which Telegram's `setWebhook` is given.
pub const TEST_PUBLIC_BASE_URL: &str = "https://switchboard.test";

/// What test apps may reach despite the egress policy: the fake platforms on loopback.
pub const TEST_EGRESS_ALLOW: &str = "127.0.0.0/8,[::1]/128";

/// The HMAC secret test apps verify JWTs with.
pub const TEST_JWT_SECRET: &str = "test-identity-provider-secret";
/// The operator credential of test apps.
pub const TEST_OPERATOR_TOKEN: &str = "test-operator-credential";

/// A JWT of the test identity provider for `workspace` with `scopes`, expiring in `ttl_secs`
/// (negative: expired that long ago).
pub fn jwt(workspace: &str, scopes: &str, ttl_secs: i64) -> String {
    let claims = serde_json::json!({
        "sub": format!("user-of-{workspace}"),
        "workspace": workspace,
        "scope": scopes,
        "exp": chrono::Utc::now().timestamp() + ttl_secs,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// `Bearer <JWT>` for every scope of `workspace`, valid for an hour.
pub fn bearer(workspace: &str) -> String {
    format!("Bearer {}", jwt(workspace, "read write admin", 3600))
}

/// What every test's `switchboard` process gets: [`bearer`] credentials accepted, rate limits
/// out of the way of load tests, the fake platforms on loopback allowed by the egress policy.
pub fn process_env() -> Vec<(&'static str, String)> {
    vec![
        ("SWITCHBOARD_EGRESS_ALLOW", TEST_EGRESS_ALLOW.to_owned()),
        ("SWITCHBOARD_JWT_HMAC_SECRET", TEST_JWT_SECRET.to_owned()),
        ("SWITCHBOARD_OPERATOR_TOKEN", TEST_OPERATOR_TOKEN.to_owned()),
        ("SWITCHBOARD_RATE_LIMIT_PER_SECOND", "100000".to_owned()),
        ("SWITCHBOARD_RATE_LIMIT_BURST", "100000".to_owned()),
    ]
}

/// An HTTP client that sends [`bearer`] credentials for `workspace` with every request.
pub fn client_for(workspace: &str) -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        bearer(workspace).parse().unwrap(),
    );
    reqwest::Client::builder().default_headers(headers)
}

/// The workspace a `/v1/workspaces/{ws}/…` path names.
fn workspace_of(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/workspaces/")?.split('/').next()
}

/// A config for tests: the given database and brokers, a fresh key, no relay unless asked.
pub fn test_config(database_url: &str, brokers: &str, prefix: &str) -> Config {
    Config {
        database_url: database_url.into(),
        kafka_brokers: brokers.into(),
        topic_prefix: prefix.into(),
        kafka_delivery_timeout_ms: 3_000,
        secret_keys: Some(switchboard_domain::SecretString::new(
            switchboard_adapters::store::XChaChaSealer::generate_entry("test"),
        )),
        outbox_relay: false,
        platform_credentials: Some(switchboard_domain::SecretString::new(
            test_platform_credentials(),
        )),
        public_base_url: Some(TEST_PUBLIC_BASE_URL.into()),
        webhook_ack_timeout_ms: 3_000,
        webhook_cache_ms: 0,
        log_format: "json".into(),
        jwt_hmac_secret: Some(switchboard_domain::SecretString::new(TEST_JWT_SECRET)),
        operator_token: Some(switchboard_domain::SecretString::new(TEST_OPERATOR_TOKEN)),
        rate_limit_per_second: 100_000,
        rate_limit_burst: 100_000,
        egress_allow: Some(TEST_EGRESS_ALLOW.into()),
        shared_webhook_routes: true,
        ..Config::default()
    }
}

/// Records the configured platform credentials as verified, as the operator's verification
/// would (the verification calls themselves are tested in `platform_credentials`), so tests
/// can create integrations of every channel at once.
pub async fn verify_platform_apps(app: &App) {
    use switchboard_domain::platform::{PlatformCommand, VerificationCheck, VerificationOutcome};
    let store = &app.state.platform_apps;
    for platform in store.list().await.expect("platform credentials listed") {
        let channel = platform.channel.clone().expect("a stored channel");
        let command = PlatformCommand::RecordVerification {
            checked_version: platform.version,
            outcome: VerificationOutcome::Verified(VerificationCheck::Platform),
        };
        store
            .execute(&channel, command, Default::default())
            .await
            .expect("verification recorded");
    }
}

/// The app under test, driven without a socket.
pub struct TestApp {
    pub app: Option<App>,
    pub router: Router,
    pub config: Config,
}

impl TestApp {
    pub async fn new(kafka: &TestKafka) -> Self {
        Self::new_with(kafka, |_| {}).await
    }

    /// The app with `tweak` applied to its test config.
    pub async fn new_with(kafka: &TestKafka, tweak: impl FnOnce(&mut Config)) -> Self {
        capture_logs();
        let database_url = fresh_database().await;
        let mut config = test_config(&database_url, &kafka.brokers(), &kafka.prefix);
        tweak(&mut config);
        let app = App::build(&config).await.expect("app builds");
        verify_platform_apps(&app).await;
        let router = router(
            app.state.clone(),
            switchboard_api::routes::limits::RequestLimits::from_config(&config),
        );
        Self {
            app: Some(app),
            router,
            config,
        }
    }

    /// Another replica of this app: its database, broker and keys, with `tweak` applied.
    pub async fn replica(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.config.clone();
        tweak(&mut config);
        let app = App::build(&config).await.expect("replica builds");
        let router = router(
            app.state.clone(),
            switchboard_api::routes::limits::RequestLimits::from_config(&config),
        );
        Self {
            app: Some(app),
            router,
            config,
        }
    }

    /// Runs the app's background work (relay, projections, lifecycle watch…) on a socket of
    /// its own until the test ends; requests still go through [`TestApp::send`].
    pub async fn run_in_background(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = self.app.take().expect("not running yet");
        tokio::spawn(app.serve(listener, std::future::pending()));
    }

    /// An app configured without platform credentials, so its outbox and lifecycle topic carry
    /// integration events only (for tests that count them); Telegram's calls still reach the
    /// shared fake.
    pub async fn without_platform_credentials(kafka: &TestKafka) -> Self {
        let app = Self::new_with(kafka, |c| c.platform_credentials = None).await;
        let live = &app.app.as_ref().expect("built").state.platform_credentials;
        crate::fake_accounts::point_telegram_at_fake(live);
        app
    }

    /// Sends a request, with a credential for its workspace when it names one and carries
    /// none; returns status, content type and JSON body (Null when empty).
    pub async fn send(&self, mut request: Request<Body>) -> (StatusCode, String, Value) {
        if !request.headers().contains_key("authorization") {
            if let Some(workspace) = workspace_of(request.uri().path()) {
                let value = bearer(workspace).parse().unwrap();
                request.headers_mut().insert("authorization", value);
            }
        }
        self.send_as_is(request).await
    }

    /// Sends a request exactly as given (no credential added).
    pub async fn send_as_is(&self, request: Request<Body>) -> (StatusCode, String, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, content_type, body)
    }

    pub async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, _, body) = self.send(json_request(method, uri, body)).await;
        (status, body)
    }

    /// Creates a connected telegram integration in `ws` and returns its id.
    pub async fn connected_telegram(&self, ws: &str, secret: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/workspaces/{ws}/integrations"),
                Some(serde_json::json!({"channel": "telegram", "name": "Support", "auth": {"bot_token": secret, "webhook_secret": "hook-secret"}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/workspaces/{ws}/integrations/{id}/connect"),
                Some(serde_json::json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    /// Creates an integration of `channel` with `auth` in `ws`, connects it, returns its id
    /// (a Zalo token is registered with the fake platform as the token of the OA in `oa_id`).
    pub async fn connected(&self, ws: &str, channel: &str, auth: Value) -> String {
        if let (Some(token), Some(oa)) = (auth["access_token"].as_str(), auth["oa_id"].as_str()) {
            crate::fake_accounts::register_zalo(token, oa);
        }
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/workspaces/{ws}/integrations"),
                Some(serde_json::json!({"channel": channel, "name": "Inbox", "auth": auth})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let uri = format!("/v1/workspaces/{ws}/integrations/{id}/connect");
        let (status, body) = self.call("POST", &uri, Some(serde_json::json!({}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    pub fn pool(&self) -> sqlx::PgPool {
        self.app.as_ref().unwrap().state.pool.clone()
    }
}

/// An outbound engine of `app` running until the test ends (a short session timeout, so a
/// later group member takes its partitions quickly).
pub fn outbound_engine(app: &TestApp) -> tokio::task::JoinHandle<()> {
    // Its stop dropped, it is never told to stop.
    stoppable_outbound_engine(app, |_| {}).1
}

/// An outbound engine of `app` with `tweak`ed settings, stopping once `true` is sent (never,
/// once the sender is dropped unsent).
pub fn stoppable_outbound_engine(
    app: &TestApp,
    tweak: impl FnOnce(&mut switchboard_adapters::outbound::OutboundSettings),
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let state = &app.app.as_ref().unwrap().state;
    let mut settings = switchboard_api::outbound::settings(&app.config);
    settings
        .consumer_overrides
        .insert("session.timeout.ms".into(), "6000".into());
    tweak(&mut settings);
    let engine = switchboard_api::outbound::engine(
        &app.config,
        state.integrations.clone(),
        state.producer.clone(),
        settings,
        state.platform_credentials.clone(),
    )
    .unwrap();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move {
        let shutdown = async move {
            if stopped.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        engine.run(shutdown).await.unwrap();
    });
    (stop, running)
}

pub fn json_request(method: &str, uri: &str, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder().method(method).uri(uri);
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

/// How many records `topic` holds (the sum of its partitions' high watermarks).
pub fn topic_len(brokers: &str, topic: &str) -> usize {
    use rdkafka::consumer::BaseConsumer;
    let consumer: BaseConsumer = KafkaSettings::new(brokers)
        .client_config()
        .set("group.id", "watermarks")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .unwrap()
                .1 as usize
        })
        .sum()
}

/// Reads `count` records from `topic` (from the start), or whatever arrived within `timeout`.
pub async fn read_topic(
    brokers: &str,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<ConsumedRecord> {
    let consumer: StreamConsumer = KafkaSettings::new(brokers)
        .client_config()
        .set("group.id", format!("test-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let records = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let sink = records.clone();
    let stop = async move {
        tokio::select! {
            _ = tokio::time::sleep(timeout) => {}
            _ = done_rx.wait_for(|d| *d) => {}
        }
    };
    switchboard_adapters::kafka::consume(&consumer, stop, |record| {
        let mut all = sink.lock().unwrap();
        all.push(record);
        if all.len() >= count {
            let _ = done_tx.send(true);
        }
        async { Ok(()) }
    })
    .await
    .unwrap();
    let mut records = records.lock().unwrap().clone();
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}

/// Every log line written by any test in this process.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

/// Installs the service's own subscriber once, writing into the shared buffer and recording
/// sampled spans in [`crate::spans::recorded`].
pub fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        std::env::set_var(
            "RUST_LOG",
            "debug,h2=info,hyper=info,sqlx=warn,rdkafka=info",
        );
        let config = Config::default();
        let guard = switchboard_api::telemetry::init_with_exporter(
            &config,
            || BufferWriter(log_buffer().clone()),
            crate::spans::recorded().clone(),
        )
        .expect("subscriber installs once");
        std::mem::forget(guard);
    });
}

struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufferWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
