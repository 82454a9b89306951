//! Who may call: workspace keys and JWTs against every route, operator routes, rate limits,
//! and the connection limits of the real server loop.

mod abuse_limits;
mod api_keys;
mod every_route;
mod jwts;

use crate::helpers::{json_request, TestApp, TEST_OPERATOR_TOKEN};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

/// `request` with `Authorization: <value>`.
pub fn with_auth(mut request: Request<Body>, value: &str) -> Request<Body> {
    request
        .headers_mut()
        .insert("authorization", value.parse().unwrap());
    request
}

/// Makes an API key through the operator route; returns (id, token).
pub async fn create_key(app: &TestApp, workspace: &str, scopes: &[&str]) -> (String, String) {
    let request = json_request(
        "POST",
        "/v1/keys",
        Some(json!({"workspace": workspace, "scopes": scopes, "name": "test key"})),
    );
    let (status, _, body) = app
        .send(with_auth(request, &format!("Bearer {TEST_OPERATOR_TOKEN}")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

/// Sends `method uri` with `authorization`; returns status and body.
pub async fn call_with(
    app: &TestApp,
    authorization: &str,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, body) = app
        .send(with_auth(json_request(method, uri, body), authorization))
        .await;
    (status, body)
}
