//! The chatbotx webhook: how the platform's own bots and the test console post messages to an
//! inbox.
//!
//! # Authentication
//!
//! Each request carries `Authorization: Bearer <api key>`, the integration's `api_key` auth
//! field, compared in constant time. The key authenticates the caller; it does not sign the
//! body. It is read from the integration only, never from a platform-wide credential of that
//! name, so the key binds a delivery to its integration: the body names no account to compare.
//!
//! # Body
//!
//! ```json
//! {
//!   "messages": [
//!     {
//!       "id": "<unique message id>",
//!       "contact": { "id": "<contact id>", "name": "<optional display name>" },
//!       "timestamp": "<RFC 3339>",
//!       "text": "<optional text, or the caption of the attachments>",
//!       "attachments": [
//!         { "type": "image|video|audio|file", "url": "<optional>", "mime_type": "<optional>" }
//!       ],
//!       "postback": { "payload": "<button payload>", "title": "<optional button title>" },
//!       "reply_to": "<optional id of the message answered>",
//!       "echo": false
//!     }
//!   ]
//! }
//! ```
//!
//! Each element of `messages` becomes one received message, whose platform message id is its
//! `id` (so a repost of the same element is a redelivery):
//!
//! - with a `postback`: a `Postback` of its `payload` and `title`;
//! - else with attachments: `Media`, captioned by `text` (the aliases `photo`, `gif`, `voice`
//!   and `document` are understood too; attachments of any other `type` are left out, and when
//!   none is left the element is `Unsupported`);
//! - else with `text`: `Text`; else `Unsupported`.
//!
//! `echo: true` marks a message the bot itself sent. A missing or unreadable `timestamp` is
//! replaced by the time of arrival. An element with an `id` but no non-empty `contact.id` is
//! kept as an `Unsupported` message of the reserved unattributed contact and counted (see
//! `channels::webhook::unattributed`); an element without a non-empty `id` (or not an object) is
//! skipped alone, its siblings kept; a body that is not `{"messages": [...]}` is `Malformed`.

use super::KIND;
use crate::channels::webhook::{
    constant_time_eq, unattributed, RawWebhook, VerifiedWebhook, WebhookChannel, WebhookError,
    WebhookSecrets,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use switchboard_domain::message::{
    Attachment, AttachmentKind, Contact, InboundDraft, InboundKind, MessageContent,
};

/// The header that carries the bearer key (lowercase, as `http` stores names).
pub const AUTHORIZATION_HEADER: &str = "authorization";

/// The integration auth field that holds the key callers present.
pub const API_KEY: &str = "api_key";

/// The chatbotx inbound half.
#[derive(Debug, Default, Clone, Copy)]
pub struct ChatbotxWebhook;

impl WebhookChannel for ChatbotxWebhook {
    fn signature_header(&self) -> Option<&'static str> {
        Some(AUTHORIZATION_HEADER)
    }

    fn verify<'a>(
        &self,
        raw: RawWebhook<'a>,
        secrets: &WebhookSecrets,
    ) -> Result<VerifiedWebhook<'a>, WebhookError> {
        let expected = secrets.integration_field(API_KEY)?.expose();
        raw.verify_with(|raw| {
            let header = raw
                .header(AUTHORIZATION_HEADER)
                .ok_or(WebhookError::Unauthorized("Authorization is missing"))?;
            let key = bearer_token(header).ok_or(WebhookError::Unauthorized(
                "Authorization must be 'Bearer <api key>'",
            ))?;
            if constant_time_eq(key.as_bytes(), expected.as_bytes()) {
                Ok(())
            } else {
                Err(WebhookError::Unauthorized("the bearer key does not match"))
            }
        })
    }

    fn parse(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<InboundDraft>, WebhookError> {
        let body = webhook.json()?;
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or_else(|| WebhookError::Malformed("expected {\"messages\": [...]}".into()))?;
        Ok(messages.iter().filter_map(parse_message).collect())
    }
}

/// The key of `Bearer <key>` (the scheme is case-insensitive, per RFC 9110).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, key) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// One element of `messages`; `None` when it has no id, [`unattributed`] without a contact id.
fn parse_message(item: &Value) -> Option<InboundDraft> {
    let id = non_empty(item.get("id"))?;
    let Some(contact) = item.get("contact").and_then(contact) else {
        let id = Some(id.to_owned());
        return Some(unattributed(
            KIND,
            "message",
            id,
            timestamp(item),
            item.clone(),
        ));
    };
    Some(InboundDraft {
        contact,
        platform_timestamp: timestamp(item),
        kind: InboundKind::MessageReceived {
            platform_message_id: id.to_owned(),
            content: content(item),
            reply_to: non_empty(item.get("reply_to")).map(str::to_owned),
            is_echo: item.get("echo") == Some(&Value::Bool(true)),
        },
        raw: item.clone(),
    })
}

fn contact(contact: &Value) -> Option<Contact> {
    Some(Contact {
        platform_id: non_empty(contact.get("id"))?.to_owned(),
        display_name: non_empty(contact.get("name")).map(str::to_owned),
        thread_id: None,
    })
}

/// The RFC 3339 `timestamp`, else the time of arrival.
fn timestamp(item: &Value) -> DateTime<Utc> {
    item.get("timestamp")
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

fn content(item: &Value) -> MessageContent {
    let text = item.get("text").and_then(Value::as_str).map(str::to_owned);
    if let Some(postback) = item.get("postback").filter(|p| !p.is_null()) {
        return postback_content(postback);
    }
    let attachments = item
        .get("attachments")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty());
    if let Some(attachments) = attachments {
        return media_content(attachments, text);
    }
    match text {
        Some(text) => MessageContent::Text { text },
        None => MessageContent::Unsupported {
            kind: "message".into(),
        },
    }
}

fn postback_content(postback: &Value) -> MessageContent {
    match postback.get("payload").and_then(Value::as_str) {
        Some(payload) => MessageContent::Postback {
            payload: payload.to_owned(),
            title: non_empty(postback.get("title")).map(str::to_owned),
        },
        None => MessageContent::Unsupported {
            kind: "postback".into(),
        },
    }
}

fn media_content(attachments: &[Value], caption: Option<String>) -> MessageContent {
    let attachments: Vec<Attachment> = attachments.iter().filter_map(attachment).collect();
    if attachments.is_empty() {
        return MessageContent::Unsupported {
            kind: "attachment".into(),
        };
    }
    MessageContent::Media {
        attachments,
        caption,
    }
}

fn attachment(attachment: &Value) -> Option<Attachment> {
    let kind = AttachmentKind::from_platform(attachment.get("type")?.as_str()?)?;
    let text = |name: &str| non_empty(attachment.get(name)).map(str::to_owned);
    Some(Attachment {
        kind,
        url: text("url"),
        mime_type: text("mime_type"),
        media_id: None,
    })
}

/// A string field, when present and not empty.
fn non_empty(value: Option<&Value>) -> Option<&str> {
    value?.as_str().filter(|text| !text.is_empty())
}
