//! The operator's routes: who may call them, what a put checks, what is shown.

use super::as_operator;
use crate::helpers::{bearer, json_request, test_platform_credentials, TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::json;
use switchboard_adapters::channels::platform_credentials::PlatformCredentials;

#[tokio::test]
async fn a_put_is_shown_without_its_secrets_and_awaits_verification() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let fields = json!({"app_id": "42", "app_secret": "s3cret", "verify_token": "vt"});
    let (status, body) = as_operator(
        &app,
        "PUT",
        "/v1/platform-credentials/messenger",
        Some(fields),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "unverified");
    assert_eq!(body["fields"]["app_id"], "42");
    assert_eq!(body["fields"]["app_secret"], "[set]");
    let (status, shown) =
        as_operator(&app, "GET", "/v1/platform-credentials/messenger", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!shown.to_string().contains("s3cret"), "{shown}");
    let (_, list) = as_operator(&app, "GET", "/v1/platform-credentials", None).await;
    let channels: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["channel"].as_str().unwrap())
        .collect();
    assert!(
        channels.contains(&"messenger") && channels.contains(&"zalo"),
        "{list}"
    );
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE aggregate_type = 'Platform' AND aggregate_id = 'messenger'",
    )
    .fetch_all(&app.pool())
    .await
    .unwrap();
    assert!(
        events.iter().all(|e| !e.contains("s3cret")),
        "a secret in an event"
    );
}

#[tokio::test]
async fn a_put_names_every_field_it_refuses() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let fields = json!({"app_secret": "s", "api_base": "not a url", "extra": "x"});
    let (status, body) = as_operator(
        &app,
        "PUT",
        "/v1/platform-credentials/messenger",
        Some(fields),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut named: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    named.sort();
    assert_eq!(named, ["api_base", "app_id", "extra", "verify_token"]);
}

#[tokio::test]
async fn unknown_channels_and_other_callers_are_refused() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    for channel in ["carrier-pigeon", "Not A Channel"] {
        let uri = format!("/v1/platform-credentials/{}", channel.replace(' ', "%20"));
        let (status, body) = as_operator(&app, "PUT", &uri, Some(json!({}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{channel}: {body}");
    }
    let (status, _) = as_operator(&app, "GET", "/v1/platform-credentials/webchat", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was put for webchat");
    // A channel without a platform app has platform settings only (API base overrides).
    let uri = "/v1/platform-credentials/telegram";
    let (status, body) = as_operator(&app, "PUT", uri, Some(json!({"app_secret": "s"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut request = json_request("GET", "/v1/platform-credentials", None);
    let workspace = bearer("acme").parse().unwrap();
    request.headers_mut().insert("authorization", workspace);
    let (status, _, _) = app.send_as_is(request).await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
        "a workspace credential reached an operator route: {status}"
    );
    let (status, _, _) = app
        .send_as_is(json_request("GET", "/v1/platform-credentials", None))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_configured_credentials_are_put_once_however_often_the_service_starts() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let count = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM events WHERE aggregate_type = 'Platform' AND event_type = 'PlatformCredentialsPut'",
        )
        .fetch_one(&app.pool())
        .await
        .unwrap()
    };
    let first = count().await;
    let configured = PlatformCredentials::parse(&test_platform_credentials()).unwrap();
    assert_eq!(
        first,
        configured.channels().count() as i64,
        "one put per configured channel"
    );
    let again = switchboard_api::app::App::build(&app.config).await.unwrap();
    assert_eq!(count().await, first, "a restart put the same fields again");
    let (_, shown) = as_operator(&app, "GET", "/v1/platform-credentials/zalo", None).await;
    assert_eq!(
        shown["status"], "verified",
        "the restart kept the verification"
    );
    drop(again);
}
