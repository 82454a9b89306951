//! Messenger webhooks: the Meta handshake and signature (see `channels::meta`), then one draft
//! per `entry[].messaging[]` item: messages (text, attachments, quick replies, stickers,
//! replies), postbacks, echoes of the page's own sends, and delivery/read watermarks.

use crate::channels::meta;
use crate::channels::webhook::{
    RawWebhook, VerifiedWebhook, WebhookChannel, WebhookError, WebhookSecrets,
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
        meta::verify(raw, secrets)
    }

    fn parse(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<InboundDraft>, WebhookError> {
        let body = webhook.json()?;
        if body["object"] != "page" {
            return Err(WebhookError::Malformed(
                "expected object 'page' with entry[]".into(),
            ));
        }
        let entries = body["entry"]
            .as_array()
            .ok_or_else(|| WebhookError::Malformed("entry[] is missing".into()))?;
        Ok(entries
            .iter()
            .flat_map(|entry| entry["messaging"].as_array().into_iter().flatten())
            .filter_map(parse_item)
            .collect())
    }
}

/// One `messaging[]` item; `None` when it names no contact (nothing can be attributed).
fn parse_item(item: &Value) -> Option<InboundDraft> {
    let sender = item.pointer("/sender/id").and_then(Value::as_str)?;
    let timestamp = meta::timestamp(&item["timestamp"])
        .or_else(|| meta::timestamp(&item["delivery"]["watermark"]))
        .unwrap_or_else(chrono::Utc::now);
    let is_echo = item.pointer("/message/is_echo") == Some(&Value::Bool(true));
    let contact_id = if is_echo {
        item.pointer("/recipient/id").and_then(Value::as_str)?
    } else {
        sender
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
        let name = item
            .as_object()
            .and_then(|o| {
                o.keys()
                    .find(|k| !["sender", "recipient", "timestamp"].contains(&k.as_str()))
            })
            .cloned()
            .unwrap_or_else(|| "unknown".into());
        InboundKind::MessageReceived {
            platform_message_id: synthetic_id(&name, sender, &item["timestamp"]),
            content: MessageContent::Unsupported { kind: name },
            reply_to: None,
            is_echo: false,
        }
    };
    Some(InboundDraft {
        contact: Contact::new(contact_id),
        platform_timestamp: timestamp,
        kind,
        raw: item.clone(),
    })
}

fn message_kind(message: &Value, is_echo: bool, sender: &str, timestamp: &Value) -> InboundKind {
    let platform_message_id = message["mid"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| synthetic_id("message", sender, timestamp));
    InboundKind::MessageReceived {
        platform_message_id,
        content: message_content(message),
        reply_to: message
            .pointer("/reply_to/mid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        is_echo,
    }
}

fn message_content(message: &Value) -> MessageContent {
    let text = message["text"].as_str().map(str::to_owned);
    if let Some(payload) = message
        .pointer("/quick_reply/payload")
        .and_then(Value::as_str)
    {
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
            let coordinates = first.pointer("/payload/coordinates");
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
                    url: a
                        .pointer("/payload/url")
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
