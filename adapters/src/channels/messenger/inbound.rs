//! Messenger webhooks: the Meta handshake and signature (see `channels::meta`), then one draft
//! per `entry[].messaging[]` item: messages (text, attachments, quick replies, stickers,
//! replies), postbacks, echoes of the page's own sends, and delivery/read watermarks.
//!
//! # Account
//!
//! After the signature check the delivery is bound to the integration's `page_id` auth field,
//! and every `entry[]` must name it in its `id`: the `messaging[]` items of an entry naming
//! another page are foreign, dropped and counted, and a delivery of nothing but foreign items
//! is refused with [`WebhookError::account_mismatch`] (the policy is in `channels::webhook`).
//! An integration without a `page_id` accepts no delivery.
//!
//! On the Meta app's shared URL (`/webhooks/messenger`, see `channels::app_webhook`) each
//! `entry[]` is routed by its `id` to the integration recording that `page_id`.
//!
//! An item of our page that names no contact (no `sender.id`, or an echo without
//! `recipient.id`) is kept as an `Unsupported` message of the reserved unattributed contact and
//! counted (see `channels::webhook::unattributed`).

use super::{KIND, PAGE_ID};
use crate::channels::app_webhook::{AccountTally, AppWebhook, NamedAccount};
use crate::channels::meta;
use crate::channels::webhook::{
    id_text, unattributed, AccountCheck, OwnAccount, RawWebhook, VerifiedWebhook, WebhookChannel,
    WebhookError, WebhookSecrets,
};
use serde_json::Value;
use std::collections::HashMap;
use switchboard_domain::message::{
    Attachment, AttachmentKind, Contact, InboundDraft, InboundKind, MessageContent,
};

/// Messenger's inbound half.
#[derive(Debug, Default, Clone, Copy)]
pub struct MessengerWebhook;

impl WebhookChannel for MessengerWebhook {
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
        let mut body = webhook.json()?;
        entries(&body)?;
        let mut check = AccountCheck::new(KIND, webhook.own_account(PAGE_ID)?);
        let mut drafts = Vec::new();
        // The items are moved out of the body into their drafts' `raw`, not copied.
        for mut entry in take_array(body.get_mut("entry")) {
            let page = id_text(&entry["id"]);
            if check.admit(&[(PAGE_ID, page.as_deref())], messaging(&entry).count()) {
                drafts.extend(
                    take_array(entry.get_mut("messaging"))
                        .into_iter()
                        .map(parse_item),
                );
            }
        }
        check.finish(drafts)
    }

    fn app(&self) -> Option<&dyn AppWebhook> {
        Some(self)
    }
}

impl AppWebhook for MessengerWebhook {
    fn check_signature<'a>(
        &self,
        raw: RawWebhook<'a>,
        secrets: &WebhookSecrets,
    ) -> Result<VerifiedWebhook<'a>, WebhookError> {
        meta::verify(raw, secrets)
    }

    fn own_account(&self, secrets: &WebhookSecrets) -> Result<OwnAccount, WebhookError> {
        OwnAccount::from_integration(secrets, &[PAGE_ID], &[])
    }

    fn accounts(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<NamedAccount>, WebhookError> {
        let body = webhook.json()?;
        let mut tally = AccountTally::default();
        for entry in entries(&body)? {
            tally.add(id_text(&entry["id"]).as_deref(), messaging(entry).count());
        }
        Ok(tally.finish())
    }
}

/// The `entry[]` of a page webhook; `Malformed` when the body is not one.
fn entries(body: &Value) -> Result<&Vec<Value>, WebhookError> {
    if body["object"] != "page" {
        return Err(WebhookError::Malformed(
            "expected object 'page' with entry[]".into(),
        ));
    }
    body["entry"]
        .as_array()
        .ok_or_else(|| WebhookError::Malformed("entry[] is missing".into()))
}

/// The `messaging[]` items of one entry.
fn messaging(entry: &Value) -> impl Iterator<Item = &Value> {
    entry["messaging"].as_array().into_iter().flatten()
}

/// The elements of the array `value`, moved out (none when it is absent or not an array).
fn take_array(value: Option<&mut Value>) -> Vec<Value> {
    match value.map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// The value at `path` below `value`, field by field (what `Value::pointer` finds, without
/// its allocation per step).
fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, field| value.get(field))
}

/// One `messaging[]` item; [`unattributed`] when it names no contact.
fn parse_item(item: Value) -> InboundDraft {
    let timestamp = meta::timestamp(&item["timestamp"])
        .or_else(|| meta::timestamp(&item["delivery"]["watermark"]))
        .unwrap_or_else(chrono::Utc::now);
    let is_echo = at(&item, &["message", "is_echo"]) == Some(&Value::Bool(true));
    let sender = non_empty(at(&item, &["sender", "id"]));
    let contact = if is_echo {
        non_empty(at(&item, &["recipient", "id"]))
    } else {
        sender
    };
    let (Some(sender), Some(contact_id)) = (sender, contact) else {
        let id = ["message", "postback"]
            .iter()
            .find_map(|field| non_empty(at(&item, &[field, "mid"])))
            .map(str::to_owned);
        let kind = item_kind(&item);
        return unattributed(KIND, &kind, id, timestamp, item);
    };
    let kind = if let Some(message) = item.get("message") {
        message_kind(message, is_echo, sender, &item["timestamp"])
    } else if let Some(postback) = item.get("postback") {
        postback_kind(postback, sender, &item["timestamp"])
    } else if let Some(delivery) = item.get("delivery") {
        InboundKind::MessageDelivered {
            platform_message_ids: string_list(&delivery["mids"]),
            watermark: meta::timestamp(&delivery["watermark"]),
        }
    } else if let Some(read) = item.get("read") {
        InboundKind::MessageRead {
            platform_message_ids: Vec::new(),
            watermark: meta::timestamp(&read["watermark"]),
        }
    } else {
        let name = item_kind(&item);
        InboundKind::MessageReceived {
            platform_message_id: synthetic_id(&name, sender, &item["timestamp"]),
            content: MessageContent::Unsupported { kind: name },
            reply_to: None,
            is_echo: false,
        }
    };
    let contact = Contact::new(contact_id);
    InboundDraft {
        contact,
        platform_timestamp: timestamp,
        kind,
        raw: item,
    }
}

/// The kind of an item: its first field other than `sender`, `recipient` and `timestamp`.
fn item_kind(item: &Value) -> String {
    item.as_object()
        .and_then(|o| {
            o.keys()
                .find(|k| !["sender", "recipient", "timestamp"].contains(&k.as_str()))
        })
        .cloned()
        .unwrap_or_else(|| "unknown".into())
}

/// `value` as text, when it is a non-empty string.
fn non_empty(value: Option<&Value>) -> Option<&str> {
    value?.as_str().filter(|text| !text.is_empty())
}

fn message_kind(message: &Value, is_echo: bool, sender: &str, timestamp: &Value) -> InboundKind {
    let platform_message_id = message["mid"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| synthetic_id("message", sender, timestamp));
    InboundKind::MessageReceived {
        platform_message_id,
        content: message_content(message),
        reply_to: at(message, &["reply_to", "mid"])
            .and_then(Value::as_str)
            .map(str::to_owned),
        is_echo,
    }
}

fn message_content(message: &Value) -> MessageContent {
    let text = message["text"].as_str().map(str::to_owned);
    if let Some(payload) = at(message, &["quick_reply", "payload"]).and_then(Value::as_str) {
        return MessageContent::QuickReply {
            payload: payload.to_owned(),
            text,
        };
    }
    if let Some(sticker) = message.get("sticker_id") {
        let url = message
            .pointer("/attachments/0/payload/url")
            .and_then(Value::as_str);
        return MessageContent::Sticker {
            sticker_id: sticker.to_string().trim_matches('"').to_owned(),
            url: url.map(str::to_owned),
        };
    }
    let attachments = message["attachments"].as_array();
    if let Some(first) = attachments.and_then(|a| a.first()) {
        if first["type"] == "location" {
            let coordinates = at(first, &["payload", "coordinates"]);
            let lat = coordinates.and_then(|c| c["lat"].as_f64());
            let long = coordinates.and_then(|c| c["long"].as_f64());
            if let (Some(latitude), Some(longitude)) = (lat, long) {
                return MessageContent::Location {
                    latitude,
                    longitude,
                    name: first["title"].as_str().map(str::to_owned),
                    address: None,
                };
            }
        }
        let media: Vec<Attachment> = attachments
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let kind = AttachmentKind::from_platform(a["type"].as_str()?)?;
                Some(Attachment {
                    kind,
                    url: at(a, &["payload", "url"])
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    mime_type: None,
                    media_id: None,
                })
            })
            .collect();
        if !media.is_empty() {
            return MessageContent::Media {
                attachments: media,
                caption: text,
            };
        }
        let kind = first["type"].as_str().unwrap_or("attachment");
        return MessageContent::Unsupported {
            kind: kind.to_owned(),
        };
    }
    match text {
        Some(text) => MessageContent::Text { text },
        None => MessageContent::Unsupported {
            kind: "message".into(),
        },
    }
}

fn postback_kind(postback: &Value, sender: &str, timestamp: &Value) -> InboundKind {
    InboundKind::MessageReceived {
        platform_message_id: postback["mid"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| synthetic_id("postback", sender, timestamp)),
        content: MessageContent::Postback {
            payload: postback["payload"].as_str().unwrap_or_default().to_owned(),
            title: postback["title"].as_str().map(str::to_owned),
        },
        reply_to: None,
        is_echo: false,
    }
}

/// An id for items the platform gives none: stable across redeliveries of the same item.
fn synthetic_id(kind: &str, sender: &str, timestamp: &Value) -> String {
    format!("{kind}:{sender}:{timestamp}")
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}
