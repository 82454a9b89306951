//! `/v1/keys`: the operator makes, lists and revokes workspace API keys. A key's secret is in
//! the creation answer only.

use crate::auth::api_keys::{ApiKeyView, CreatedApiKey};
use crate::auth::{Operator, Scopes};
use crate::error::Problem;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::WorkspaceId;
use utoipa::ToSchema;

/// Longest key name.
const MAX_NAME_CHARS: usize = 100;

/// The key routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", post(create).get(list))
        .route("/v1/keys/{id}", delete(revoke))
}

/// A key to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// The workspace it acts in.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub workspace: WorkspaceId,
    /// What it may do.
    #[schema(value_type = Vec<crate::auth::Scope>)]
    pub scopes: Vec<crate::auth::Scope>,
    /// A label for people (default "api key").
    pub name: Option<String>,
    /// When it stops working (default never).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Which keys to list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFilter {
    /// Only this workspace's.
    pub workspace: Option<WorkspaceId>,
}

/// Keys, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// The keys, without secrets.
    pub items: Vec<ApiKeyView>,
}

/// Makes a key; its token is shown in this answer only.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", security(("operator" = [])), request_body = CreateKey,
    responses((status = 201, body = CreatedApiKey), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    _operator: Operator,
    State(state): State<AppState>,
    Json(body): Json<CreateKey>,
) -> Result<Response, Problem> {
    let scopes = Scopes::of(body.scopes.iter().copied());
    if scopes.is_empty() {
        return Err(Problem::invalid("a key needs at least one scope"));
    }
    let name = body.name.as_deref().map(str::trim).unwrap_or("api key");
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.contains('\0') {
        return Err(Problem::invalid(format!(
            "the name must be 1-{MAX_NAME_CHARS} characters without NUL"
        )));
    }
    if body.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(Problem::invalid("expires_at is in the past"));
    }
    let created = state
        .auth
        .keys
        .create(&body.workspace, name, scopes, body.expires_at)
        .await?;
    tracing::info!(key_id = %created.key.id, workspace = %body.workspace.as_str(), "API key created");
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

/// Lists keys, without their secrets.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("operator" = [])),
    params(("workspace" = Option<String>, Query, description = "Only this workspace's keys", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = KeyList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    _operator: Operator,
    State(state): State<AppState>,
    Query(filter): Query<KeyFilter>,
) -> Result<axum::Json<KeyList>, Problem> {
    let items = state.auth.keys.list(filter.workspace.as_ref()).await?;
    Ok(axum::Json(KeyList { items }))
}

/// Revokes a key: it stops working at once.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", security(("operator" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ApiKeyView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke(
    _operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<uuid::Uuid>,
) -> Result<axum::Json<ApiKeyView>, Problem> {
    match state.auth.keys.revoke(id).await? {
        Some(key) => {
            tracing::info!(key_id = %id, "API key revoked");
            Ok(axum::Json(key))
        }
        None => Err(Problem::not_found("no such key")),
    }
}
