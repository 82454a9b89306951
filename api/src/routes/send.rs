//! `POST /v1/workspaces/{ws}/conversations/{id}/messages`: an agent's or bot's reply.
//!
//! The request is checked against the conversation and its integration (connected; the
//! channel can send; the platform's reply window and its message cap, or the window of the
//! message tag it carries; a template the platform lists as approved), then becomes a
//! `SendMessage` command on `messages.outbound` (key = conversation key) and is answered 202
//! with the message id once the broker acknowledged it; the channel adapters do the sending.
//! A template message (WhatsApp) is what the platform allows outside its window, so it is not
//! held to it.
//!
//! # Guarantees
//! Those of [`crate::send_queue`]: with an idempotency key, one message per key, produced
//! once; the same key for a different request is 409.

use crate::auth::{Authorized, Write};
use crate::error::Problem;
use crate::extract::{Json, Path};
use crate::routes::conversation_lookup::conversation_row;
use crate::routes::send_content::{check_content, ContentRequest};
use crate::send_queue::{already_produced, idempotency_key, message_id, queue, request_hash, rule};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_adapters::channels::sender::ChannelSender;
use switchboard_domain::integration::IntegrationStatus;
use switchboard_domain::message::{
    find_tag, OutboundAttachment, OutboundContent, QuickReplyOption, SendMessage, TemplateMessage,
};
use switchboard_domain::{ChannelCatalog, ChannelKind, IntegrationId, WorkspaceId};
use utoipa::ToSchema;
use uuid::Uuid;

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
    /// A pre-approved template instead of text, where the channel has them (WhatsApp), in the
    /// WhatsApp Cloud API's `template` shape; sent inside or outside the reply window.
    #[schema(value_type = Option<crate::routes::templates::TemplateSchema>)]
    pub template: Option<TemplateMessage>,
    /// A message tag, where the channel has them (Messenger: `HUMAN_AGENT` up to 7 days after
    /// the contact's last message; `ACCOUNT_UPDATE`, `CONFIRMED_EVENT_UPDATE`,
    /// `POST_PURCHASE_UPDATE` at any time): lets the reply go out after the standard window.
    #[schema(value_type = Option<String>, example = "HUMAN_AGENT")]
    pub tag: Option<String>,
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
    let key = idempotency_key(&headers, request.idempotency_key.as_ref())?;
    let hash = hash(id, &request);
    if let Some(key) = &key {
        if let Some(produced) = already_produced(&state, &ws, key, &hash).await? {
            return Ok(accepted(produced.message_id));
        }
    }
    let channel = ChannelKind::parse(&conversation.channel)
        .ok_or_else(|| Problem::not_found("no such conversation"))?;
    let integration_id: IntegrationId = conversation.integration_id.into();
    let integration = check_integration(&state, integration_id).await?;
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
        template: request.template.clone(),
        tag: request.tag.clone(),
    };
    check_content(
        &state,
        ContentRequest {
            channel: &channel,
            sender: sender.as_ref(),
            integration: &integration,
            integration_id,
            content: &content,
        },
    )
    .await?;
    if content.template.is_none() {
        check_window(&state, &channel, sender.as_ref(), &content, id).await?;
    }
    let message_id = message_id(&ws, key.as_deref());
    let command = SendMessage {
        message_id,
        integration_id,
        workspace_id: ws.clone(),
        channel,
        conversation_key: conversation.conversation_key,
        // The thread only where the platform addresses threads (TikTok); an e-mail
        // conversation's thread id is its root mail, and the reply goes to the person.
        recipient: match conversation.contact_thread_id {
            Some(thread) if sender.addresses_threads() => thread,
            _ => conversation.contact_id,
        },
        content,
        idempotency_key: key.clone(),
        requested_at: Utc::now(),
    };
    command
        .check()
        .map_err(|e| Problem::invalid(e.to_string()))?;
    queue(&state, &ws, key, id, hash, command).await?;
    Ok(accepted(message_id))
}

fn accepted(message_id: Uuid) -> Response {
    let accepted = SendAccepted {
        message_id,
        status: "queued",
    };
    (StatusCode::ACCEPTED, axum::Json(accepted)).into_response()
}

/// The request's fingerprint; a request without a template or tag hashes as it did before
/// they existed, so keys stored earlier still match their retries.
fn hash(conversation: Uuid, request: &SendRequest) -> String {
    let base = (
        conversation,
        &request.text,
        &request.attachments,
        &request.quick_replies,
    );
    match (&request.template, &request.tag) {
        (None, None) => request_hash(&base),
        (template, tag) => request_hash(&(base, template, tag)),
    }
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

async fn check_integration(
    state: &AppState,
    id: IntegrationId,
) -> Result<switchboard_domain::integration::Integration, Problem> {
    let integration = state.integrations.load(id).await?;
    match integration {
        Some(i) if i.status == IntegrationStatus::Connected => Ok(i),
        Some(i) => Err(rule(
            "integration-not-connected",
            format!(
                "the conversation's integration is {:?}, not connected",
                i.status
            )
            .to_lowercase(),
        )),
        None => Err(Problem::not_found(
            "the conversation's integration does not exist",
        )),
    }
}

/// The channel's reply window, or the window of the message tag the reply carries.
async fn check_window(
    state: &AppState,
    channel: &ChannelKind,
    sender: &dyn ChannelSender,
    content: &OutboundContent,
    conversation: Uuid,
) -> Result<(), Problem> {
    let tag = match &content.tag {
        Some(tag) => find_tag(sender.message_tags(), tag),
        None => None,
    };
    let window = state.channels.spec(channel).and_then(|s| s.reply_window);
    if tag.is_none() && window.is_none() {
        return Ok(());
    }
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
    let outcome = match (tag, window) {
        (Some(tag), _) => tag.check(Utc::now(), last_inbound),
        (None, Some(window)) => window.check(
            Utc::now(),
            last_inbound,
            u32::try_from(sent_since).unwrap_or(u32::MAX),
        ),
        (None, None) => Ok(()),
    };
    outcome.map_err(|outside| rule("outside-reply-window", outside.to_string()))
}
