//! Every workspace route of the OpenAPI description refuses callers who are not of that
//! workspace, before it reads anything: no credential 401, garbage 401, another workspace's
//! credential 404, the operator credential 403.

use super::with_auth;
use crate::helpers::{bearer, json_request, TestApp, TestKafka, TEST_OPERATOR_TOKEN};
use axum::http::StatusCode;

/// Each workspace operation of the spec, with its path's parameters filled in for `ws`.
async fn workspace_operations(app: &TestApp, ws: &str) -> Vec<(String, String)> {
    let (status, _, spec) = app.send(json_request("GET", "/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    let id = uuid::Uuid::new_v4().to_string();
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/workspaces/") {
            continue;
        }
        let uri = path.replace("{ws}", ws).replace("{id}", &id);
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase(), uri.clone()));
        }
    }
    operations
}

#[tokio::test]
async fn every_workspace_route_refuses_strangers() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let operations = workspace_operations(&app, "victim").await;
    assert!(operations.len() >= 12, "{operations:?}");
    let body = || Some(serde_json::json!({}));
    for (method, uri) in &operations {
        let (status, content_type, problem) =
            app.send_as_is(json_request(method, uri, body())).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} without a credential"
        );
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(problem["type"], "/problems/unauthenticated");

        let cases = [
            ("Bearer sbk_0123", StatusCode::UNAUTHORIZED, "garbage key"),
            ("Bearer not.a.jwt", StatusCode::UNAUTHORIZED, "garbage JWT"),
            (
                "Basic dXNlcjpwYXNz",
                StatusCode::UNAUTHORIZED,
                "another scheme",
            ),
            (
                &bearer("attacker"),
                StatusCode::NOT_FOUND,
                "another workspace",
            ),
            (
                &format!("Bearer {TEST_OPERATOR_TOKEN}"),
                StatusCode::FORBIDDEN,
                "the operator",
            ),
        ];
        for (authorization, expected, who) in cases {
            let request = with_auth(json_request(method, uri, body()), authorization);
            let (status, _, _) = app.send(request).await;
            assert_eq!(status, expected, "{method} {uri} as {who}");
        }
    }
}

#[tokio::test]
async fn a_401_carries_a_bearer_challenge() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let response = tower::ServiceExt::oneshot(
        app.router.clone(),
        json_request("GET", "/v1/workspaces/acme/integrations", None),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"switchboard\""),
        "{challenge}"
    );
    let request = with_auth(
        json_request("GET", "/v1/workspaces/acme/integrations", None),
        "Bearer sbk_nope",
    );
    let response = tower::ServiceExt::oneshot(app.router.clone(), request)
        .await
        .unwrap();
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn webhooks_health_and_the_spec_stay_open() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    for uri in [
        "/healthz",
        "/openapi.json",
        "/asyncapi.json",
        "/v1/channels",
    ] {
        let (status, _, _) = app.send_as_is(json_request("GET", uri, None)).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
    let unknown = format!("/webhooks/telegram/{}", uuid::Uuid::new_v4());
    let (status, _, _) = app
        .send_as_is(json_request("POST", &unknown, Some(serde_json::json!({}))))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "webhooks are verified, not authenticated"
    );
}
