//! Bad input and unavailable dependencies: precise statuses, problem+json bodies, no 500s.

use crate::helpers::{json_request, TestApp, TestKafka};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

async fn assert_problem(
    app: &TestApp,
    request: Request<Body>,
    status: StatusCode,
    problem_type: &str,
) -> serde_json::Value {
    let (actual, content_type, body) = app.send(request).await;
    assert_eq!(actual, status, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["type"], problem_type, "{body}");
    assert_eq!(body["status"], status.as_u16());
    body
}

fn raw(method: &str, uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn malformed_json_is_400() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let request = raw(
        "POST",
        "/v1/workspaces/acme/integrations",
        "application/json",
        "{\"channel\": ",
    );
    assert_problem(
        &app,
        request,
        StatusCode::BAD_REQUEST,
        "/problems/malformed-request",
    )
    .await;
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_422() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let request = json_request(
        "POST",
        "/v1/workspaces/acme/integrations",
        Some(json!({"channel": 5})),
    );
    assert_problem(
        &app,
        request,
        StatusCode::UNPROCESSABLE_ENTITY,
        "/problems/validation",
    )
    .await;
}

#[tokio::test]
async fn a_missing_content_type_is_415() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let request = raw(
        "POST",
        "/v1/workspaces/acme/integrations",
        "text/plain",
        "{}",
    );
    assert_problem(
        &app,
        request,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "/problems/unsupported-media-type",
    )
    .await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let name = "x".repeat(app.config.max_body_bytes + 1);
    let request = json_request(
        "POST",
        "/v1/workspaces/acme/integrations",
        Some(json!({"channel": "telegram", "name": name})),
    );
    assert_problem(
        &app,
        request,
        StatusCode::PAYLOAD_TOO_LARGE,
        "/problems/body-too-large",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_channel_is_422() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    for channel in ["pager", "Not A Channel"] {
        let request = json_request(
            "POST",
            "/v1/workspaces/acme/integrations",
            Some(json!({"channel": channel, "name": "x"})),
        );
        let body = assert_problem(
            &app,
            request,
            StatusCode::UNPROCESSABLE_ENTITY,
            "/problems/validation",
        )
        .await;
        assert!(body["detail"].as_str().unwrap().contains("unknown channel"));
    }
}

#[tokio::test]
async fn bad_credentials_are_422_with_one_entry_per_field() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let request = json_request(
        "POST",
        "/v1/workspaces/acme/integrations",
        Some(
            json!({"channel": "smtp", "name": "Mail", "auth": {"port": 0, "password": "pw-secret-1", "nope": true}}),
        ),
    );
    let body = assert_problem(
        &app,
        request,
        StatusCode::UNPROCESSABLE_ENTITY,
        "/problems/validation",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["nope", "port"]);
    assert!(!body.to_string().contains("pw-secret-1"));
}

#[tokio::test]
async fn unknown_and_malformed_ids_and_routes_are_404() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let unknown = format!("/v1/workspaces/acme/integrations/{}", uuid::Uuid::new_v4());
    assert_problem(
        &app,
        json_request("GET", &unknown, None),
        StatusCode::NOT_FOUND,
        "/problems/not-found",
    )
    .await;
    let malformed = "/v1/workspaces/acme/integrations/not-a-uuid";
    assert_problem(
        &app,
        json_request("GET", malformed, None),
        StatusCode::NOT_FOUND,
        "/problems/not-found",
    )
    .await;
    let bad_workspace = "/v1/workspaces/a%20b/integrations";
    let mut request = json_request("GET", bad_workspace, None);
    let credential = crate::helpers::bearer("acme").parse().unwrap();
    request.headers_mut().insert("authorization", credential);
    assert_problem(&app, request, StatusCode::NOT_FOUND, "/problems/not-found").await;
    assert_problem(
        &app,
        json_request("GET", "/v2/nothing", None),
        StatusCode::NOT_FOUND,
        "/problems/not-found",
    )
    .await;
    assert_problem(
        &app,
        json_request("PUT", "/v1/channels", None),
        StatusCode::METHOD_NOT_ALLOWED,
        "/problems/method-not-allowed",
    )
    .await;
}

#[tokio::test]
async fn a_database_outage_is_503_with_retry_after() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let mut state = app.app.as_ref().unwrap().state.handles();
    let dead_pool =
        switchboard_adapters::store::connect_lazy("postgres://postgres@127.0.0.1:1/none", 1)
            .unwrap();
    state.pool = dead_pool.clone();
    state.integrations = switchboard_adapters::store::IntegrationStore::new(dead_pool, services());
    let router = switchboard_api::routes::router(
        switchboard_api::state::AppState::new(state),
        switchboard_api::routes::limits::RequestLimits::from_config(&app.config),
    );
    let down = TestApp {
        app: None,
        router,
        config: app.config.clone(),
    };
    for request in [
        json_request(
            "POST",
            "/v1/workspaces/acme/integrations",
            Some(json!({"channel": "webchat", "name": "x"})),
        ),
        json_request("GET", "/v1/workspaces/acme/integrations", None),
        json_request("GET", "/readyz", None),
    ] {
        let (status, content_type, body) = down.send(request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(content_type, "application/problem+json");
    }
    let mut request = json_request("GET", "/v1/workspaces/acme/integrations", None);
    let credential = crate::helpers::bearer("acme").parse().unwrap();
    request.headers_mut().insert("authorization", credential);
    let response = tower::ServiceExt::oneshot(down.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "5");
}

#[tokio::test]
async fn readiness_reports_a_broker_outage_as_503() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (status, body) = app.call("GET", "/readyz", None).await;
    assert_eq!(
        (status, body["kafka"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    kafka.cluster.broker_down(1).unwrap();
    let (status, body) = app.call("GET", "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("kafka: unavailable"),
        "{body}"
    );
}

fn services() -> switchboard_domain::integration::IntegrationServices {
    use std::sync::Arc;
    switchboard_domain::integration::IntegrationServices {
        channels: Arc::new(switchboard_adapters::channels::ChannelRegistry::builtin()),
        sealer: Arc::new(
            switchboard_adapters::store::XChaChaSealer::from_config(
                &switchboard_adapters::store::XChaChaSealer::generate_entry("t"),
            )
            .unwrap(),
        ),
        clock: Arc::new(switchboard_domain::integration::services::SystemClock),
    }
}
