//! The HTTP surface: one file per resource, joined here with the shared layers.

pub mod action_status;
pub mod actions;
pub mod app_webhooks;
pub mod asyncapi;
pub mod channels;
pub mod conversation_actions;
pub mod conversation_lookup;
pub mod conversation_typing;
pub mod health;
pub mod inbox;
pub mod integrations;
pub mod keys;
pub mod limits;
pub mod middleware;
pub mod oauth;
pub mod oauth_complete;
pub mod oauth_problems;
pub mod openapi;
pub mod openapi_edge;
pub mod platform_credentials;
pub mod send;
pub mod send_content;
pub mod settings;
pub mod start_conversation;
pub mod templates;
pub mod webchat;
pub mod webchat_fallback;
pub mod webchat_socket;
pub mod webhooks;

use crate::error::Problem;
use crate::routes::limits::RequestLimits;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::Router;

/// The whole router, every request within `limits`.
pub fn router(state: AppState, limits: RequestLimits) -> Router {
    let max_body_bytes = limits.max_body_bytes();
    // Every workspace route passes the guard: authenticated, same workspace, within its rate.
    let workspace = Router::new()
        .merge(integrations::routes())
        .merge(inbox::routes())
        .merge(settings::routes())
        .merge(send::routes())
        .merge(actions::routes())
        .merge(action_status::routes())
        .merge(conversation_actions::routes())
        .merge(conversation_typing::routes())
        .merge(oauth::workspace_routes())
        .merge(start_conversation::routes())
        .merge(templates::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::guard::workspace_guard,
        ));
    Router::new()
        .merge(workspace)
        .merge(keys::routes())
        .merge(platform_credentials::routes())
        .merge(channels::routes())
        .merge(health::routes())
        .merge(openapi::routes())
        .merge(asyncapi::routes())
        .merge(webhooks::routes())
        .merge(webchat::routes())
        .merge(app_webhooks::routes())
        .merge(oauth::callback_routes())
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::client_address::resolve,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            limits::enforce,
        ))
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(state)
}
