//! Platform credentials through the operator routes: put, show without secrets, verify with
//! the platform (fake Graph, TikTok and Google token endpoints), delete; and the gate that
//! keeps integrations of a channel out until its credentials are verified.

pub mod fake;
mod gate;
mod routes;
mod verify;

use crate::helpers::{json_request, TestApp, TEST_OPERATOR_TOKEN};
use axum::http::StatusCode;
use serde_json::Value;

/// Sends `method uri` with `body` as the operator.
pub async fn as_operator(
    app: &TestApp,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = json_request(method, uri, body);
    let operator = format!("Bearer {TEST_OPERATOR_TOKEN}").parse().unwrap();
    request.headers_mut().insert("authorization", operator);
    let (status, _, body) = app.send_as_is(request).await;
    (status, body)
}
