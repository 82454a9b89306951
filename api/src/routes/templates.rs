//! `GET /v1/workspaces/{ws}/integrations/{id}/templates` and `POST …/templates/refresh`: the
//! message templates of an integration's platform account (WhatsApp), from the cache
//! ([`crate::template_cache`]) or listed from the platform anew.
//!
//! In order: another workspace's integration or none is 404, a deleted one 410; a channel
//! without templates is 422 `channel-has-no-templates`; refreshing needs the integration
//! connected (422 `integration-not-connected`); the platform's refusal is 422 in its words
//! (refused token, missing permission), an unreachable platform 503 with `Retry-After`.

use crate::auth::{Authorized, Read, Write};
use crate::connecting::owned_integration;
use crate::error::Problem;
use crate::extract::Path;
use crate::send_queue::rule;
use crate::state::AppState;
use crate::template_cache::{self, TemplateList};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use switchboard_domain::integration::{Integration, IntegrationError, IntegrationStatus};
use switchboard_domain::{IntegrationId, WorkspaceId};
use utoipa::ToSchema;

/// The template routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/workspaces/{ws}/integrations/{id}/templates", get(list))
        .route(
            "/v1/workspaces/{ws}/integrations/{id}/templates/refresh",
            post(refresh),
        )
}

/// A template to send, as the WhatsApp Cloud API's `template` object (documentation only; the
/// route reads it as the domain's `TemplateMessage`).
#[derive(Serialize, ToSchema)]
pub struct TemplateSchema {
    /// The template's name: lowercase letters, digits, underscores (1-512).
    #[schema(example = "order_update", pattern = "^[a-z0-9_]{1,512}$")]
    pub name: String,
    /// Which translation.
    pub language: TemplateLanguageSchema,
    /// The values of its variables per component; omit for a template without variables.
    #[serde(default)]
    #[schema(max_items = 16)]
    pub components: Vec<TemplateComponentSchema>,
}

/// A template's language.
#[derive(Serialize, ToSchema)]
pub struct TemplateLanguageSchema {
    /// The platform's language code.
    #[schema(example = "en_US")]
    pub code: String,
    /// `deterministic`, the only policy the platform documents.
    pub policy: Option<String>,
}

/// The values of one component's variables.
#[derive(Serialize, ToSchema)]
pub struct TemplateComponentSchema {
    /// `header`, `body` or `button`.
    #[serde(rename = "type")]
    #[schema(example = "body")]
    pub kind: String,
    /// A button's kind (`quick_reply`, `url`…); required for buttons.
    pub sub_type: Option<String>,
    /// A button's position (`"0"`…); required for buttons.
    #[schema(value_type = Option<String>)]
    pub index: Option<String>,
    /// Each `{"type": "text", "text": "…"}`, `{"type": "currency", "currency": {…}}`,
    /// `{"type": "image", "image": {"link": "…"}}`, `{"type": "payload", "payload": "…"}`…
    #[schema(value_type = Vec<Object>, max_items = 64)]
    pub parameters: Vec<serde_json::Value>,
}

/// Lists the templates cached for an integration (refresh to ask the platform).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/integrations/{id}/templates", tag = "integrations",
    params(("ws" = String, Path), ("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TemplateList), (status = 404, body = Problem), (status = 410, body = Problem),
        (status = 422, body = Problem)))]
pub async fn list(
    _auth: Authorized<Read>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
) -> Result<Json<TemplateList>, Problem> {
    templated(&state, &ws, id).await?;
    Ok(Json(template_cache::list(&state, id).await?))
}

/// Lists the templates from the platform, replaces the cached ones and shows them.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/integrations/{id}/templates/refresh", tag = "integrations",
    params(("ws" = String, Path), ("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TemplateList), (status = 404, body = Problem), (status = 410, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn refresh(
    _auth: Authorized<Write>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
) -> Result<Json<TemplateList>, Problem> {
    let integration = templated(&state, &ws, id).await?;
    if integration.status != IntegrationStatus::Connected {
        return Err(rule(
            "integration-not-connected",
            format!("the integration is {:?}, not connected", integration.status).to_lowercase(),
        ));
    }
    Ok(Json(
        template_cache::refresh(&state, &integration, id).await?,
    ))
}

/// The integration of `ws`, live, of a channel that sends templates.
async fn templated(
    state: &AppState,
    ws: &WorkspaceId,
    id: IntegrationId,
) -> Result<Integration, Problem> {
    let integration = owned_integration(state, ws, id).await?;
    if integration.status == IntegrationStatus::Deleted {
        return Err(IntegrationError::Deleted.into());
    }
    let channel = integration
        .channel
        .clone()
        .ok_or_else(|| Problem::not_found("integration not found"))?;
    let templates = state
        .channels
        .sender(&channel)
        .is_some_and(|s| s.sends_templates());
    if !templates {
        return Err(rule(
            "channel-has-no-templates",
            format!("the {channel} channel has no message templates"),
        ));
    }
    Ok(integration)
}
