//! The benchmarks' stand-in for what Graph answers while an operator verifies a Meta app and a
//! workspace connects a page: the app access token (`POST /oauth/access_token`), the page
//! (`GET /{page}`) and the webhook subscription (`POST /{page}/subscribed_apps`).

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The routes, for a fake Graph to merge.
pub fn routes() -> Router {
    Router::new()
        .route(
            "/oauth/access_token",
            post(|| async {
                Json(json!({"access_token": "bench|app-token", "token_type": "bearer"}))
            }),
        )
        .route(
            "/{page}",
            get(|Path(page): Path<String>| async move {
                Json(json!({"id": page, "name": "Benchmark page"}))
            }),
        )
        .route(
            "/{page}/subscribed_apps",
            post(|| async { Json::<Value>(json!({"success": true})) }),
        )
}
