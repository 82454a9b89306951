//! `/v1/workspaces/{ws}/integrations`: the Integration aggregate over HTTP.

use crate::auth::{Admin, Authorized, Caller, Read};
use crate::connecting::{connect_integration, delete_integration, disconnect_integration, owned};
use crate::error::Problem;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use crate::views::{
    ConnectIntegration, CreateIntegration, DisconnectIntegration, IntegrationList, IntegrationView,
    ListFilter, RefreshCredentials, UpdateIntegration,
};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use switchboard_adapters::kafka::trace_context::current_traceparent;
use switchboard_adapters::store::CommandMetadata;
use switchboard_domain::integration::{IntegrationCommand, IntegrationStatus};
use switchboard_domain::{ChannelCatalog, ChannelKind, IntegrationId, WorkspaceId};

/// The integration routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/workspaces/{ws}/integrations", post(create).get(list))
        .route(
            "/v1/workspaces/{ws}/integrations/{id}",
            get(show).patch(update).delete(delete),
        )
        .route(
            "/v1/workspaces/{ws}/integrations/{id}/connect",
            post(connect),
        )
        .route(
            "/v1/workspaces/{ws}/integrations/{id}/credentials",
            post(refresh_credentials),
        )
        .route(
            "/v1/workspaces/{ws}/integrations/{id}/disconnect",
            post(disconnect),
        )
}

/// Creates an integration.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/integrations", tag = "integrations",
    params(("ws" = String, Path, description = "Workspace id")),
    request_body = CreateIntegration,
    responses((status = 201, body = IntegrationView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    auth: Authorized<Admin>,
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
    Json(body): Json<CreateIntegration>,
) -> Result<Response, Problem> {
    let channel = ChannelKind::parse(&body.channel).ok_or_else(|| {
        Problem::invalid(format!("unknown channel '{}'", body.channel.escape_debug()))
    })?;
    crate::platform_checks::require_verified(&state, &channel)?;
    let id = body.id.map(IntegrationId::from).unwrap_or_default();
    let command = IntegrationCommand::Create {
        integration_id: id,
        workspace_id: ws.clone(),
        channel,
        name: body.name,
        auth: body.auth,
    };
    state
        .integrations
        .execute(id, command, metadata(&auth.caller))
        .await?;
    let view = owned(&state, &ws, id).await?;
    let location = format!("/v1/workspaces/{ws}/integrations/{id}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(view),
    )
        .into_response())
}

/// Lists a workspace's live integrations.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/integrations", tag = "integrations",
    params(("ws" = String, Path, description = "Workspace id"), ("channel" = Option<String>, Query, description = "Only this channel")),
    responses((status = 200, body = IntegrationList)))]
pub async fn list(
    _auth: Authorized<Read>,
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
    Query(filter): Query<ListFilter>,
) -> Result<axum::Json<IntegrationList>, Problem> {
    let channel = match filter.channel.as_deref() {
        Some(name) => Some(
            ChannelKind::parse(name)
                .filter(|kind| state.channels.spec(kind).is_some())
                .ok_or_else(|| Problem::bad_request("unknown channel in the filter"))?,
        ),
        None => None,
    };
    let items = state.integrations.list(&ws, channel.as_ref()).await?;
    Ok(axum::Json(IntegrationList {
        items: items.iter().map(IntegrationView::from).collect(),
    }))
}

/// Shows one integration.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/integrations/{id}", tag = "integrations",
    params(("ws" = String, Path), ("id" = uuid::Uuid, Path)),
    responses((status = 200, body = IntegrationView), (status = 404, body = Problem), (status = 410, body = Problem)))]
pub async fn show(
    _auth: Authorized<Read>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
) -> Result<axum::Json<IntegrationView>, Problem> {
    let view = owned(&state, &ws, id).await?;
    if view.status == IntegrationStatus::Deleted {
        return Err(switchboard_domain::integration::IntegrationError::Deleted.into());
    }
    Ok(axum::Json(view))
}

/// Connects an integration: the platform proves the account with the credentials and is asked
/// to deliver its webhooks here first (422 when it refuses them or names another account, 502
/// or 503 with `Retry-After` when it cannot be reached, 409 when a webhook URL is needed and
/// `public_base_url` is not configured).
#[utoipa::path(post, path = "/v1/workspaces/{ws}/integrations/{id}/connect", tag = "integrations",
    params(("ws" = String, Path), ("id" = uuid::Uuid, Path)), request_body = ConnectIntegration,
    responses((status = 200, body = IntegrationView), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 502, body = Problem), (status = 503, body = Problem)))]
pub async fn connect(
    auth: Authorized<Admin>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
    Json(body): Json<ConnectIntegration>,
) -> Result<axum::Json<IntegrationView>, Problem> {
    let account = body.account.map(Into::into);
    let view =
        connect_integration(&state, metadata(&auth.caller), &ws, id, body.auth, account).await?;
    Ok(axum::Json(view))
}

/// Renames an integration or replaces its settings.
#[utoipa::path(patch, path = "/v1/workspaces/{ws}/integrations/{id}", tag = "integrations",
    params(("ws" = String, Path), ("id" = uuid::Uuid, Path)), request_body = UpdateIntegration,
    responses((status = 200, body = IntegrationView), (status = 422, body = Problem)))]
pub async fn update(
    auth: Authorized<Admin>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
    Json(body): Json<UpdateIntegration>,
) -> Result<axum::Json<IntegrationView>, Problem> {
    let command = IntegrationCommand::UpdateSettings {
        name: body.name,
        settings: body.settings,
    };
    command_then_show(&state, &auth.caller, &ws, id, command).await
}

/// Replaces credentials.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/integrations/{id}/credentials", tag = "integrations",
    params(("ws" = String, Path), ("id" = uuid::Uuid, Path)), request_body = RefreshCredentials,
    responses((status = 200, body = IntegrationView), (status = 422, body = Problem)))]
pub async fn refresh_credentials(
    auth: Authorized<Admin>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
    Json(body): Json<RefreshCredentials>,
) -> Result<axum::Json<IntegrationView>, Problem> {
    command_then_show(
        &state,
        &auth.caller,
        &ws,
        id,
        IntegrationCommand::RefreshCredentials { auth: body.auth },
    )
    .await
}

/// Disconnects an integration (a no-op when it is disconnected already).
#[utoipa::path(post, path = "/v1/workspaces/{ws}/integrations/{id}/disconnect", tag = "integrations",
    params(("ws" = String, Path), ("id" = uuid::Uuid, Path)), request_body = DisconnectIntegration,
    responses((status = 200, body = IntegrationView), (status = 409, body = Problem)))]
pub async fn disconnect(
    auth: Authorized<Admin>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
    Json(body): Json<DisconnectIntegration>,
) -> Result<axum::Json<IntegrationView>, Problem> {
    let view = disconnect_integration(&state, metadata(&auth.caller), &ws, id, body.reason).await?;
    Ok(axum::Json(view))
}

/// Deletes an integration for good.
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/integrations/{id}", tag = "integrations",
    params(("ws" = String, Path), ("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 410, body = Problem)))]
pub async fn delete(
    auth: Authorized<Admin>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
) -> Result<StatusCode, Problem> {
    delete_integration(&state, metadata(&auth.caller), &ws, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn command_then_show(
    state: &AppState,
    caller: &Caller,
    ws: &WorkspaceId,
    id: IntegrationId,
    command: IntegrationCommand,
) -> Result<axum::Json<IntegrationView>, Problem> {
    owned(state, ws, id).await?;
    state
        .integrations
        .execute(id, command, metadata(caller))
        .await?;
    // This process's webhooks see the change at once (others within `webhook_cache_ms`).
    state.webhook_targets.invalidate(id).await;
    Ok(axum::Json(owned(state, ws, id).await?))
}

/// The command's metadata: the request, its trace, and the caller as the actor.
pub(crate) fn metadata(caller: &Caller) -> CommandMetadata {
    CommandMetadata {
        request_id: crate::routes::middleware::current_request_id(),
        actor: Some(caller.actor()),
        traceparent: current_traceparent(),
    }
}
