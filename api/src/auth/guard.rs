//! The workspace guard, layered on every `/v1/workspaces/{ws}/…` route: the credential must be
//! valid (401), belong to the path's workspace (404 otherwise, so another tenant's existence is
//! not revealed) and be within its rate limit (429). A client address presenting bad
//! credentials too often gets 429 instead of 401 for a while (`credential_failures_per_minute`);
//! a good credential still passes from there, so a guesser behind a shared address (a NAT, a
//! proxy not listed in `trusted_proxies`) cannot lock the others out. The
//! caller then rides in the request's extensions, where handlers require their scope through
//! `Authorized`.

use super::authenticator::Principal;
use super::rate_limit::{too_many_requests, CREDENTIALS};
use crate::client_address::ClientAddress;
use crate::error::Problem;
use crate::state::AppState;
use axum::extract::{RawPathParams, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Authenticates and scopes a workspace request.
pub async fn workspace_guard(
    State(state): State<AppState>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    let workspace = params
        .iter()
        .find(|(name, _)| *name == "ws")
        .map(|(_, value)| value.to_owned());
    let client = request
        .extensions()
        .get::<ClientAddress>()
        .and_then(|client| client.0);
    let caller = match state.auth.authenticate(request.headers()).await {
        Ok(Principal::Workspace(caller)) => caller,
        Ok(Principal::Operator) => {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "workspace-credential-required",
                "Workspace credential required",
                "the operator credential does not act inside workspaces; use a workspace key",
            )
            .into_response()
        }
        // A request without any credential guesses nothing: only a refused one counts.
        Err(problem) if request.headers().contains_key(header::AUTHORIZATION) => {
            return (state.credential_failures)
                .refused(client, CREDENTIALS, problem)
                .into_response()
        }
        Err(problem) => return problem.into_response(),
    };
    if workspace.as_deref() != Some(caller.workspace.as_str()) {
        return Problem::not_found("no such workspace resource").into_response();
    }
    if let Err(wait) = state.caller_limit.check(&caller.actor()) {
        metrics::counter!("switchboard_rate_limited_total", "kind" => "credential").increment(1);
        return too_many_requests(wait, "this credential is over its request rate").into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}
