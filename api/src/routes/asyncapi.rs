//! `GET /asyncapi.json`: the AsyncAPI 3.0 description of every Kafka topic Switchboard owns
//! (keys, CloudEvents headers, event types and payload schemas), for the teams that consume
//! them. The document is `api/asyncapi.json`, written by hand and compiled in; the tests in
//! `api/tests/it/asyncapi.rs` hold it to what the code publishes.

use crate::state::AppState;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// The document, exactly as it is in the repository.
pub const DOCUMENT: &str = include_str!("../../asyncapi.json");

/// The route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/asyncapi.json", get(document))
}

/// Serves the AsyncAPI document as `application/json`.
pub async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}
