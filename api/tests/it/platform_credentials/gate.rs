//! The gate: an OAuth channel's integrations are created and connected only while its
//! platform credentials are set and verified, and `GET /v1/channels` says so.

use super::{as_operator, fake};
use crate::helpers::{TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::{json, Value};

async fn available(app: &TestApp, channel: &str) -> bool {
    let (_, list) = app.call("GET", "/v1/channels", None).await;
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == channel)
        .cloned()
        .unwrap_or(Value::Null);
    item["available"].as_bool().unwrap()
}

async fn create_messenger(app: &TestApp) -> (StatusCode, Value) {
    app.call(
        "POST",
        "/v1/workspaces/acme/integrations",
        Some(json!({"channel": "messenger", "name": "Page",
            "auth": {"page_id": "1", "page_access_token": "t"}})),
    )
    .await
}

#[tokio::test]
async fn integrations_wait_for_verified_platform_credentials() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (status, body) = create_messenger(&app).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created = body["id"].as_str().unwrap().to_owned();
    assert!(available(&app, "messenger").await);

    let (status, _) = as_operator(&app, "DELETE", "/v1/platform-credentials/messenger", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!available(&app, "messenger").await);
    assert!(
        available(&app, "telegram").await,
        "a channel without a platform app"
    );
    let (status, body) = create_messenger(&app).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["type"], "/problems/platform-credentials-missing");
    let connect = format!("/v1/workspaces/acme/integrations/{created}/connect");
    let (status, body) = app.call("POST", &connect, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let base = fake::start().await;
    let fields = json!({"app_id": "1", "app_secret": fake::GOOD_SECRET, "verify_token": "v",
        "api_base": base});
    let uri = "/v1/platform-credentials/messenger";
    as_operator(&app, "PUT", uri, Some(fields)).await;
    let (status, body) = create_messenger(&app).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "unverified credentials let one in: {body}"
    );
    let (status, _) = as_operator(&app, "POST", &format!("{uri}/verify"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(available(&app, "messenger").await);
    let (status, body) = create_messenger(&app).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
