//! The in-process benchmarks call the router as a workspace would: with an API key of its own,
//! made in the benchmark's database and sent with every request.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::Router;
use switchboard_api::auth::{Scope, Scopes};
use switchboard_api::state::AppState;

/// `api` with a new key of every scope in `workspace` on each request.
pub async fn with_workspace_key(
    api: Router,
    state: &AppState,
    workspace: &str,
) -> anyhow::Result<Router> {
    let created = state
        .auth
        .keys
        .create(
            &workspace.parse()?,
            "benchmark",
            Scopes::of(Scope::ALL),
            None,
        )
        .await?;
    let value = HeaderValue::from_str(&format!("Bearer {}", created.token))?;
    Ok(api.layer(axum::middleware::map_request(
        move |mut request: Request| {
            let value = value.clone();
            async move {
                request.headers_mut().insert(header::AUTHORIZATION, value);
                request
            }
        },
    )))
}
