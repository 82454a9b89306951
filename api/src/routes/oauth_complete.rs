//! `POST /v1/workspaces/{ws}/integrations/{id}/oauth/complete`: the admin's browser completes
//! the OAuth connect flow it started, and only then is `IntegrationConnected` recorded.
//!
//! # Guarantees
//! - Only a workspace admin (`admin` scope) of the integration's workspace completes; another
//!   workspace's integration or outcome is a plain 404.
//! - The outcome is taken once: a second completion finds nothing (404); a wrong browser binding
//!   is 403 `oauth-binding-mismatch` and leaves the outcome for the right one; an expired
//!   outcome is 410 `oauth-outcome-expired` and purged. None of them records an event.
//! - The connect goes through the one connect path (`connecting`): the account is proven with
//!   the platform, its webhooks subscribed, the tokens sealed by the aggregate, and the caller
//!   recorded as the actor.
//!
//! Refusals come in this order: the guard (credential, workspace, scope), the body, the
//! integration (404), the outcome (404, 403, 410), then the connect's own.

use crate::auth::{Admin, Authorized};
use crate::connecting::{connect_integration, owned};
use crate::error::Problem;
use crate::extract::{Json, Path};
use crate::oauth_outcomes::{OAuthOutcomes, OutcomeError};
use crate::state::AppState;
use crate::views::IntegrationView;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use switchboard_adapters::kafka::trace_context::current_traceparent;
use switchboard_adapters::store::CommandMetadata;
use switchboard_domain::{IntegrationId, WorkspaceId};
use utoipa::ToSchema;

/// Longest browser binding accepted (the authorize step's are 43 characters).
const MAX_BINDING_CHARS: usize = 128;

/// `POST …/{id}/oauth/complete`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// The outcome id the callback sent the browser back with.
    pub outcome: uuid::Uuid,
    /// The browser binding the authorize step handed out.
    pub binding: String,
}

/// Completes a connect flow: the pending outcome of the callback becomes `IntegrationConnected`.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/integrations/{id}/oauth/complete", tag = "integrations",
    params(("ws" = String, Path), ("id" = uuid::Uuid, Path)), request_body = CompleteRequest,
    responses((status = 200, body = IntegrationView), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 410, body = Problem), (status = 422, body = Problem), (status = 502, body = Problem)))]
pub async fn complete(
    auth: Authorized<Admin>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
    Json(body): Json<CompleteRequest>,
) -> Result<axum::Json<IntegrationView>, Problem> {
    let binding = body.binding.trim();
    if binding.is_empty() || binding.chars().count() > MAX_BINDING_CHARS {
        return Err(Problem::invalid(format!(
            "binding must be the 1-{MAX_BINDING_CHARS} character secret of the authorize step"
        )));
    }
    owned(&state, &ws, id).await?;
    let completed = OAuthOutcomes::new(state.integrations.clone())
        .take(&ws, id, body.outcome, binding)
        .await
        .map_err(outcome_problem)?;
    let metadata = CommandMetadata {
        request_id: crate::routes::middleware::current_request_id(),
        actor: Some(auth.caller.actor()),
        traceparent: current_traceparent(),
    };
    tracing::info!(integration_id = %id, "OAuth outcome completed by the browser that started the flow; connecting");
    let view = connect_integration(
        &state,
        metadata,
        &ws,
        id,
        Some(completed.auth),
        Some(completed.account),
    )
    .await?;
    Ok(axum::Json(view))
}

/// The problem of an outcome that cannot be completed.
pub fn outcome_problem(error: OutcomeError) -> Problem {
    let detail = error.to_string();
    match error {
        OutcomeError::NotFound => Problem::new(
            StatusCode::NOT_FOUND,
            "oauth-outcome-not-found",
            "OAuth outcome not found",
            detail,
        ),
        OutcomeError::WrongBinding => Problem::new(
            StatusCode::FORBIDDEN,
            "oauth-binding-mismatch",
            "OAuth binding mismatch",
            detail,
        ),
        OutcomeError::Expired => Problem::new(
            StatusCode::GONE,
            "oauth-outcome-expired",
            "OAuth outcome expired",
            detail,
        ),
        OutcomeError::Store(error) => error.into(),
        OutcomeError::Database(error) => error.into(),
    }
}
