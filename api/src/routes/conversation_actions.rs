//! `POST /v1/workspaces/{ws}/conversations/{id}/read` and `…/status`: an agent reads a
//! conversation, resolves it or reopens it.
//!
//! Like every change the inbox shows, each becomes an event (`ConversationRead`,
//! `ConversationResolved`, `ConversationReopened` on `conversations.activity`, key =
//! conversation key) and is answered 202 once the broker acknowledged it; the inbox projection
//! then resets the unread count or changes the status. Marks only move forward, so a repeated
//! or late request changes nothing. A web chat visitor's open widgets are told of a read
//! (their messages up to it show as seen); best-effort, as the mark itself is stored.

use crate::auth::{Authorized, Write};
use crate::error::Problem;
use crate::extract::{Json, Path};
use crate::routes::conversation_lookup::conversation_row;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_adapters::activity::activity_record;
use switchboard_adapters::channels::webchat::outbound::announce;
use switchboard_adapters::channels::webchat::wire::{Delivery, Push};
use switchboard_adapters::kafka::trace_context::current_traceparent;
use switchboard_domain::message::{ConversationAction, ConversationActivity};
use switchboard_domain::WorkspaceId;
use utoipa::ToSchema;
use uuid::Uuid;

/// The conversation action routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/workspaces/{ws}/conversations/{id}/read", post(read))
        .route(
            "/v1/workspaces/{ws}/conversations/{id}/status",
            post(status),
        )
}

/// What the agent has read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// Platform time of the last message the agent saw (`sent_at` of a message); every
    /// message up to it stops counting as unread. Absent: the conversation's latest message.
    pub up_to: Option<DateTime<Utc>>,
}

/// The status to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `resolved` or `open`.
    #[schema(pattern = "^(resolved|open)$")]
    pub status: String,
}

/// The answer: the action is recorded and will show in the inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionAccepted {
    /// The event's id.
    pub event_id: Uuid,
    /// `read`, `resolved` or `reopened`.
    pub action: &'static str,
    /// For `read`: the platform time read up to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_to: Option<DateTime<Utc>>,
}

/// Marks a conversation read up to a message.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/conversations/{id}/read", tag = "inbox",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = Uuid, Path, description = "Conversation id")),
    request_body = ReadRequest,
    responses((status = 202, body = ActionAccepted), (status = 404, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn read(
    _auth: Authorized<Write>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, Uuid)>,
    Json(request): Json<ReadRequest>,
) -> Result<Response, Problem> {
    let (key, latest, channel, integration_id, contact_id): ReadRow = conversation_row(
        &state.pool,
        &ws,
        id,
        "conversation_key, last_message_at, channel, integration_id, contact_id",
    )
    .await?;
    let up_to = request.up_to.unwrap_or(latest);
    let accepted = publish(&state, ws, key, ConversationAction::Read { up_to }).await?;
    if channel == switchboard_adapters::channels::webchat::KIND {
        let seen = Delivery {
            integration_id: integration_id.into(),
            visitor: contact_id,
            push: Push::Seen { up_to },
        };
        if let Err(error) = announce(&state.pool, &seen).await {
            tracing::debug!(%error, "read mark not shown to the web chat visitor");
        }
    }
    Ok(accepted)
}

/// Key, latest message time, channel, integration and contact of a conversation.
type ReadRow = (String, DateTime<Utc>, String, Uuid, String);

/// Resolves a conversation (`resolved`) or opens it again (`open`).
#[utoipa::path(post, path = "/v1/workspaces/{ws}/conversations/{id}/status", tag = "inbox",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = Uuid, Path, description = "Conversation id")),
    request_body = StatusRequest,
    responses((status = 202, body = ActionAccepted), (status = 404, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn status(
    _auth: Authorized<Write>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, Uuid)>,
    Json(request): Json<StatusRequest>,
) -> Result<Response, Problem> {
    let action = match request.status.as_str() {
        "resolved" => ConversationAction::Resolved,
        "open" => ConversationAction::Reopened,
        other => {
            return Err(Problem::invalid(format!(
                "status must be 'resolved' or 'open', not '{other}'"
            )))
        }
    };
    let (key, _) = conversation(&state, &ws, id).await?;
    publish(&state, ws, key, action).await
}

/// The conversation's key and latest message time, or 404 (also for another workspace's).
async fn conversation(
    state: &AppState,
    ws: &WorkspaceId,
    id: Uuid,
) -> Result<(String, DateTime<Utc>), Problem> {
    conversation_row(&state.pool, ws, id, "conversation_key, last_message_at").await
}

async fn publish(
    state: &AppState,
    ws: WorkspaceId,
    conversation_key: String,
    action: ConversationAction,
) -> Result<Response, Problem> {
    let activity = ConversationActivity {
        event_id: Uuid::new_v4(),
        workspace_id: ws,
        conversation_key,
        at: Utc::now(),
        action,
    };
    let record = activity_record(&activity, &state.topics.activity, current_traceparent());
    state.producer.publish(&record).await.map_err(|error| {
        tracing::warn!(%error, "conversation action not acknowledged by the broker");
        Problem::unavailable("the message broker did not acknowledge the action; retry it")
    })?;
    let (name, up_to) = match activity.action {
        ConversationAction::Read { up_to } => ("read", Some(up_to)),
        ConversationAction::Resolved => ("resolved", None),
        ConversationAction::Reopened => ("reopened", None),
        ConversationAction::ContactTyping => ("contact_typing", None),
    };
    metrics::counter!("switchboard_conversation_actions_total", "action" => name).increment(1);
    let accepted = ActionAccepted {
        event_id: activity.event_id,
        action: name,
        up_to,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)).into_response())
}
