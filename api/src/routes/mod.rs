//! The HTTP surface: one file per resource, joined here with the shared layers.

pub mod asyncapi;
pub mod channels;
pub mod conversation_actions;
pub mod conversation_lookup;
pub mod health;
pub mod inbox;
pub mod integrations;
pub mod middleware;
pub mod openapi;
pub mod send;
pub mod settings;
pub mod webhooks;

use crate::error::Problem;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::Router;

/// The whole router, with `max_body_bytes` as the request body limit.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .merge(integrations::routes())
        .merge(channels::routes())
        .merge(inbox::routes())
        .merge(settings::routes())
        .merge(send::routes())
        .merge(conversation_actions::routes())
        .merge(health::routes())
        .merge(openapi::routes())
        .merge(asyncapi::routes())
        .merge(webhooks::routes())
        .fallback(|| async { Problem::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this route does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(state)
}
