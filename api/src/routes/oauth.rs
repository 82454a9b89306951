//! The OAuth2 connect flows over HTTP: `POST /v1/workspaces/{ws}/integrations/{id}/oauth/authorize`
//! (a workspace admin asks for the platform's authorization URL), `GET
//! /oauth/{channel}/callback` (the browser comes back from the platform with a code) and `POST
//! …/oauth/complete` (module `oauth_complete`: the admin's browser completes the connect).
//!
//! The callback is unauthenticated, because the browser arrives from the platform, and safe
//! because of its state (see `oauth_state`): signed by this service, bound to one workspace,
//! integration and channel, single-use and ten minutes long. It trades the code through the
//! channel's flow (the channel folders' `oauth.rs`) at once (codes expire fast) but connects
//! nothing: whoever's browser arrives may not be the admin who asked (an authorization URL can
//! be sent to anyone). It keeps the outcome pending, tokens sealed, under the hash of the
//! browser binding the authorize step handed its caller (module `oauth_outcomes`), and answers
//! the outcome's id: with `oauth_return_url` configured by sending the browser there
//! (`?integration=…&outcome=<id>`, or `?integration=…&error=<problem>`), otherwise as JSON.
//! The caller's frontend then completes it with the binding it kept.

use crate::auth::{Admin, Authorized};
use crate::connecting::owned;
use crate::error::Problem;
use crate::extract::{Json, Path, Query};
use crate::oauth_outcomes::{OAuthOutcomes, Pending};
use crate::oauth_state::{PendingFlow, StateError};
use crate::routes::oauth_problems::{flow_problem, state_problem};
use crate::state::AppState;
use crate::views::IntegrationView;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use switchboard_adapters::channels::oauth_flow::{
    flow_for, new_pkce, url_with, AuthorizeParams, CallbackParams, OAuthFlow,
};
use switchboard_domain::integration::IntegrationStatus;
use switchboard_domain::{ChannelKind, IntegrationId, SecretString, WorkspaceId};
use utoipa::ToSchema;

/// Longest account hint accepted (page, phone number and spreadsheet ids are far shorter).
const MAX_HINT_CHARS: usize = 200;

/// The OAuth routes: the authorize route (guarded with the other workspace routes) and the
/// callback (open).
pub fn workspace_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/workspaces/{ws}/integrations/{id}/oauth/authorize",
            post(authorize),
        )
        .route(
            "/v1/workspaces/{ws}/integrations/{id}/oauth/complete",
            post(crate::routes::oauth_complete::complete),
        )
}

/// The platforms' callback route.
pub fn callback_routes() -> Router<AppState> {
    Router::new().route("/oauth/{channel}/callback", get(callback))
}

/// `POST …/{id}/oauth/authorize`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// The account to connect when the grant may cover several: a Facebook page id, a
    /// WhatsApp phone number id, a Google spreadsheet id (required for Google Sheets unless the
    /// integration has its `spreadsheet_id`).
    pub account: Option<String>,
}

/// Where to send the browser, and what the caller's frontend keeps to complete the flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct Authorization {
    /// The platform's authorization URL, with the state (and PKCE challenge).
    pub authorization_url: String,
    /// The callback the platform will send the browser back to (register it with the platform).
    pub redirect_uri: String,
    /// When the state stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// The one-time browser binding secret: keep it in the browser that starts the flow (not
    /// in the URL) and present it to `…/oauth/complete`; shown only here, stored only hashed.
    pub binding: String,
}

/// What the callback obtained, pending its completion by the browser that started the flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingOutcome {
    /// The integration to connect.
    #[schema(value_type = uuid::Uuid)]
    pub integration: IntegrationId,
    /// The outcome's id, for `…/oauth/complete`.
    pub outcome: uuid::Uuid,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Starts a connect flow: the platform's authorization URL for this integration.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/integrations/{id}/oauth/authorize", tag = "integrations",
    params(("ws" = String, Path), ("id" = uuid::Uuid, Path)), request_body = AuthorizeRequest,
    responses((status = 200, body = Authorization), (status = 409, body = Problem),
        (status = 410, body = Problem), (status = 422, body = Problem)))]
pub async fn authorize(
    auth: Authorized<Admin>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
    Json(body): Json<AuthorizeRequest>,
) -> Result<axum::Json<Authorization>, Problem> {
    let view = owned(&state, &ws, id).await?;
    match view.status {
        IntegrationStatus::Deleted => {
            return Err(switchboard_domain::integration::IntegrationError::Deleted.into())
        }
        IntegrationStatus::Connected => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "lifecycle-conflict",
                "Not allowed in this state",
                "the integration is connected; disconnect it before connecting it again",
            ))
        }
        _ => {}
    }
    let channel = ChannelKind::parse(&view.channel)
        .ok_or_else(|| Problem::invalid("the integration's channel is unknown"))?;
    let flow = flow_for(&channel).ok_or_else(|| {
        Problem::invalid(format!(
            "channel {channel} is not connected through OAuth; use the connect route"
        ))
    })?;
    // Refused before the user consents, not after, at the callback.
    crate::platform_checks::require_verified(&state, &channel)?;
    let redirect_uri = redirect_uri(&state, &channel)?;
    let hint = account_hint(flow.as_ref(), body.account, &view)?;
    let platform = state.platform_credentials.for_channel(&channel);
    let (challenge, verifier) = if flow.uses_pkce() {
        let (challenge, verifier) = new_pkce();
        (Some(challenge), Some(verifier))
    } else {
        (None, None)
    };
    let mut params = AuthorizeParams {
        state: String::new(),
        redirect_uri: redirect_uri.clone(),
        code_challenge: challenge,
    };
    // Checked before a state is issued: a platform not configured leaves no row behind.
    flow.authorization_url(&platform, &params)
        .map_err(flow_problem)?;
    let pending = PendingFlow {
        workspace: ws,
        integration: id,
        channel,
        pkce_verifier: verifier,
        account_hint: hint,
        actor: Some(auth.caller.actor()),
        binding_hash: None,
    };
    let issued = state
        .oauth_states
        .issue(pending)
        .await
        .map_err(state_problem)?;
    params.state = issued.state;
    let authorization_url = flow
        .authorization_url(&platform, &params)
        .map_err(flow_problem)?;
    Ok(axum::Json(Authorization {
        authorization_url,
        redirect_uri,
        expires_at: issued.expires_at,
        binding: issued.binding.expose().to_owned(),
    }))
}

/// The platform's redirect after consent: trades the code and keeps the outcome pending for the
/// browser that started the flow (no event is recorded).
#[utoipa::path(get, path = "/oauth/{channel}/callback", tag = "integrations",
    params(("channel" = String, Path), ("state" = Option<String>, Query, description = "The state of the authorize step"),
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("error" = Option<String>, Query, description = "Why the platform sent no code (consent denied)")),
    responses((status = 200, body = PendingOutcome), (status = 303, description = "To `oauth_return_url` with `integration` and `outcome` (or `error`)"),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 410, body = Problem), (status = 422, body = Problem),
        (status = 502, body = Problem), (status = 503, body = Problem)))]
pub async fn callback(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let mut integration = None;
    let outcome = complete(&state, &channel, query, &mut integration).await;
    let Some(back) = state.oauth_return_url.as_deref() else {
        return match outcome {
            Ok(view) => axum::Json(view).into_response(),
            Err(problem) => problem.into_response(),
        };
    };
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(id) = integration {
        pairs.push(("integration", id.to_string()));
    }
    match &outcome {
        Ok(pending) => pairs.push(("outcome", pending.outcome.to_string())),
        Err(problem) => {
            let slug = problem.problem_type.trim_start_matches("/problems/");
            pairs.push(("error", slug.to_owned()));
        }
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match url_with(back, &pairs) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => Problem::internal(&"oauth_return_url is not a valid URL").into_response(),
    }
}

/// The callback's work: the state, the platform's answer, the exchange, the pending outcome.
async fn complete(
    state: &AppState,
    channel: &str,
    mut query: BTreeMap<String, String>,
    integration: &mut Option<IntegrationId>,
) -> Result<PendingOutcome, Problem> {
    let channel =
        ChannelKind::parse(channel).ok_or_else(|| Problem::not_found("no such channel"))?;
    let flow = flow_for(&channel)
        .ok_or_else(|| Problem::not_found("this channel has no OAuth callback"))?;
    let signed = query
        .remove("state")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| state_problem(StateError::Invalid))?;
    let pending = match state.oauth_states.take(&signed, &channel).await {
        Ok(pending) => pending,
        Err(error) => {
            tracing::info!(%channel, reason = %error, "OAuth callback refused");
            return Err(state_problem(error));
        }
    };
    *integration = Some(pending.integration);
    if let Some(error) = query.remove("error") {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "oauth-consent-denied",
            "Consent denied",
            format!(
                "the account holder did not grant access ({})",
                printable(&error)
            ),
        ));
    }
    let code = query
        .remove("code")
        .or_else(|| query.remove("auth_code"))
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Problem::bad_request("the callback carries no authorization code"))?;
    let redirect_uri = redirect_uri(state, &channel)?;
    let platform = state.platform_credentials.for_channel(&channel);
    let callback = CallbackParams {
        code: SecretString::new(code),
        redirect_uri,
        code_verifier: pending.pkce_verifier,
        account_hint: pending.account_hint,
        query,
    };
    let connection = flow
        .exchange(&state.oauth_http, &platform, callback)
        .await
        .map_err(flow_problem)?;
    tracing::info!(
        integration_id = %pending.integration,
        channel = %channel,
        account = connection.account.external_id.as_deref().unwrap_or(""),
        "OAuth code exchanged; pending until the browser that started the flow completes it"
    );
    let binding_hash = pending
        .binding_hash
        .as_deref()
        .ok_or_else(|| state_problem(StateError::Invalid))?;
    let (outcome, expires_at) = OAuthOutcomes::new(state.integrations.clone())
        .store(Pending {
            workspace: &pending.workspace,
            integration: pending.integration,
            channel: &channel,
            binding_hash,
            connection,
        })
        .await
        .map_err(crate::routes::oauth_complete::outcome_problem)?;
    Ok(PendingOutcome {
        integration: pending.integration,
        outcome,
        expires_at,
    })
}

/// `{public_base_url}/oauth/{channel}/callback`, or 409 when the public URL is not configured.
fn redirect_uri(state: &AppState, channel: &ChannelKind) -> Result<String, Problem> {
    let base = state.public_base_url.as_deref().ok_or_else(|| {
        Problem::new(
            StatusCode::CONFLICT,
            "oauth-not-configured",
            "OAuth not configured",
            "public_base_url is not configured, so there is no callback URL to register",
        )
    })?;
    Ok(format!("{base}/oauth/{channel}/callback"))
}

/// The account the caller asked for, else the integration's own field, checked.
fn account_hint(
    flow: &dyn OAuthFlow,
    asked: Option<String>,
    view: &IntegrationView,
) -> Result<Option<String>, Problem> {
    let stored = flow
        .hint_field()
        .and_then(|field| view.auth.get(field))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let hint = asked
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .or(stored);
    if let Some(hint) = &hint {
        if hint.chars().count() > MAX_HINT_CHARS || hint.chars().any(char::is_control) {
            return Err(Problem::invalid(format!(
                "account must be 1-{MAX_HINT_CHARS} characters without control characters"
            )));
        }
    }
    if hint.is_none() && flow.needs_hint() {
        let field = flow.hint_field().unwrap_or("account");
        return Err(Problem::invalid(format!(
            "name the account to connect: `account` in the body, or the integration's {field}"
        )));
    }
    Ok(hint)
}

/// A platform's error code as shown: printable ASCII, at most 64 characters.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_-. ".contains(*c))
        .take(64)
        .collect()
}
