//! `GET /v1/channels`: every registered channel with its auth fields (and its platform
//! credentials' fields) as JSON Schema, its actions with their input and output schemas, and
//! whether it can be added now.

use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use switchboard_domain::ChannelCatalog;
use utoipa::ToSchema;

/// One channel as the settings pages need it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    /// Registry name, used in URLs and `channel` fields.
    pub kind: String,
    /// Human name.
    pub display_name: String,
    /// `custom` or `oauth2`.
    pub auth_scheme: String,
    /// Whether the platform's shared OAuth app must be configured.
    pub needs_platform_credentials: bool,
    /// Whether integrations of it can be created now: it needs no platform credentials, or
    /// the operator has set and verified them (settings pages hide "Add" otherwise).
    pub available: bool,
    /// JSON Schema of the credentials.
    #[schema(value_type = Object)]
    pub auth_schema: Value,
    /// JSON Schema of its platform credentials (`PUT /v1/platform-credentials/{channel}`).
    #[schema(value_type = Option<Object>)]
    pub platform_auth_schema: Option<Value>,
    /// Its actions (`POST /v1/workspaces/{ws}/integrations/{id}/actions/{name}`); empty for
    /// most channels.
    pub actions: Vec<ChannelActionView>,
}

/// One action of a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelActionView {
    /// Its name, the last segment of its route.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input (the request body).
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// JSON Schema of its output (`output` of the status route and of `ActionCompleted`).
    #[schema(value_type = Object)]
    pub output_schema: Value,
}

/// The channel list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelList {
    /// In registry order.
    pub items: Vec<ChannelView>,
}

/// The channel routes.
pub fn routes() -> axum::Router<AppState> {
    Router::new().route("/v1/channels", get(list))
}

/// Lists channels and their auth schemas.
#[utoipa::path(get, path = "/v1/channels", tag = "channels", responses((status = 200, body = ChannelList)))]
pub async fn list(State(state): State<AppState>) -> Json<ChannelList> {
    let platform = state.platform_credentials.current();
    let items = state
        .channels
        .all()
        .into_iter()
        .map(|spec| ChannelView {
            kind: spec.kind.to_string(),
            display_name: spec.display_name.to_owned(),
            auth_scheme: serde_json::to_value(spec.auth.scheme)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            needs_platform_credentials: spec.needs_platform_credentials,
            available: !spec.needs_platform_credentials || platform.is_verified(&spec.kind),
            auth_schema: spec.auth.json_schema(),
            platform_auth_schema: state
                .channels
                .platform_fields(&spec.kind)
                .map(|fields| fields.json_schema()),
            actions: state
                .channels
                .actions(&spec.kind)
                .iter()
                .map(|action| {
                    let spec = action.spec();
                    ChannelActionView {
                        name: spec.name.to_string(),
                        description: spec.description.to_owned(),
                        input_schema: spec.input_schema.clone(),
                        output_schema: spec.output_schema.clone(),
                    }
                })
                .collect(),
        })
        .collect();
    Json(ChannelList { items })
}
