//! `GET /v1/workspaces/{ws}/actions/{action_id}`: an action's status (`requested`,
//! `completed`, `failed`) and its output or failure, from the actions read model. Another
//! workspace's action, or one not projected yet, is a plain 404.

use crate::auth::{Authorized, Read};
use crate::error::Problem;
use crate::extract::Path;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use switchboard_domain::WorkspaceId;
use utoipa::ToSchema;
use uuid::Uuid;

/// The status route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/workspaces/{ws}/actions/{action_id}", get(show))
}

/// One action as the read model knows it.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ActionStatusView {
    /// Its id.
    pub action_id: Uuid,
    /// The integration that runs it.
    pub integration_id: Uuid,
    /// That integration's channel.
    pub channel: String,
    /// The action's name.
    pub action: String,
    /// `requested`, `completed` or `failed`.
    pub status: String,
    /// What the action answered (`completed` only), as its `output_schema` describes.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    /// Why it failed: `retryable_exhausted`, `rate_limited`, `permanent`, `auth`, `invalid`.
    pub reason: Option<String>,
    /// The platform's words for the failure, never a credential.
    pub detail: Option<String>,
    /// Calls made to the platform.
    pub attempts: Option<i32>,
    /// When it was requested.
    pub requested_at: Option<DateTime<Utc>>,
    /// When it completed or failed.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Shows an action's status and output.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/actions/{action_id}", tag = "actions",
    params(("ws" = String, Path, description = "Workspace id"), ("action_id" = Uuid, Path, description = "The id the request answered")),
    responses((status = 200, body = ActionStatusView), (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn show(
    _auth: Authorized<Read>,
    State(state): State<AppState>,
    Path((ws, action_id)): Path<(WorkspaceId, Uuid)>,
) -> Result<axum::Json<ActionStatusView>, Problem> {
    let view: Option<ActionStatusView> = sqlx::query_as(
        "SELECT action_id, integration_id, channel, action, status, output, reason, detail, attempts,
                requested_at, finished_at
         FROM actions.actions WHERE action_id = $1 AND workspace_id = $2",
    )
    .bind(action_id)
    .bind(ws.as_str())
    .fetch_optional(&state.pool)
    .await
    .map_err(Problem::from)?;
    view.map(axum::Json)
        .ok_or_else(|| Problem::not_found("no such action"))
}
