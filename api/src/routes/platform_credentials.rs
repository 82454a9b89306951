//! `/v1/platform-credentials`: the operator puts, shows (without secrets), verifies and
//! deletes each channel's platform credentials (the platform app every workspace shares).
//! Integrations of a channel that needs them are created and connected only once they are
//! verified (see `platform_checks`).

use crate::auth::Operator;
use crate::error::Problem;
use crate::extract::{Json, Path};
use crate::platform_checks::{operator_metadata, verify_channel};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_adapters::store::PlatformStoreError;
use switchboard_domain::platform::{
    PlatformApp, PlatformCommand, PlatformError, PlatformStatus, VerificationCheck,
    VerificationOutcome,
};
use switchboard_domain::{AuthInput, ChannelKind};
use utoipa::ToSchema;

/// The platform credential routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/platform-credentials", get(list))
        .route(
            "/v1/platform-credentials/{channel}",
            get(show).put(put).delete(delete),
        )
        .route("/v1/platform-credentials/{channel}/verify", post(verify))
}

/// A channel's platform credentials, secrets shown only as `"[set]"`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformCredentialsView {
    /// The channel.
    pub channel: String,
    /// `unverified`, `verified` or `refused`.
    #[schema(value_type = String)]
    pub status: PlatformStatus,
    /// The fields; secrets as `"[set]"`.
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// How the last verification found them good: `platform` (the platform accepted them)
    /// or `fields_only` (the platform has no such check).
    #[schema(value_type = Option<String>)]
    pub check: Option<VerificationCheck>,
    /// When they were last found good.
    pub verified_at: Option<DateTime<Utc>>,
    /// The platform's words when it last refused them.
    pub refusal: Option<String>,
    /// When they last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<&PlatformApp> for PlatformCredentialsView {
    fn from(app: &PlatformApp) -> Self {
        Self {
            channel: app
                .channel
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            status: app.status,
            fields: app.fields.redacted(),
            check: app.check,
            verified_at: app.verified_at,
            refusal: app.refusal.clone(),
            updated_at: app.updated_at,
        }
    }
}

/// Every channel's platform credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformCredentialsList {
    /// By channel.
    pub items: Vec<PlatformCredentialsView>,
}

/// Lists every channel's platform credentials, without secrets.
#[utoipa::path(get, path = "/v1/platform-credentials", tag = "platform-credentials", security(("operator" = [])),
    responses((status = 200, body = PlatformCredentialsList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    _operator: Operator,
    State(state): State<AppState>,
) -> Result<axum::Json<PlatformCredentialsList>, Problem> {
    let apps = state.platform_apps.list().await?;
    Ok(axum::Json(PlatformCredentialsList {
        items: apps.iter().map(PlatformCredentialsView::from).collect(),
    }))
}

/// Shows a channel's platform credentials, without secrets.
#[utoipa::path(get, path = "/v1/platform-credentials/{channel}", tag = "platform-credentials", security(("operator" = [])),
    params(("channel" = String, Path, description = "A channel with a platform app")),
    responses((status = 200, body = PlatformCredentialsView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn show(
    _operator: Operator,
    State(state): State<AppState>,
    Path(channel): Path<String>,
) -> Result<axum::Json<PlatformCredentialsView>, Problem> {
    let channel = platform_channel(&state, &channel)?;
    let app = state.platform_apps.load(&channel).await?;
    if app.status == PlatformStatus::Absent {
        return Err(PlatformError::NotFound.into());
    }
    Ok(axum::Json(PlatformCredentialsView::from(&app)))
}

/// Sets every field of a channel's platform credentials; they then await verification.
/// Putting the stored fields again changes nothing.
#[utoipa::path(put, path = "/v1/platform-credentials/{channel}", tag = "platform-credentials", security(("operator" = [])),
    params(("channel" = String, Path, description = "A channel with a platform app")),
    request_body(content = Object, description = "The fields, as GET /v1/channels lists them under `platform_auth_schema`"),
    responses((status = 200, body = PlatformCredentialsView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put(
    _operator: Operator,
    State(state): State<AppState>,
    Path(channel): Path<String>,
    Json(fields): Json<AuthInput>,
) -> Result<axum::Json<PlatformCredentialsView>, Problem> {
    let channel = platform_channel(&state, &channel)?;
    let command = PlatformCommand::Put {
        channel: channel.clone(),
        fields,
    };
    state
        .platform_apps
        .execute(&channel, command, operator_metadata())
        .await?;
    state.webhook_targets.invalidate_all().await;
    show_current(&state, &channel).await
}

/// Checks a channel's platform credentials with the platform (where it has a call for it)
/// and records the outcome: 200 when good, 422 `platform-credentials-refused` when the
/// platform refused them (recorded too), 503 when the platform could not be asked (nothing
/// recorded).
#[utoipa::path(post, path = "/v1/platform-credentials/{channel}/verify", tag = "platform-credentials", security(("operator" = [])),
    params(("channel" = String, Path, description = "A channel with a platform app")),
    responses((status = 200, body = PlatformCredentialsView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn verify(
    _operator: Operator,
    State(state): State<AppState>,
    Path(channel): Path<String>,
) -> Result<axum::Json<PlatformCredentialsView>, Problem> {
    let channel = platform_channel(&state, &channel)?;
    let outcome = verify_channel(&state, &channel).await?;
    if let VerificationOutcome::Refused(words) = outcome {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "platform-credentials-refused",
            "Platform credentials refused",
            format!("the platform refused the credentials: {words}"),
        ));
    }
    show_current(&state, &channel).await
}

/// Deletes a channel's platform credentials: its integrations can no longer be created or
/// connected, and its webhooks no longer verify.
#[utoipa::path(delete, path = "/v1/platform-credentials/{channel}", tag = "platform-credentials", security(("operator" = [])),
    params(("channel" = String, Path, description = "A channel with a platform app")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    _operator: Operator,
    State(state): State<AppState>,
    Path(channel): Path<String>,
) -> Result<StatusCode, Problem> {
    let channel = platform_channel(&state, &channel)?;
    state
        .platform_apps
        .execute(&channel, PlatformCommand::Delete, operator_metadata())
        .await?;
    state.webhook_targets.invalidate_all().await;
    Ok(StatusCode::NO_CONTENT)
}

async fn show_current(
    state: &AppState,
    channel: &ChannelKind,
) -> Result<axum::Json<PlatformCredentialsView>, Problem> {
    let app = state.platform_apps.load(channel).await?;
    Ok(axum::Json(PlatformCredentialsView::from(&app)))
}

/// The channel named in the path, if it has a platform app; 404 otherwise.
fn platform_channel(state: &AppState, name: &str) -> Result<ChannelKind, Problem> {
    ChannelKind::parse(name)
        .filter(|kind| state.channels.platform_app(kind).is_some())
        .ok_or_else(|| Problem::not_found("no channel with platform credentials has this name"))
}

impl From<PlatformStoreError> for Problem {
    fn from(error: PlatformStoreError) -> Self {
        match error {
            PlatformStoreError::Rejected(rejected) => rejected.into(),
            PlatformStoreError::Conflict => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                "the platform credentials changed concurrently; try again",
            ),
            PlatformStoreError::Unavailable(_) => {
                Problem::unavailable("the database is unavailable")
            }
            PlatformStoreError::Corrupt(_) => Problem::internal(&error),
        }
    }
}

impl From<PlatformError> for Problem {
    fn from(error: PlatformError) -> Self {
        match error {
            PlatformError::NotFound => Problem::not_found(error.to_string()),
            PlatformError::UnknownChannel(_) | PlatformError::NoPlatformApp(_) => {
                Problem::not_found("no channel with platform credentials has this name")
            }
            PlatformError::WrongChannel => Problem::invalid(error.to_string()),
            PlatformError::InvalidFields(problems) => {
                Problem::invalid("the fields do not match the channel's platform fields")
                    .with_errors(problems)
            }
            PlatformError::Stale => Problem::new(
                StatusCode::CONFLICT,
                "platform-credentials-changed",
                "Platform credentials changed",
                error.to_string(),
            ),
            PlatformError::Sealing(_) => Problem::internal(&error),
        }
    }
}
