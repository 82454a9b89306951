//! Actions end to end: `POST …/integrations/{id}/actions/{action}` over HTTP, `ActionRequested`
//! on `actions.requested` (mock Kafka cluster), the outbound engine running it against a fake
//! Google Sheets API or the fake SMTP server, `ActionCompleted`/`ActionFailed` on
//! `actions.results`, and the status route reading the actions projection.

pub mod fake_sheets;
mod refusals;
mod sheets;
mod smtp;

use crate::helpers::{json_request, read_topic, test_platform_credentials, TestApp, TestKafka};
use axum::http::StatusCode;
use fake_sheets::{FakeSheets, ACCESS_TOKEN, REFRESH_TOKEN};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::kafka::{ConsumedRecord, KafkaSettings};
use switchboard_domain::SecretString;
use switchboard_projections::actions::ActionsProjection;
use switchboard_projections::engine::ProjectorSettings;
use switchboard_projections::Projector;

const READ_TIMEOUT: Duration = Duration::from_secs(20);
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The app (its Sheets API and token endpoint at the fake), the running engine and the
/// actions projection.
pub struct Actions {
    pub app: TestApp,
    pub sheets: FakeSheets,
    stop: tokio::sync::watch::Sender<bool>,
    engine: tokio::task::JoinHandle<()>,
    projector: tokio::task::JoinHandle<()>,
}

impl Actions {
    pub async fn start(kafka: &TestKafka) -> Self {
        let sheets = FakeSheets::start().await;
        let credentials = format!(
            "{};google-sheets.api_base={base};google-sheets.oauth_base={base}",
            test_platform_credentials(),
            base = sheets.base
        );
        let app = TestApp::new_with(kafka, |c| {
            c.platform_credentials = Some(SecretString::new(credentials));
        })
        .await;
        let (stop, engine) = crate::outbound::run_engine(&app, Duration::from_secs(5));
        let projector = Projector::new(
            app.pool(),
            Arc::new(ActionsProjection),
            KafkaSettings::new(app.config.kafka_brokers.clone()),
            app.config.topics(),
            ProjectorSettings {
                max_batch: 50,
                max_wait: Duration::from_millis(5),
                ..ProjectorSettings::default()
            },
        );
        let projector =
            tokio::spawn(async move { projector.run(std::future::pending()).await.unwrap() });
        Self {
            app,
            sheets,
            stop,
            engine,
            projector,
        }
    }

    /// A connected Google Sheets integration in `ws` on the fake's spreadsheet.
    pub async fn sheet(&self, ws: &str) -> String {
        let auth = json!({"spreadsheet_id": "1SheetAbc", "access_token": ACCESS_TOKEN,
            "refresh_token": REFRESH_TOKEN});
        self.app.connected(ws, "google-sheets", auth).await
    }

    /// Requests `action` of `integration` with `input` (and an idempotency key).
    pub async fn request(
        &self,
        ws: &str,
        integration: &str,
        action: &str,
        input: Value,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let uri = format!("/v1/workspaces/{ws}/integrations/{integration}/actions/{action}");
        let mut request = json_request("POST", &uri, Some(input));
        request
            .headers_mut()
            .insert("traceparent", TRACEPARENT.parse().unwrap());
        if let Some(key) = key {
            request
                .headers_mut()
                .insert("idempotency-key", key.parse().unwrap());
        }
        let (status, _, body) = self.app.send(request).await;
        (status, body)
    }

    /// Requests an action that must be accepted; returns its id.
    pub async fn accepted(
        &self,
        ws: &str,
        integration: &str,
        action: &str,
        input: Value,
    ) -> String {
        let (status, body) = self.request(ws, integration, action, input, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "requested");
        body["action_id"].as_str().unwrap().to_owned()
    }

    /// The action's status once it is `completed` or `failed`.
    pub async fn finished(&self, ws: &str, action_id: &str) -> Value {
        let uri = format!("/v1/workspaces/{ws}/actions/{action_id}");
        let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
        loop {
            let (status, body) = self.app.call("GET", &uri, None).await;
            if status == StatusCode::OK && body["status"] != "requested" {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{uri} never finished: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first `count` records of `topic` (a name under the app's prefix).
    pub async fn records(&self, topic: &str, count: usize) -> Vec<ConsumedRecord> {
        let topic = format!("{}{topic}", self.app.config.topic_prefix);
        read_topic(&self.app.config.kafka_brokers, &topic, count, READ_TIMEOUT).await
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.engine.await;
        self.projector.abort();
    }
}
