//! `POST /v1/workspaces/{ws}/integrations/{id}/actions/{action}`: a bot flow asks an
//! integration to perform one of its channel's actions (append a row, send an e-mail).
//!
//! The order of refusals: the integration must exist in the workspace (404) and not be
//! deleted (410); its channel must have the action (404); a repeated idempotency key answers
//! the first request's action id; the integration must be connected (422
//! `integration-not-connected`); the input, with absent top-level fields taken from the
//! integration's settings of the same name, must pass the action's schema and rules (422
//! `validation`, one entry per field). Then `ActionRequested` goes to `actions.requested`
//! (key = integration id) and the answer is 202 with the action id once the broker
//! acknowledged it (503 with `Retry-After` otherwise); the adapters run it and the status
//! route shows the outcome.
//!
//! # Guarantees
//! With an `Idempotency-Key` header, the same key in a workspace always names the same action
//! and produces it once: a concurrent or later repeat waits on the first request's row lock and
//! then answers the same action id. Reusing a key for a different request is 409.

use crate::auth::{Authorized, Write};
use crate::error::Problem;
use crate::extract::{Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_adapters::channels::action::ChannelAction;
use switchboard_adapters::kafka::trace_context::current_traceparent;
use switchboard_adapters::kafka::{CloudEvent, OutgoingRecord};
use switchboard_domain::action::{ActionId, ActionName, ActionRequested};
use switchboard_domain::integration::{Integration, IntegrationError, IntegrationStatus};
use switchboard_domain::message::EVENT_ID_NAMESPACE;
use switchboard_domain::{IntegrationId, WorkspaceId};
use utoipa::ToSchema;
use uuid::Uuid;

/// The CloudEvents type of an action request.
pub const ACTION_REQUESTED_TYPE: &str = "switchboard.action.ActionRequested.v1";
const IDEMPOTENCY_HEADER: &str = "idempotency-key";
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// The action route.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/workspaces/{ws}/integrations/{id}/actions/{action}",
        post(request_action),
    )
}

/// The answer: the action is requested.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionRequestAccepted {
    /// Its id: `GET /v1/workspaces/{ws}/actions/{action_id}` shows its outcome.
    pub action_id: Uuid,
    /// Always `requested`.
    pub status: &'static str,
}

/// Requests an action of an integration; the body is the action's input, as `GET /v1/channels`
/// describes it under `actions[].input_schema`.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/integrations/{id}/actions/{action}", tag = "actions",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = Uuid, Path, description = "Integration id"),
        ("action" = String, Path, description = "The action's name within the integration's channel"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key answers the same action id")),
    request_body(content = Object, description = "The action's input"),
    responses((status = 202, body = ActionRequestAccepted, headers(("Location" = String, description = "The status route"))),
        (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 410, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn request_action(
    _auth: Authorized<Write>,
    State(state): State<AppState>,
    Path((ws, id, action_name)): Path<(WorkspaceId, IntegrationId, String)>,
    headers: HeaderMap,
    Json(input): Json<Value>,
) -> Result<Response, Problem> {
    let integration = integration(&state, &ws, id).await?;
    let Some(channel) = integration.channel.clone() else {
        return Err(Problem::not_found("integration not found"));
    };
    let action = state
        .channels
        .action(&channel, &action_name)
        .cloned()
        .ok_or_else(|| no_such_action(&channel, &action_name))?;
    let key = idempotency_key(&headers)?;
    let hash = request_hash(id, &action_name, &input);
    if let Some(key) = &key {
        if let Some(action_id) = already_produced(&state, &ws, key, &hash).await? {
            return Ok(accepted(&ws, action_id));
        }
    }
    if integration.status != IntegrationStatus::Connected {
        return Err(not_connected(integration.status));
    }
    let input = with_settings(action.as_ref(), input, &integration.settings);
    let problems = action.check(&input);
    if !problems.is_empty() {
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        let detail = format!(
            "the input of {action_name} is invalid: {}",
            fields.join(", ")
        );
        return Err(Problem::invalid(detail).with_errors(problems));
    }
    let action_id = match &key {
        Some(key) => Uuid::new_v5(
            &EVENT_ID_NAMESPACE,
            format!("action\u{1f}{ws}\u{1f}{key}").as_bytes(),
        ),
        None => Uuid::new_v4(),
    };
    let request = ActionRequested {
        action_id: ActionId::from(action_id),
        workspace_id: ws.clone(),
        integration_id: id,
        channel,
        action: action.spec().name.clone(),
        input,
        idempotency_key: key.clone(),
        requested_at: Utc::now(),
    };
    match key {
        Some(key) => {
            // Run to completion even if the client goes away, so a produced request is always
            // marked produced and a retry never produces it again.
            let task = tokio::spawn(produce_once(state, key, hash, request));
            task.await.map_err(|e| Problem::internal(&e))??;
        }
        None => produce(&state, &request).await?,
    }
    Ok(accepted(&ws, action_id))
}

fn accepted(ws: &WorkspaceId, action_id: Uuid) -> Response {
    let location = format!("/v1/workspaces/{ws}/actions/{action_id}");
    let body = ActionRequestAccepted {
        action_id,
        status: "requested",
    };
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        axum::Json(body),
    )
        .into_response()
}

/// The integration, if it is the workspace's and not deleted.
async fn integration(
    state: &AppState,
    ws: &WorkspaceId,
    id: IntegrationId,
) -> Result<Integration, Problem> {
    match state.integrations.load(id).await? {
        Some(i) if i.workspace_id.as_ref() == Some(ws) => {
            if i.status == IntegrationStatus::Deleted {
                Err(IntegrationError::Deleted.into())
            } else {
                Ok(i)
            }
        }
        _ => Err(Problem::not_found("integration not found")),
    }
}

fn no_such_action(channel: &switchboard_domain::ChannelKind, name: &str) -> Problem {
    let known = ActionName::parse(name).is_some();
    let detail = if known {
        format!("the {channel} channel has no action '{name}'; GET /v1/channels lists them")
    } else {
        "no such action; GET /v1/channels lists them".to_owned()
    };
    Problem::not_found(detail)
}

fn not_connected(status: IntegrationStatus) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "integration-not-connected",
        "Not allowed by the channel's rules",
        format!("the integration is {status:?}, not connected").to_lowercase(),
    )
}

/// `input` with each top-level field the action declares and the input lacks taken from the
/// integration's settings of the same name (a default spreadsheet, range or reply-to).
fn with_settings(action: &dyn ChannelAction, input: Value, settings: &Value) -> Value {
    let (Value::Object(mut fields), Some(settings)) = (input.clone(), settings.as_object()) else {
        return input;
    };
    let declared = action.spec().input_schema["properties"].as_object();
    for name in declared.into_iter().flat_map(|p| p.keys()) {
        if !fields.contains_key(name) {
            if let Some(value) = settings.get(name).filter(|v| !v.is_null()) {
                fields.insert(name.clone(), value.clone());
            }
        }
    }
    Value::Object(fields)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| Problem::bad_request("Idempotency-Key must be visible ASCII"))?;
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(Problem::invalid("an idempotency key is 1-200 characters"));
    }
    Ok(Some(key.to_owned()))
}

fn request_hash(integration: IntegrationId, action: &str, input: &Value) -> String {
    let canonical = (integration, action, input);
    Sha256::digest(serde_json::to_vec(&canonical).unwrap_or_default())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn key_reused() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency-key-reused",
        "Idempotency key reused",
        "this idempotency key was used for a different request",
    )
}

/// The action id of an earlier request with this key that was produced, if any.
async fn already_produced(
    state: &AppState,
    ws: &WorkspaceId,
    key: &str,
    hash: &str,
) -> Result<Option<Uuid>, Problem> {
    let row: Option<(Uuid, String, bool)> = sqlx::query_as(
        "SELECT action_id, request_hash, produced_at IS NOT NULL FROM action_requests
         WHERE workspace_id = $1 AND idempotency_key = $2",
    )
    .bind(ws.as_str())
    .bind(key)
    .fetch_optional(&state.pool)
    .await
    .map_err(Problem::from)?;
    match row {
        Some((_, stored, _)) if stored != hash => Err(key_reused()),
        Some((action_id, _, true)) => Ok(Some(action_id)),
        _ => Ok(None),
    }
}

/// The record of `request` on `actions.requested`.
pub fn request_record(
    request: &ActionRequested,
    topic: &str,
    traceparent: Option<String>,
) -> OutgoingRecord {
    OutgoingRecord {
        topic: topic.to_owned(),
        key: request.key(),
        event: CloudEvent {
            id: request.action_id.as_uuid(),
            event_type: ACTION_REQUESTED_TYPE.to_owned(),
            source: "switchboard/api".to_owned(),
            subject: Some(request.action_id.to_string()),
            time: request.requested_at,
            sequence: None,
            actor: None,
        },
        body: serde_json::to_vec(request).unwrap_or_default(),
        traceparent,
    }
}

async fn produce(state: &AppState, request: &ActionRequested) -> Result<(), Problem> {
    let record = request_record(
        request,
        &state.topics.actions_requested,
        current_traceparent(),
    );
    state.producer.publish(&record).await.map_err(|error| {
        tracing::warn!(%error, "action request not acknowledged by the broker");
        Problem::unavailable(
            "the message broker did not acknowledge the request; retry with the same idempotency key",
        )
    })?;
    metrics::counter!("switchboard_action_requests_total", "channel" => request.channel.to_string(),
        "action" => request.action.to_string())
    .increment(1);
    Ok(())
}

/// Produces `request` unless a request with the same key already did; holds the key's row
/// lock meanwhile so a concurrent repeat waits and then finds it produced.
async fn produce_once(
    state: AppState,
    key: String,
    hash: String,
    request: ActionRequested,
) -> Result<(), Problem> {
    let ws = request.workspace_id.as_str();
    let mut tx = state.pool.begin().await.map_err(Problem::from)?;
    sqlx::query(
        "INSERT INTO action_requests (workspace_id, idempotency_key, action_id, integration_id, request_hash)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(&key)
    .bind(request.action_id.as_uuid())
    .bind(request.integration_id.as_uuid())
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .map_err(Problem::from)?;
    let (stored_hash, produced): (String, bool) = sqlx::query_as(
        "SELECT request_hash, produced_at IS NOT NULL FROM action_requests
         WHERE workspace_id = $1 AND idempotency_key = $2 FOR UPDATE",
    )
    .bind(ws)
    .bind(&key)
    .fetch_one(&mut *tx)
    .await
    .map_err(Problem::from)?;
    if stored_hash != hash {
        return Err(key_reused());
    }
    if !produced {
        produce(&state, &request).await?;
        sqlx::query(
            "UPDATE action_requests SET produced_at = now() WHERE workspace_id = $1 AND idempotency_key = $2",
        )
        .bind(ws)
        .bind(&key)
        .execute(&mut *tx)
        .await
        .map_err(Problem::from)?;
    }
    tx.commit().await.map_err(Problem::from)
}
