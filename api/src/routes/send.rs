//! `POST /v1/workspaces/{ws}/conversations/{id}/messages`: an agent's or bot's reply.
//!
//! The request is checked against the conversation and its integration (connected; the
//! channel can send; the platform's reply window and its message cap), then becomes a
//! `SendMessage` command on `messages.outbound` (key = conversation key) and is answered 202
//! with the message id once the broker acknowledged it; the channel adapters do the sending.
//!
//! # Guarantees
//! With an idempotency key (`Idempotency-Key` header or `idempotency_key` field), the same key
//! in a workspace always names the same message and produces it once: a concurrent or later
//! repeat waits on the first request's row lock and then answers with the same message id.
//! Reusing a key for a different request is refused with 409.

use crate::auth::{Authorized, Write};
use crate::error::Problem;
use crate::extract::{Json, Path};
use crate::routes::conversation_lookup::conversation_row;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Postgres, Transaction};
use switchboard_adapters::kafka::trace_context::current_traceparent;
use switchboard_adapters::outbound::commands::command_record;
use switchboard_domain::integration::IntegrationStatus;
use switchboard_domain::message::{
    OutboundAttachment, OutboundContent, QuickReplyOption, SendMessage, EVENT_ID_NAMESPACE,
};
use switchboard_domain::{ChannelCatalog, ChannelKind, IntegrationId, WorkspaceId};
use utoipa::ToSchema;
use uuid::Uuid;

const IDEMPOTENCY_HEADER: &str = "idempotency-key";
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// The send route.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/workspaces/{ws}/conversations/{id}/messages",
        post(send),
    )
}

/// A reply to send.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The text.
    pub text: Option<String>,
    /// Attachments by URL: `{"kind": "image|video|audio|file", "url": "https://…"}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<OutboundAttachment>,
    /// Quick replies or buttons, where the channel has them: `{"title", "payload"}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub quick_replies: Vec<QuickReplyOption>,
    /// A client key making retries safe (the `Idempotency-Key` header works too).
    pub idempotency_key: Option<String>,
}

/// The answer: the message is queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendAccepted {
    /// Its id; its delivery status appears on the conversation's messages.
    pub message_id: Uuid,
    /// Always `queued`.
    pub status: &'static str,
}

/// The conversation a reply goes to.
#[derive(sqlx::FromRow)]
struct Conversation {
    integration_id: Uuid,
    channel: String,
    contact_id: String,
    /// Where the platform addresses replies to a thread, not a person (TikTok).
    contact_thread_id: Option<String>,
    conversation_key: String,
}

/// Queues a reply in a conversation.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/conversations/{id}/messages", tag = "inbox",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = Uuid, Path, description = "Conversation id")),
    request_body = SendRequest,
    responses((status = 202, body = SendAccepted), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn send(
    _auth: Authorized<Write>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, Uuid)>,
    headers: HeaderMap,
    Json(request): Json<SendRequest>,
) -> Result<Response, Problem> {
    let conversation = conversation(&state, &ws, id).await?;
    refuse_nul(&request)?;
    let key = idempotency_key(&headers, &request)?;
    let hash = request_hash(id, &request);
    if let Some(key) = &key {
        if let Some(message_id) = already_produced(&state, &ws, key, &hash).await? {
            return Ok(accepted(message_id));
        }
    }
    let channel = ChannelKind::parse(&conversation.channel)
        .ok_or_else(|| Problem::not_found("no such conversation"))?;
    check_integration(&state, conversation.integration_id.into()).await?;
    let Some(sender) = state.channels.sender(&channel) else {
        return Err(rule(
            "channel-cannot-send",
            format!("the {channel} channel cannot send messages yet"),
        ));
    };
    if sender.addresses_threads() && conversation.contact_thread_id.is_none() {
        return Err(rule(
            "thread-unknown",
            format!(
                "{channel} replies go to the platform's conversation, which this conversation does not know yet: it is recorded with the contact's next message"
            ),
        ));
    }
    let content = OutboundContent {
        text: request.text.clone(),
        attachments: request.attachments.clone(),
        quick_replies: request.quick_replies.clone(),
    };
    if content.is_empty() {
        return Err(Problem::invalid("a message needs text or an attachment"));
    }
    check_reply_window(&state, &channel, id).await?;
    let message_id = match &key {
        Some(key) => Uuid::new_v5(
            &EVENT_ID_NAMESPACE,
            format!("send\u{1f}{ws}\u{1f}{key}").as_bytes(),
        ),
        None => Uuid::new_v4(),
    };
    let command = SendMessage {
        message_id,
        integration_id: conversation.integration_id.into(),
        workspace_id: ws.clone(),
        channel,
        conversation_key: conversation.conversation_key,
        recipient: conversation
            .contact_thread_id
            .unwrap_or(conversation.contact_id),
        content,
        idempotency_key: key.clone(),
        requested_at: Utc::now(),
    };
    command
        .check()
        .map_err(|e| Problem::invalid(e.to_string()))?;
    match key {
        Some(key) => {
            // Run to completion even if the client goes away, so a produced command is
            // always marked produced and a retry never produces it again.
            let task = tokio::spawn(produce_once(state, ws, key, id, hash, command));
            task.await.map_err(|e| Problem::internal(&e))??;
        }
        None => produce(&state, &command).await?,
    }
    Ok(accepted(message_id))
}

fn accepted(message_id: Uuid) -> Response {
    let accepted = SendAccepted {
        message_id,
        status: "queued",
    };
    (StatusCode::ACCEPTED, axum::Json(accepted)).into_response()
}

/// NUL cannot be stored or sent anywhere: refused as the caller's mistake.
fn refuse_nul(request: &SendRequest) -> Result<(), Problem> {
    let texts = request
        .text
        .iter()
        .chain(request.idempotency_key.iter())
        .chain(request.attachments.iter().map(|a| &a.url))
        .chain(
            request
                .quick_replies
                .iter()
                .flat_map(|q| [&q.title, &q.payload]),
        );
    for text in texts {
        if text.contains('\0') {
            return Err(Problem::invalid(
                "text fields must not contain NUL characters",
            ));
        }
    }
    Ok(())
}

fn request_hash(conversation: Uuid, request: &SendRequest) -> String {
    let canonical = (
        conversation,
        &request.text,
        &request.attachments,
        &request.quick_replies,
    );
    hex_sha256(&serde_json::to_vec(&canonical).unwrap_or_default())
}

/// The message id of an earlier request with this key that was produced, if any.
async fn already_produced(
    state: &AppState,
    ws: &WorkspaceId,
    key: &str,
    hash: &str,
) -> Result<Option<Uuid>, Problem> {
    let row: Option<(Uuid, String, bool)> = sqlx::query_as(
        "SELECT message_id, request_hash, produced_at IS NOT NULL FROM send_requests
         WHERE workspace_id = $1 AND idempotency_key = $2",
    )
    .bind(ws.as_str())
    .bind(key)
    .fetch_optional(&state.pool)
    .await
    .map_err(Problem::from)?;
    match row {
        Some((_, stored, _)) if stored != hash => Err(key_reused()),
        Some((message_id, _, true)) => Ok(Some(message_id)),
        _ => Ok(None),
    }
}

fn key_reused() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency-key-reused",
        "Idempotency key reused",
        "this idempotency key was used for a different request",
    )
}

fn rule(slug: &str, detail: String) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        slug,
        "Not allowed by the channel's rules",
        detail,
    )
}

async fn conversation(
    state: &AppState,
    ws: &WorkspaceId,
    id: Uuid,
) -> Result<Conversation, Problem> {
    conversation_row(
        &state.pool,
        ws,
        id,
        "integration_id, channel, contact_id, contact_thread_id, conversation_key",
    )
    .await
}

async fn check_integration(state: &AppState, id: IntegrationId) -> Result<(), Problem> {
    let integration = state.integrations.load(id).await?;
    match integration.map(|i| i.status) {
        Some(IntegrationStatus::Connected) => Ok(()),
        Some(status) => Err(rule(
            "integration-not-connected",
            format!("the conversation's integration is {status:?}, not connected").to_lowercase(),
        )),
        None => Err(Problem::not_found(
            "the conversation's integration does not exist",
        )),
    }
}

async fn check_reply_window(
    state: &AppState,
    channel: &ChannelKind,
    conversation: Uuid,
) -> Result<(), Problem> {
    let Some(window) = state.channels.spec(channel).and_then(|s| s.reply_window) else {
        return Ok(());
    };
    let (last_inbound, sent_since): (Option<DateTime<Utc>>, i64) = sqlx::query_as(
        "WITH last AS (SELECT max(sent_at) AS at FROM inbox.messages
                       WHERE conversation_id = $1 AND direction = 'inbound')
         SELECT (SELECT at FROM last),
                (SELECT count(*) FROM inbox.messages, last
                 WHERE conversation_id = $1 AND direction = 'outbound' AND sent_at >= last.at)",
    )
    .bind(conversation)
    .fetch_one(&state.pool)
    .await
    .map_err(Problem::from)?;
    window
        .check(
            Utc::now(),
            last_inbound,
            u32::try_from(sent_since).unwrap_or(u32::MAX),
        )
        .map_err(|outside| rule("outside-reply-window", outside.to_string()))
}

fn idempotency_key(headers: &HeaderMap, request: &SendRequest) -> Result<Option<String>, Problem> {
    let header = headers
        .get(IDEMPOTENCY_HEADER)
        .map(|v| v.to_str().map(str::to_owned));
    let key = match header {
        Some(Ok(key)) => Some(key),
        Some(Err(_)) => {
            return Err(Problem::bad_request(
                "Idempotency-Key must be visible ASCII",
            ))
        }
        None => request.idempotency_key.clone(),
    };
    match key {
        Some(key) if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS => {
            Err(Problem::invalid("an idempotency key is 1-200 characters"))
        }
        other => Ok(other),
    }
}

async fn produce(state: &AppState, command: &SendMessage) -> Result<(), Problem> {
    let record = command_record(command, &state.topics.outbound, current_traceparent());
    state.producer.publish(&record).await.map_err(|error| {
        tracing::warn!(%error, "send command not acknowledged by the broker");
        Problem::unavailable("the message broker did not acknowledge the command; retry with the same idempotency key")
    })?;
    metrics::counter!("switchboard_send_requests_total", "channel" => command.channel.to_string())
        .increment(1);
    Ok(())
}

/// Produces `command` unless a request with the same key already did; holds the key's row
/// lock meanwhile so a concurrent repeat waits and then finds it produced.
async fn produce_once(
    state: AppState,
    ws: WorkspaceId,
    key: String,
    conversation: Uuid,
    hash: String,
    command: SendMessage,
) -> Result<(), Problem> {
    let (ws, key) = (&ws, key.as_str());
    let mut tx = state.pool.begin().await.map_err(Problem::from)?;
    sqlx::query(
        "INSERT INTO send_requests (workspace_id, idempotency_key, message_id, conversation_id, request_hash)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(ws.as_str())
    .bind(key)
    .bind(command.message_id)
    .bind(conversation)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .map_err(Problem::from)?;
    let (stored_hash, produced): (String, bool) = sqlx::query_as(
        "SELECT request_hash, produced_at IS NOT NULL FROM send_requests
         WHERE workspace_id = $1 AND idempotency_key = $2 FOR UPDATE",
    )
    .bind(ws.as_str())
    .bind(key)
    .fetch_one(&mut *tx)
    .await
    .map_err(Problem::from)?;
    if stored_hash != hash {
        return Err(key_reused());
    }
    if !produced {
        produce(&state, &command).await?;
        mark_produced(&mut tx, ws, key)
            .await
            .map_err(Problem::from)?;
    }
    tx.commit().await.map_err(Problem::from)
}

async fn mark_produced(
    tx: &mut Transaction<'_, Postgres>,
    ws: &WorkspaceId,
    key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE send_requests SET produced_at = now() WHERE workspace_id = $1 AND idempotency_key = $2")
        .bind(ws.as_str())
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
