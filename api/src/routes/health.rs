//! Liveness, readiness and metrics endpoints.

use crate::auth::Operator;
use crate::error::Problem;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::time::Duration;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The health routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// PostgreSQL answers, a broker answers, the producer is not fatal and its latest delivery
/// did not fail recently.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200), (status = 503, body = Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let postgres = async {
        tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&state.pool))
            .await
            .is_ok_and(|r| r.is_ok())
    };
    let kafka = state.producer.check_ready(PROBE_TIMEOUT);
    let (postgres_ok, kafka) = tokio::join!(postgres, kafka);
    if postgres_ok && kafka.is_ok() {
        return Json(json!({"status": "ready", "postgres": "ok", "kafka": "ok"})).into_response();
    }
    let postgres = if postgres_ok { "ok" } else { "unavailable" };
    let kafka = match kafka {
        Ok(()) => "ok".to_owned(),
        Err(reason) => format!("unavailable ({reason})"),
    };
    Problem::unavailable(format!("postgres: {postgres}, kafka: {kafka}")).into_response()
}

/// Prometheus text exposition.
/// Operator only: the counters name workspaces' integrations and traffic.
#[utoipa::path(get, path = "/metrics", tag = "health", security(("operator" = [])),
    responses((status = 200, content_type = "text/plain"), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn metrics(_operator: Operator, State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
