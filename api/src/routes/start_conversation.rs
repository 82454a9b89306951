//! `POST /v1/workspaces/{ws}/integrations/{id}/messages`: a first message to someone who has
//! not written (a phone number on WhatsApp, an e-mail address over SMTP, a Telegram chat id),
//! through a channel whose platform allows it, as the channel declares
//! ([`switchboard_adapters::channels::first_contact`]); WhatsApp by template only.
//!
//! In order: another workspace's integration or none is 404, a deleted one 410; a channel
//! that cannot start a conversation is 422 `cannot-start-conversation` (its reason in
//! `detail`); a recipient that is not the channel's kind of address is 422 naming the field;
//! a channel that starts by template only needs one (422 `template-required`); then the
//! content is checked as a reply's is ([`crate::routes::send_content`]).
//!
//! The recipient becomes the id the platform's webhooks name the contact by (a number's
//! `wa_id`), so the conversation is `integration_id:contact` and its id the one the inbox
//! derives from that key: the send appears in the inbox as a new conversation (or in the
//! existing one with that contact), and the contact's answer lands in it.
//!
//! # Guarantees
//! Those of [`crate::send_queue`]: 202 only after the broker acknowledged the command (503
//! with `Retry-After` otherwise); with an idempotency key, one message per key, produced once;
//! the same key for a different request is 409.

use crate::auth::{Authorized, Write};
use crate::connecting::owned_integration;
use crate::error::Problem;
use crate::extract::{Json, Path};
use crate::routes::send_content::{check_content, ContentRequest};
use crate::send_queue::{already_produced, idempotency_key, message_id, queue, request_hash, rule};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use switchboard_adapters::channels::first_contact::FirstContact;
use switchboard_domain::integration::{IntegrationError, IntegrationStatus};
use switchboard_domain::message::{
    conversation_key, OutboundAttachment, OutboundContent, QuickReplyOption, SendMessage,
    TemplateMessage,
};
use switchboard_domain::{FieldProblem, IntegrationId, WorkspaceId};
use switchboard_projections::inbox::conversation_id;
use utoipa::ToSchema;
use uuid::Uuid;

/// The route.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/workspaces/{ws}/integrations/{id}/messages",
        post(start),
    )
}

/// A first message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartConversationRequest {
    /// Who to write to: a phone number in international format (WhatsApp), an e-mail address
    /// (SMTP), a chat id (Telegram).
    #[schema(example = "+16505551234")]
    pub recipient: String,
    /// The text (not on WhatsApp, which starts by template only).
    pub text: Option<String>,
    /// Attachments by URL: `{"kind": "image|video|audio|file", "url": "https://…"}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<OutboundAttachment>,
    /// Quick replies or buttons, where the channel has them: `{"title", "payload"}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub quick_replies: Vec<QuickReplyOption>,
    /// A pre-approved template (WhatsApp), in the WhatsApp Cloud API's `template` shape.
    #[schema(value_type = Option<crate::routes::templates::TemplateSchema>)]
    pub template: Option<TemplateMessage>,
    /// A client key making retries safe (the `Idempotency-Key` header works too).
    pub idempotency_key: Option<String>,
}

/// The answer: the message is queued in its conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationStarted {
    /// The message's id; its delivery status appears on the conversation's messages.
    pub message_id: Uuid,
    /// The conversation it starts (or continues), as the inbox lists it.
    pub conversation_id: Uuid,
    /// Always `queued`.
    pub status: &'static str,
}

/// Sends a first message to a recipient, starting a conversation.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/integrations/{id}/messages", tag = "inbox",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = uuid::Uuid, Path, description = "Integration id")),
    request_body = StartConversationRequest,
    responses((status = 202, body = ConversationStarted), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 410, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn start(
    _auth: Authorized<Write>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, IntegrationId)>,
    headers: HeaderMap,
    Json(request): Json<StartConversationRequest>,
) -> Result<Response, Problem> {
    let integration = owned_integration(&state, &ws, id).await?;
    let key = idempotency_key(&headers, request.idempotency_key.as_ref())?;
    let hash = request_hash(&(
        id.as_uuid(),
        &request.recipient,
        &request.text,
        &request.attachments,
        &request.quick_replies,
        &request.template,
    ));
    if let Some(key) = &key {
        if let Some(produced) = already_produced(&state, &ws, key, &hash).await? {
            return Ok(accepted(produced.message_id, produced.conversation_id));
        }
    }
    match integration.status {
        IntegrationStatus::Deleted => return Err(IntegrationError::Deleted.into()),
        IntegrationStatus::Connected => {}
        other => {
            return Err(rule(
                "integration-not-connected",
                format!("the integration is {other:?}, not connected").to_lowercase(),
            ))
        }
    }
    let channel = integration
        .channel
        .clone()
        .ok_or_else(|| Problem::not_found("integration not found"))?;
    let Some(sender) = state.channels.sender(&channel) else {
        return Err(rule(
            "cannot-start-conversation",
            format!("the {channel} channel cannot send messages"),
        ));
    };
    let (recipient_kind, template_only) = match sender.first_contact() {
        FirstContact::Refused(why) => {
            return Err(rule(
                "cannot-start-conversation",
                format!("the {channel} channel cannot start a conversation: {why}"),
            ))
        }
        FirstContact::Allowed {
            recipient,
            template_only,
        } => (recipient, template_only),
    };
    let Some(contact) = recipient_kind.normalise(&request.recipient) else {
        let problem = format!("must be {}", recipient_kind.describe());
        return Err(
            Problem::invalid(format!("recipient {problem}")).with_errors(vec![FieldProblem {
                field: "recipient".into(),
                problem,
            }]),
        );
    };
    if template_only && request.template.is_none() {
        return Err(rule(
            "template-required",
            format!("the {channel} channel starts a conversation with an approved template only"),
        ));
    }
    let content = OutboundContent {
        text: request.text.clone(),
        attachments: request.attachments.clone(),
        quick_replies: request.quick_replies.clone(),
        template: request.template.clone(),
        tag: None,
    };
    check_content(
        &state,
        ContentRequest {
            channel: &channel,
            sender: sender.as_ref(),
            integration: &integration,
            integration_id: id,
            content: &content,
        },
    )
    .await?;
    let conversation_key = conversation_key(id, &contact);
    let conversation = conversation_id(&conversation_key);
    let message_id = message_id(&ws, key.as_deref());
    let command = SendMessage {
        message_id,
        integration_id: id,
        workspace_id: ws.clone(),
        channel,
        conversation_key,
        recipient: contact,
        content,
        idempotency_key: key.clone(),
        requested_at: Utc::now(),
    };
    command
        .check()
        .map_err(|e| Problem::invalid(e.to_string()))?;
    queue(&state, &ws, key, conversation, hash, command).await?;
    Ok(accepted(message_id, conversation))
}

fn accepted(message_id: Uuid, conversation_id: Uuid) -> Response {
    let started = ConversationStarted {
        message_id,
        conversation_id,
        status: "queued",
    };
    (StatusCode::ACCEPTED, axum::Json(started)).into_response()
}
