//! `/v1/workspaces/{ws}/settings/integrations`: the settings read model (integrations per
//! workspace and channel with status, connected account and last error) for settings pages.
//! Eventually consistent with commands; `GET /v1/workspaces/{ws}/integrations` reads the
//! event store instead when a caller needs its own write back at once. Never shows secrets.

use crate::auth::{Authorized, Read};
use crate::error::Problem;
use crate::extract::{Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::WorkspaceId;
use switchboard_domain::{ChannelCatalog, ChannelKind};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The settings routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/workspaces/{ws}/settings/integrations", get(list))
        .route(
            "/v1/workspaces/{ws}/settings/platform-apps",
            get(platform_apps),
        )
}

/// One integration as a settings page shows it.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct SettingsIntegration {
    /// Its id.
    pub id: Uuid,
    /// Its channel.
    pub channel: String,
    /// Its name.
    pub name: String,
    /// `created`, `connected` or `disconnected`.
    pub status: String,
    /// The connected account (page name, phone number, OA…).
    #[schema(value_type = Object)]
    pub account: serde_json::Value,
    /// Why it was last disconnected.
    pub last_error: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who made that change: `key:<API key id>`, `jwt:<subject>` or `adapter:<channel>`.
    pub updated_by: Option<String>,
}

/// `GET /v1/workspaces/{ws}/settings/integrations`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsList {
    /// Live integrations, by channel then age.
    pub items: Vec<SettingsIntegration>,
}

/// Filter of the settings list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SettingsFilter {
    /// Only this channel.
    pub channel: Option<String>,
}

/// Lists a workspace's live integrations from the settings read model.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/settings/integrations", tag = "settings",
    params(("ws" = String, Path, description = "Workspace id"), SettingsFilter),
    responses((status = 200, body = SettingsList), (status = 503, body = Problem)))]
pub async fn list(
    _auth: Authorized<Read>,
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
    Query(filter): Query<SettingsFilter>,
) -> Result<Json<SettingsList>, Problem> {
    let known = |name: &String| {
        ChannelKind::parse(name).is_some_and(|kind| state.channels.spec(&kind).is_some())
    };
    if filter.channel.as_ref().is_some_and(|name| !known(name)) {
        return Err(Problem::bad_request("unknown channel in the filter"));
    }
    let items = sqlx::query_as::<_, SettingsIntegration>(
        "SELECT integration_id AS id, channel, name, status, account, last_error, updated_at, updated_by
         FROM settings.integrations
         WHERE workspace_id = $1 AND status <> 'deleted' AND ($2::text IS NULL OR channel = $2)
         ORDER BY channel, created_at, integration_id",
    )
    .bind(ws.as_str())
    .bind(filter.channel)
    .fetch_all(&state.pool)
    .await
    .map_err(Problem::from)?;
    Ok(Json(SettingsList { items }))
}

/// One channel's platform credentials as a settings page shows them: whether the operator has
/// set and verified them (an OAuth channel can be added only then). Never secrets.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct SettingsPlatformApp {
    /// The channel.
    pub channel: String,
    /// `unverified`, `verified` or `refused`.
    pub status: String,
    /// How the last verification found them good: `platform` or `fields_only`.
    pub check_method: Option<String>,
    /// When they were last found good.
    pub verified_at: Option<DateTime<Utc>>,
    /// When they last changed.
    pub updated_at: DateTime<Utc>,
}

/// `GET /v1/workspaces/{ws}/settings/platform-apps`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsPlatformApps {
    /// By channel.
    pub items: Vec<SettingsPlatformApp>,
}

/// Lists each channel's platform credentials status from the settings read model.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/settings/platform-apps", tag = "settings",
    params(("ws" = String, Path, description = "Workspace id")),
    responses((status = 200, body = SettingsPlatformApps), (status = 503, body = Problem)))]
pub async fn platform_apps(
    _auth: Authorized<Read>,
    State(state): State<AppState>,
    Path(_ws): Path<WorkspaceId>,
) -> Result<Json<SettingsPlatformApps>, Problem> {
    let items = sqlx::query_as::<_, SettingsPlatformApp>(
        "SELECT channel, status, check_method, verified_at, updated_at
         FROM settings.platform_apps ORDER BY channel",
    )
    .fetch_all(&state.pool)
    .await
    .map_err(Problem::from)?;
    Ok(Json(SettingsPlatformApps { items }))
}
