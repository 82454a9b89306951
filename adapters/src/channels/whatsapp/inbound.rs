//! WhatsApp Cloud API webhooks: the Meta handshake and signature (see `channels::meta`), then
//! one draft per `entry[].changes[].value.messages[]` item (text, media, stickers, locations,
//! interactive and quick-reply button replies) and per `statuses[]` item (sent, delivered,
//! read, failed).
//!
//! # Account
//!
//! After the signature check the delivery is bound to the integration's `phone_number_id` (and
//! `business_account_id`, when recorded) auth fields: every `messages` change must name the
//! phone number in `value.metadata.phone_number_id`, and its entry the business account in
//! `entry[].id`. The items of a change naming another account are foreign, dropped and
//! counted, and a delivery of nothing but foreign items is refused with
//! [`WebhookError::account_mismatch`] (the policy is in `channels::webhook`). An integration
//! without a `phone_number_id` accepts no delivery.
//!
//! On the Meta app's shared URL (`/webhooks/whatsapp`, see `channels::app_webhook`) each
//! `messages` change is routed by its `value.metadata.phone_number_id` to the integration
//! recording that `phone_number_id` (and then checked on its `business_account_id` as above).
//!
//! A message without `from`, or a status without `recipient_id`, is kept as an `Unsupported`
//! message of the reserved unattributed contact and counted (see
//! `channels::webhook::unattributed`); a status without an id, or one we do not track (such as
//! `played`), is skipped.

use super::{BUSINESS_ACCOUNT_ID, KIND, PHONE_NUMBER_ID};
use crate::channels::app_webhook::{AccountTally, AppWebhook, NamedAccount};
use crate::channels::meta;
use crate::channels::webhook::{
    id_text, unattributed, AccountCheck, OwnAccount, RawWebhook, VerifiedWebhook, WebhookChannel,
    WebhookError, WebhookSecrets,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use switchboard_domain::message::{
    Attachment, AttachmentKind, Contact, InboundDraft, InboundKind, MessageContent, PlatformError,
};

/// The `object` every WhatsApp Business Account webhook names.
const OBJECT: &str = "whatsapp_business_account";

/// The `changes[].field` that carries messages and statuses; other fields carry none.
const MESSAGES_FIELD: &str = "messages";

/// WhatsApp allows webhook payloads of up to 3 MB.
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// WhatsApp Cloud API's inbound half.
///
/// Echoes: the Cloud API does not repeat the business's own messages in `messages[]` (they
/// surface only as `statuses[]`), so every message draft has `is_echo: false`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WhatsappWebhook;

impl WebhookChannel for WhatsappWebhook {
    fn max_body_bytes(&self) -> usize {
        MAX_BODY_BYTES
    }

    fn signature_header(&self) -> Option<&'static str> {
        Some(meta::SIGNATURE_HEADER)
    }

    fn handshake(
        &self,
        query: &HashMap<String, String>,
        secrets: &WebhookSecrets,
    ) -> Result<String, WebhookError> {
        meta::handshake(query, secrets)
    }

    fn verify<'a>(
        &self,
        raw: RawWebhook<'a>,
        secrets: &WebhookSecrets,
    ) -> Result<VerifiedWebhook<'a>, WebhookError> {
        let verified = self.check_signature(raw, secrets)?;
        Ok(verified.bound_to(self.own_account(secrets)?))
    }

    fn parse(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<InboundDraft>, WebhookError> {
        let body = webhook.json()?;
        let changes = message_changes(&body)?;
        let mut check = AccountCheck::new(KIND, webhook.own_account(PHONE_NUMBER_ID)?);
        let drafts = changes
            .filter(|(entry, change)| {
                let value = &change["value"];
                let phone = id_text(&value["metadata"]["phone_number_id"]);
                let business = id_text(&entry["id"]);
                let count = item_count(value);
                let named = [
                    (PHONE_NUMBER_ID, phone.as_deref()),
                    (BUSINESS_ACCOUNT_ID, business.as_deref()),
                ];
                check.admit(&named, count)
            })
            .flat_map(|(_, change)| value_drafts(&change["value"]))
            .collect();
        check.finish(drafts)
    }

    fn app(&self) -> Option<&dyn AppWebhook> {
        Some(self)
    }
}

impl AppWebhook for WhatsappWebhook {
    fn check_signature<'a>(
        &self,
        raw: RawWebhook<'a>,
        secrets: &WebhookSecrets,
    ) -> Result<VerifiedWebhook<'a>, WebhookError> {
        meta::verify(raw, secrets)
    }

    fn own_account(&self, secrets: &WebhookSecrets) -> Result<OwnAccount, WebhookError> {
        OwnAccount::from_integration(secrets, &[PHONE_NUMBER_ID], &[BUSINESS_ACCOUNT_ID])
    }

    fn accounts(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<NamedAccount>, WebhookError> {
        let body = webhook.json()?;
        let mut tally = AccountTally::default();
        for (_, change) in message_changes(&body)? {
            let value = &change["value"];
            let phone = id_text(&value["metadata"]["phone_number_id"]);
            tally.add(phone.as_deref(), item_count(value));
        }
        Ok(tally.finish())
    }
}

/// Every `messages` change of a WhatsApp Business Account webhook, with its entry; `Malformed`
/// when the body is not one.
fn message_changes(body: &Value) -> Result<impl Iterator<Item = (&Value, &Value)>, WebhookError> {
    if body["object"] != OBJECT {
        return Err(WebhookError::Malformed(format!(
            "expected object '{OBJECT}' with entry[]"
        )));
    }
    let entries = body["entry"]
        .as_array()
        .ok_or_else(|| WebhookError::Malformed("entry[] is missing".into()))?;
    Ok(entries
        .iter()
        .flat_map(|entry| items(entry, "changes").map(move |change| (entry, change)))
        .filter(|(_, change)| change["field"] == MESSAGES_FIELD))
}

/// The items of one `changes[].value`: its messages and statuses.
fn item_count(value: &Value) -> usize {
    items(value, "messages").count() + items(value, "statuses").count()
}

/// The drafts of one `changes[].value`: its messages, then its statuses.
fn value_drafts(value: &Value) -> Vec<InboundDraft> {
    let contacts = &value["contacts"];
    let messages = items(value, "messages").map(|m| message_draft(m, contacts));
    let statuses = items(value, "statuses").filter_map(status_draft);
    messages.chain(statuses).collect()
}

/// One `messages[]` item; [`unattributed`] when it has no sender to attribute it to.
fn message_draft(message: &Value, contacts: &Value) -> InboundDraft {
    let Some(from) = non_empty(&message["from"]) else {
        let kind = message["type"].as_str().unwrap_or("message");
        let id = non_empty(&message["id"]).map(str::to_owned);
        return unattributed(KIND, kind, id, timestamp(message), message.clone());
    };
    let platform_message_id = non_empty(&message["id"])
        .map(str::to_owned)
        .unwrap_or_else(|| synthetic_id(message, from));
    InboundDraft {
        contact: contact(from, contacts),
        platform_timestamp: timestamp(message),
        kind: InboundKind::MessageReceived {
            platform_message_id,
            content: content(message),
            reply_to: non_empty(&message["context"]["id"]).map(str::to_owned),
            is_echo: false,
        },
        raw: message.clone(),
    }
}

/// One `statuses[]` item; [`unattributed`] without a recipient; `None` without a message id,
/// or for a status we do not track (such as `played`).
fn status_draft(status: &Value) -> Option<InboundDraft> {
    let Some(recipient) = non_empty(&status["recipient_id"]) else {
        return Some(unattributed(
            KIND,
            "status",
            None,
            timestamp(status),
            status.clone(),
        ));
    };
    let platform_message_ids = vec![non_empty(&status["id"])?.to_owned()];
    let kind = match status["status"].as_str()? {
        "sent" => InboundKind::MessageSent {
            platform_message_ids,
        },
        "delivered" => InboundKind::MessageDelivered {
            platform_message_ids,
            watermark: None,
        },
        "read" => InboundKind::MessageRead {
            platform_message_ids,
            watermark: None,
        },
        "failed" => InboundKind::MessageFailed {
            platform_message_ids,
            errors: platform_errors(&status["errors"]),
        },
        _ => return None,
    };
    Some(InboundDraft {
        contact: Contact::new(recipient),
        platform_timestamp: timestamp(status),
        kind,
        raw: status.clone(),
    })
}

/// The sender, named by their profile in `contacts[]` when it lists them.
fn contact(from: &str, contacts: &Value) -> Contact {
    let display_name = items_of(contacts)
        .find(|c| c["wa_id"].as_str() == Some(from))
        .and_then(|c| non_empty(&c["profile"]["name"]))
        .map(str::to_owned);
    Contact {
        platform_id: from.to_owned(),
        display_name,
        thread_id: None,
    }
}

/// What a message says; a type we do not map, or one missing its body, is `Unsupported`.
fn content(message: &Value) -> MessageContent {
    let kind = message["type"].as_str().unwrap_or("unknown");
    let body = &message[kind];
    let parsed = match kind {
        "text" => string(&body["body"]).map(|text| MessageContent::Text { text }),
        "image" | "video" | "audio" | "document" => media(kind, body),
        "sticker" => sticker(body),
        "location" => location(body),
        "interactive" => interactive_reply(body),
        "button" => quick_reply(body),
        _ => None,
    };
    parsed.unwrap_or_else(|| MessageContent::Unsupported {
        kind: kind.to_owned(),
    })
}

/// An image, video, audio or document: its media id (and URL when given), type and caption.
fn media(kind: &str, body: &Value) -> Option<MessageContent> {
    let attachment = Attachment {
        kind: AttachmentKind::from_platform(kind)?,
        url: string(&body["url"]),
        mime_type: string(&body["mime_type"]),
        media_id: string(&body["id"]),
    };
    if attachment.url.is_none() && attachment.media_id.is_none() {
        return None;
    }
    Some(MessageContent::Media {
        attachments: vec![attachment],
        caption: string(&body["caption"]),
    })
}

/// A sticker, known by its media id.
fn sticker(body: &Value) -> Option<MessageContent> {
    Some(MessageContent::Sticker {
        sticker_id: string(&body["id"])?,
        url: string(&body["url"]),
    })
}

/// A shared location; both coordinates are required.
fn location(body: &Value) -> Option<MessageContent> {
    Some(MessageContent::Location {
        latitude: coordinate(&body["latitude"])?,
        longitude: coordinate(&body["longitude"])?,
        name: string(&body["name"]),
        address: string(&body["address"]),
    })
}

/// A tapped reply button or list row: the id it was sent with, and its title.
fn interactive_reply(body: &Value) -> Option<MessageContent> {
    let kind = body["type"].as_str()?;
    if kind != "button_reply" && kind != "list_reply" {
        return None;
    }
    let reply = &body[kind];
    Some(MessageContent::Postback {
        payload: string(&reply["id"])?,
        title: string(&reply["title"]),
    })
}

/// A tapped quick-reply button of a template message.
fn quick_reply(body: &Value) -> Option<MessageContent> {
    Some(MessageContent::QuickReply {
        payload: string(&body["payload"])?,
        text: string(&body["text"]),
    })
}

/// The errors of a failed status; entries without a code are left out.
fn platform_errors(errors: &Value) -> Vec<PlatformError> {
    items_of(errors)
        .filter_map(|error| {
            let code = &error["code"];
            let code = code
                .as_i64()
                .map(|c| c.to_string())
                .or_else(|| string(code))?;
            let title = string(&error["title"]).or_else(|| string(&error["message"]));
            Some(PlatformError { code, title })
        })
        .collect()
}

/// When an item happened (unix seconds as a string); now, if the platform did not say.
fn timestamp(item: &Value) -> DateTime<Utc> {
    meta::timestamp(&item["timestamp"]).unwrap_or_else(Utc::now)
}

/// An id for a message the platform gives none: stable across redeliveries of the same item.
fn synthetic_id(message: &Value, from: &str) -> String {
    let kind = message["type"].as_str().unwrap_or("message");
    format!("{kind}:{from}:{}", message["timestamp"])
}

/// A coordinate in decimal degrees, as a number or a numeric string.
fn coordinate(value: &Value) -> Option<f64> {
    let degrees = value
        .as_f64()
        .or_else(|| value.as_str()?.trim().parse().ok())?;
    degrees.is_finite().then_some(degrees)
}

/// The array at `value[key]`, or nothing.
fn items<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    items_of(&value[key])
}

/// The elements of `value` when it is an array, or nothing.
fn items_of(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// `value` as text, when it is a string.
fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// `value` as text, when it is a non-empty string.
fn non_empty(value: &Value) -> Option<&str> {
    value.as_str().filter(|s| !s.is_empty())
}
