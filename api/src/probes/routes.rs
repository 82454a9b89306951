//! `/healthz`, `/readyz` and `/metrics` of a process without the HTTP API. Readiness is
//! PostgreSQL answering, a broker answering and the consumer loop running; `/metrics` needs
//! the operator credential, as `serve`'s does.

use crate::auth::Principal;
use crate::error::Problem;
use crate::probes::ProbeState;
use crate::telemetry::metrics_handle;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::time::Duration;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The probe routes; anything else is a problem+json 404.
pub fn router(state: ProbeState) -> Router {
    Router::new()
        .route("/healthz", get(crate::routes::health::healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn readyz(State(state): State<ProbeState>) -> Response {
    let postgres = async {
        tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&state.pool))
            .await
            .is_ok_and(|r| r.is_ok())
    };
    let kafka = state.broker.broker_reachable(PROBE_TIMEOUT);
    let (postgres_ok, kafka) = tokio::join!(postgres, kafka);
    let consumer_ok = state.consumer.is_running();
    if postgres_ok && kafka.is_ok() && consumer_ok {
        return Json(
            json!({"status": "ready", "postgres": "ok", "kafka": "ok", "consumer": "running"}),
        )
        .into_response();
    }
    let postgres = if postgres_ok { "ok" } else { "unavailable" };
    let kafka = match kafka {
        Ok(()) => "ok".to_owned(),
        Err(reason) => format!("unavailable ({reason})"),
    };
    let consumer = if consumer_ok {
        "running"
    } else {
        "not running"
    };
    Problem::unavailable(format!(
        "postgres: {postgres}, kafka: {kafka}, consumer: {consumer}"
    ))
    .into_response()
}

async fn metrics(State(state): State<ProbeState>, headers: HeaderMap) -> Response {
    match state.auth.authenticate(&headers).await {
        Ok(Principal::Operator) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            metrics_handle().render(),
        )
            .into_response(),
        Ok(Principal::Workspace(_)) => Problem::new(
            StatusCode::FORBIDDEN,
            "operator-only",
            "Operator only",
            "this route needs the operator credential",
        )
        .into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn not_found() -> Problem {
    Problem::not_found("this listener serves /healthz, /readyz and /metrics only")
}
