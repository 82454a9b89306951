//! Proactive messages end to end: WhatsApp templates listed from a paginated fake Cloud API,
//! cached and checked before a send; template sends outside the 24-hour window reaching the
//! platform in the documented shape; first messages creating conversations in the inbox;
//! channels that cannot start one refused; Messenger message tags inside and outside their
//! windows. PostgreSQL and the mock Kafka cluster are real; the platform is a fake.

mod described;
pub mod fake_cloud_api;
mod first_message;
mod message_tags;
mod templates;

use crate::helpers::{TestApp, TestKafka, TEST_PLATFORM_CREDENTIALS};
use axum::http::StatusCode;
use fake_cloud_api::Fake;
use serde_json::{json, Value};
use switchboard_adapters::channels::webhook::hmac_sha256;
use switchboard_domain::SecretString;

/// The business phone number of the WhatsApp integration.
pub const PHONE_NUMBER_ID: &str = "106540352242922";
/// Its business account.
pub const WABA_ID: &str = "102290129340398";
/// A customer's number as its `wa_id`.
pub const WA_ID: &str = "16505551234";

/// An app whose WhatsApp calls go to a fake Cloud API (the other channels' account calls to
/// the shared fake), with one connected WhatsApp integration.
pub struct Proactive {
    pub app: TestApp,
    pub fake: Fake,
    pub whatsapp: String,
}

/// Starts the app and connects the WhatsApp integration.
pub async fn start(kafka: &TestKafka) -> Proactive {
    let (fake, base) = fake_cloud_api::start().await;
    let accounts = crate::fake_accounts::base();
    let credentials = format!(
        "{TEST_PLATFORM_CREDENTIALS};whatsapp.api_base={base};messenger.api_base={accounts};telegram.api_base={accounts}"
    );
    let app = TestApp::new_with(kafka, |c| {
        c.platform_credentials = Some(SecretString::new(credentials));
    })
    .await;
    let auth = json!({"phone_number_id": PHONE_NUMBER_ID, "business_account_id": WABA_ID, "access_token": "EAAG-wa-token"});
    let whatsapp = app.connected("acme", "whatsapp", auth).await;
    Proactive {
        app,
        fake,
        whatsapp,
    }
}

impl Proactive {
    /// A signed WhatsApp delivery of a text from `wa_id`, sent `ago_secs` ago.
    pub async fn inbound(&self, wa_id: &str, wamid: &str, ago_secs: i64) {
        let at = chrono::Utc::now().timestamp() - ago_secs;
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Ada"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": at.to_string(), "type": "text", "text": {"body": "Thanks!"}}]
        }}]}]})
        .to_string();
        let mac = hmac_sha256(b"meta-app-secret", &[body.as_bytes()]);
        let signature = format!("sha256={}", hex(&mac));
        let request = axum::http::Request::post(format!("/webhooks/whatsapp/{}", self.whatsapp))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(axum::body::Body::from(body))
            .unwrap();
        let (status, _, answer) = self.app.send(request).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    /// `POST` to `uri` with `body`, expecting `expected`; the answer.
    pub async fn post(&self, uri: &str, body: Value, expected: StatusCode) -> Value {
        let (status, answer) = self.app.call("POST", uri, Some(body)).await;
        assert_eq!(status, expected, "POST {uri}: {answer}");
        answer
    }
}

/// A template message of the fake's account.
pub fn order_update(language: &str) -> Value {
    json!({
        "name": "order_update",
        "language": {"code": language},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "#1042"}]}],
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
