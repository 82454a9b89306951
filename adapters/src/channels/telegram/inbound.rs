//! Telegram Bot API webhooks: the `X-Telegram-Bot-Api-Secret-Token` check, then one draft per
//! request, since Telegram posts exactly one `Update` at a time.
//!
//! # What an update becomes
//!
//! - `message` and `channel_post`: a message from `from` (else `sender_chat`, else `chat`), with
//!   text, media (photo, animation, video, video note, audio, voice, document, by `file_id`),
//!   a sticker or a location (a venue keeps its title and address); anything else (a shared
//!   contact, a poll, a dice…) is `Unsupported`, named after its field.
//! - `callback_query`: a `Postback` of its `data`, from the user who pressed the button.
//! - `edited_message`, `edited_channel_post` and every other update kind: `Unsupported`, named
//!   after the update field, from whichever user or chat the update names.
//!
//! An update whose item names nobody (a stopped poll, say) is kept as an `Unsupported` message
//! of the reserved unattributed contact and counted (see `channels::webhook::unattributed`); an
//! update with no item at all yields no draft; a body that is not an object with a numeric
//! `update_id` is `Malformed`.
//!
//! # Account
//!
//! An update names no bot, so it is bound to its integration by the secret token alone: the
//! integration's own `webhook_secret` auth field, never a platform-wide credential of that name,
//! so one integration's token cannot authenticate a delivery to another's URL.
//!
//! # Message ids and de-duplication
//!
//! Telegram redelivers an update, unchanged, until we acknowledge it, and `update_id` is what
//! tells two updates apart. The platform message id is chosen so that a redelivery repeats it
//! and two updates never share it, while replies still point at the messages they answer:
//!
//! - a new message (`message`, `channel_post`) is `"<chat id>:<message_id>"`. Telegram numbers
//!   messages per chat, and each new message arrives in exactly one update, so this is as unique
//!   as `update_id`; it is also what a reply's `reply_to_message` and what our own sends
//!   (`sendMessage` answers with the chat and `message_id`) resolve to, so `reply_to` uses the
//!   same form;
//! - everything else (edits, button presses, other update kinds) is `"update:<update_id>"`. An
//!   edit keeps the `message_id` of the message it edits, so the message's own id would make it
//!   look like a redelivery of the original and it would be dropped.
//!
//! A button press names the message that carried the button as its `reply_to`.

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

/// The header in which Telegram repeats the `secret_token` given to `setWebhook`.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The integration auth field that holds that `secret_token`.
pub const WEBHOOK_SECRET: &str = "webhook_secret";

/// Message fields that describe a message rather than being its content.
const ENVELOPE_FIELDS: &[&str] = &[
    "message_id",
    "message_thread_id",
    "from",
    "sender_chat",
    "sender_boost_count",
    "sender_business_bot",
    "date",
    "edit_date",
    "business_connection_id",
    "chat",
    "forward_origin",
    "forward_from",
    "forward_from_chat",
    "forward_from_message_id",
    "forward_signature",
    "forward_sender_name",
    "forward_date",
    "is_topic_message",
    "is_automatic_forward",
    "is_from_offline",
    "reply_to_message",
    "external_reply",
    "quote",
    "reply_to_story",
    "via_bot",
    "has_protected_content",
    "media_group_id",
    "author_signature",
    "text",
    "entities",
    "link_preview_options",
    "effect_id",
    "caption",
    "caption_entities",
    "show_caption_above_media",
    "has_media_spoiler",
    "reply_markup",
];

/// Fields of a message that carry one file, and what kind of attachment each makes.
const FILE_FIELDS: &[(&str, AttachmentKind)] = &[
    ("animation", AttachmentKind::Video),
    ("video", AttachmentKind::Video),
    ("video_note", AttachmentKind::Video),
    ("audio", AttachmentKind::Audio),
    ("voice", AttachmentKind::Audio),
    ("document", AttachmentKind::File),
];

/// Where an update names the person or chat it concerns, in order of preference.
const PARTY_FIELDS: &[&str] = &[
    "from",
    "user",
    "sender_chat",
    "voter_chat",
    "actor_chat",
    "chat",
];

/// Telegram's inbound half.
#[derive(Debug, Default, Clone, Copy)]
pub struct TelegramWebhook;

impl WebhookChannel for TelegramWebhook {
    fn signature_header(&self) -> Option<&'static str> {
        Some(SECRET_HEADER)
    }

    fn verify<'a>(
        &self,
        raw: RawWebhook<'a>,
        secrets: &WebhookSecrets,
    ) -> Result<VerifiedWebhook<'a>, WebhookError> {
        let expected = secrets.integration_field(WEBHOOK_SECRET)?.expose();
        raw.verify_with(|raw| {
            let given = raw.header(SECRET_HEADER).ok_or(WebhookError::Unauthorized(
                "X-Telegram-Bot-Api-Secret-Token is missing",
            ))?;
            if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                Ok(())
            } else {
                Err(WebhookError::Unauthorized(
                    "X-Telegram-Bot-Api-Secret-Token does not match",
                ))
            }
        })
    }

    fn parse(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<InboundDraft>, WebhookError> {
        let update = webhook.json()?;
        let update_id = update
            .get("update_id")
            .and_then(integer_text)
            .ok_or_else(|| {
                WebhookError::Malformed(
                    "expected a Telegram Update with a numeric update_id".into(),
                )
            })?;
        Ok(parse_update(&update, &update_id).into_iter().collect())
    }
}

/// The one draft of an update; `None` when it carries no item, [`unattributed`] when its item
/// names nobody.
fn parse_update(update: &Value, update_id: &str) -> Option<InboundDraft> {
    let (field, item) = update_item(update)?;
    let Some(contact) = party(item) else {
        let id = Some(update_message_id(update_id));
        return Some(unattributed(
            KIND,
            field,
            id,
            timestamp(item),
            update.clone(),
        ));
    };
    let kind = match field {
        "message" | "channel_post" => message_kind(item, update_id),
        "callback_query" => callback_kind(item, update_id),
        other => unsupported_kind(other, update_id),
    };
    Some(InboundDraft {
        contact,
        platform_timestamp: timestamp(item),
        kind,
        raw: update.clone(),
    })
}

/// The update's one optional field (Telegram sends at most one) and its object.
fn update_item(update: &Value) -> Option<(&str, &Value)> {
    update
        .as_object()?
        .iter()
        .find(|(name, item)| name.as_str() != "update_id" && item.is_object())
        .map(|(name, item)| (name.as_str(), item))
}

/// The id under which an update with no message of its own is recorded.
fn update_message_id(update_id: &str) -> String {
    format!("update:{update_id}")
}

fn message_kind(message: &Value, update_id: &str) -> InboundKind {
    let chat = message.pointer("/chat/id").and_then(integer_text);
    InboundKind::MessageReceived {
        platform_message_id: message_ref(message, chat.clone())
            .unwrap_or_else(|| update_message_id(update_id)),
        content: message_content(message),
        reply_to: message
            .get("reply_to_message")
            .and_then(|replied| message_ref(replied, chat)),
        is_echo: false,
    }
}

fn callback_kind(query: &Value, update_id: &str) -> InboundKind {
    let content = match query.get("data").and_then(Value::as_str) {
        Some(data) => MessageContent::Postback {
            payload: data.to_owned(),
            title: None,
        },
        None => MessageContent::Unsupported {
            kind: "callback_query".into(),
        },
    };
    InboundKind::MessageReceived {
        platform_message_id: update_message_id(update_id),
        content,
        reply_to: query
            .get("message")
            .and_then(|message| message_ref(message, None)),
        is_echo: false,
    }
}

fn unsupported_kind(field: &str, update_id: &str) -> InboundKind {
    InboundKind::MessageReceived {
        platform_message_id: update_message_id(update_id),
        content: MessageContent::Unsupported {
            kind: field.to_owned(),
        },
        reply_to: None,
        is_echo: false,
    }
}

/// `"<chat id>:<message_id>"` of a message, its chat defaulting to `chat`.
fn message_ref(message: &Value, chat: Option<String>) -> Option<String> {
    let chat = message
        .pointer("/chat/id")
        .and_then(integer_text)
        .or(chat)?;
    let id = message.get("message_id").and_then(integer_text)?;
    Some(format!("{chat}:{id}"))
}

fn message_content(message: &Value) -> MessageContent {
    if let Some(text) = message.get("text").and_then(Value::as_str) {
        return MessageContent::Text {
            text: text.to_owned(),
        };
    }
    if let Some(attachment) = largest_photo(message).or_else(|| file_attachment(message)) {
        return MessageContent::Media {
            attachments: vec![attachment],
            caption: message
                .get("caption")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
    }
    if let Some(file_id) = message.pointer("/sticker/file_id").and_then(Value::as_str) {
        return MessageContent::Sticker {
            sticker_id: file_id.to_owned(),
            url: None,
        };
    }
    location(message).unwrap_or_else(|| MessageContent::Unsupported {
        kind: content_field(message),
    })
}

/// The biggest size of a photo (Telegram sends several); its `file_id` is the media id.
fn largest_photo(message: &Value) -> Option<Attachment> {
    let largest = message
        .get("photo")?
        .as_array()?
        .iter()
        .filter(|size| size.get("file_id").and_then(Value::as_str).is_some())
        .max_by_key(|size| (pixels(size), size.get("file_size").and_then(Value::as_u64)))?;
    file(largest, AttachmentKind::Image)
}

fn pixels(size: &Value) -> u64 {
    let side = |name: &str| size.get(name).and_then(Value::as_u64).unwrap_or(0);
    side("width").saturating_mul(side("height"))
}

/// The first file-carrying field of a message (an animation also carries a `document`, so it
/// is looked at first).
fn file_attachment(message: &Value) -> Option<Attachment> {
    FILE_FIELDS
        .iter()
        .find_map(|(field, kind)| file(message.get(*field)?, *kind))
}

fn file(object: &Value, kind: AttachmentKind) -> Option<Attachment> {
    let file_id = object.get("file_id")?.as_str()?;
    Some(Attachment {
        kind,
        url: None,
        mime_type: object
            .get("mime_type")
            .and_then(Value::as_str)
            .map(str::to_owned),
        media_id: Some(file_id.to_owned()),
    })
}

/// A venue (with its title and address) or a bare location.
fn location(message: &Value) -> Option<MessageContent> {
    let venue = message.get("venue");
    let point = venue
        .and_then(|v| v.get("location"))
        .or_else(|| message.get("location"))?;
    let text = |name: &str| venue?.get(name)?.as_str().map(str::to_owned);
    Some(MessageContent::Location {
        latitude: point.get("latitude")?.as_f64()?,
        longitude: point.get("longitude")?.as_f64()?,
        name: text("title"),
        address: text("address"),
    })
}

/// The name of the field that holds a message's content, for `Unsupported`.
fn content_field(message: &Value) -> String {
    message
        .as_object()
        .and_then(|fields| {
            fields
                .keys()
                .find(|name| !ENVELOPE_FIELDS.contains(&name.as_str()))
        })
        .cloned()
        .unwrap_or_else(|| "message".into())
}

/// The user or chat an item concerns, with the name Telegram shows for them.
fn party(item: &Value) -> Option<Contact> {
    PARTY_FIELDS.iter().find_map(|field| {
        let party = item.get(*field)?;
        let id = party.get("id").and_then(integer_text)?;
        Some(Contact {
            platform_id: id,
            display_name: display_name(party),
            thread_id: None,
        })
    })
}

/// `first_name last_name`, else the `username`, else a chat's `title`.
fn display_name(party: &Value) -> Option<String> {
    let text = |name: &str| {
        party
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let full = [text("first_name"), text("last_name")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Some(full).filter(|name| !name.is_empty()).or_else(|| {
        text("username")
            .or_else(|| text("title"))
            .map(str::to_owned)
    })
}

/// When it happened: an edit's `edit_date`, else `date` (Unix seconds), else now (button
/// presses carry no time of their own).
fn timestamp(item: &Value) -> DateTime<Utc> {
    ["edit_date", "date"]
        .iter()
        .find_map(|name| DateTime::from_timestamp(item.get(*name)?.as_i64()?, 0))
        .unwrap_or_else(Utc::now)
}

/// A Telegram integer id as text (chat ids may be negative or exceed 32 bits).
fn integer_text(value: &Value) -> Option<String> {
    value
        .as_i64()
        .map(|n| n.to_string())
        .or_else(|| value.as_u64().map(|n| n.to_string()))
}
