//! Verification with each platform: what it accepts, what it refuses, when it cannot be asked.

use super::{as_operator, fake};
use crate::helpers::{TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// Puts `fields` for `channel` and verifies them; returns the verification's answer.
async fn put_and_verify(app: &TestApp, channel: &str, fields: Value) -> (StatusCode, Value) {
    let uri = format!("/v1/platform-credentials/{channel}");
    let (status, body) = as_operator(app, "PUT", &uri, Some(fields)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    as_operator(app, "POST", &format!("{uri}/verify"), None).await
}

#[tokio::test]
async fn meta_tiktok_and_google_accept_the_right_secret_and_refuse_a_wrong_one() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let base = fake::start().await;
    let cases = [
        (
            "messenger",
            json!({"app_id": "1", "verify_token": "v", "api_base": base}),
        ),
        (
            "whatsapp",
            json!({"app_id": "1", "verify_token": "v", "api_base": base}),
        ),
        ("tiktok", json!({"client_key": "k", "oauth_base": base})),
        (
            "google-sheets",
            json!({"client_id": "c", "oauth_base": base}),
        ),
    ];
    for (channel, fields) in cases {
        let mut good = fields.clone();
        let secret_field = if channel == "messenger" || channel == "whatsapp" {
            "app_secret"
        } else {
            "client_secret"
        };
        good[secret_field] = json!(fake::GOOD_SECRET);
        let (status, body) = put_and_verify(&app, channel, good).await;
        assert_eq!(status, StatusCode::OK, "{channel}: {body}");
        assert_eq!(body["status"], "verified", "{channel}");
        assert_eq!(body["check"], "platform", "{channel}");

        let mut wrong = fields;
        wrong[secret_field] = json!("a-wrong-secret");
        let (status, body) = put_and_verify(&app, channel, wrong).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{channel}: {body}"
        );
        assert_eq!(body["type"], "/problems/platform-credentials-refused");
        let uri = format!("/v1/platform-credentials/{channel}");
        let (_, shown) = as_operator(&app, "GET", &uri, None).await;
        assert_eq!(shown["status"], "refused", "{channel}");
        assert!(shown["refusal"].as_str().unwrap().len() > 3, "{shown}");
        assert!(!shown.to_string().contains("a-wrong-secret"));
    }
}

#[tokio::test]
async fn a_platform_that_cannot_be_asked_gives_503_and_records_nothing() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let base = fake::start().await;
    let fields = json!({"client_key": "k", "client_secret": "down", "oauth_base": base});
    let (status, body) = put_and_verify(&app, "tiktok", fields).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["type"], "/problems/platform-unavailable");
    let (_, shown) = as_operator(&app, "GET", "/v1/platform-credentials/tiktok", None).await;
    assert_eq!(shown["status"], "unverified");
}

#[tokio::test]
async fn zalo_has_no_check_so_complete_fields_are_verified_as_fields_only() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let fields = json!({"app_id": "1", "app_secret": "s", "oa_secret_key": "k"});
    let (status, body) = put_and_verify(&app, "zalo", fields).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["status"], &body["check"]),
        (&json!("verified"), &json!("fields_only"))
    );
}
