//! Zalo OA webhooks: the `X-ZEvent-Signature` check, then one draft per request (Zalo sends
//! one event per request).
//!
//! The signature is `mac=<hex SHA-256(app_id + raw body + timestamp + OA secret key)>`, a plain
//! hash rather than an HMAC, where `timestamp` is the body's own `timestamp` field: the body is
//! read leniently for it before anything is trusted, and a body without one is refused. That
//! signed `timestamp` (Unix milliseconds) must also be within the shared [`ReplayWindow`] of now
//! (5 minutes either way unless the platform setting `zalo.signature_tolerance_secs` says
//! otherwise), so a captured delivery cannot be replayed later.
//!
//! # Account
//!
//! After those checks the delivery is bound to the integration's `oa_id` auth field. The event
//! names its OA in `oa_id` when it has one (`follow`, `user_submit_info`…), else on the OA's side
//! of the exchange: `sender.id` of the OA's own sends (`oa_send_*`) and of the receipts
//! (`user_received_message`, `user_seen_message`, which Zalo addresses from the OA to the user),
//! `recipient.id` of every other event (a user's). An event naming another OA, or none, is
//! foreign: refused with [`WebhookError::account_mismatch`] (Zalo sends one event per request,
//! so it is every item), counted and logged without payload (see `channels::webhook`). An
//! integration without an `oa_id` accepts no delivery.
//!
//! On the Zalo app's shared URL (`/webhooks/zalo`, see `channels::app_webhook`) the event is
//! routed by that OA to the integration recording it as its `oa_id`.
//!
//! Events, by `event_name`:
//! - `user_send_*` (text, image, gif, audio, video, file, sticker, location, link, business card,
//!   and any later kind): a message from `sender.id`, keyed by `message.msg_id` so redeliveries
//!   de-duplicate; kinds without a mapping become `Unsupported`.
//! - `oa_send_*`: the OA's own send, an echo belonging to `recipient.id`.
//! - `user_received_message` / `user_seen_message`: one delivery / read receipt listing every id
//!   in `message.msg_ids` (one draft for the whole list, not one per id). Zalo addresses these
//!   from the OA to the user, so the contact is `recipient.id` (else `sender.id`).
//! - anything else (`follow`, `user_click_*`…): one `Unsupported` message for the user named by
//!   `sender.id` or `follower.id`, keeping the raw event.
//!
//! An event of our OA that names no user is kept as an `Unsupported` message of the reserved
//! unattributed contact and counted (see `channels::webhook::unattributed`).
//!
//! Timestamps are milliseconds, as a string or a number.

use super::{APP_ID, KIND, OA_ID, OA_SECRET_KEY, SIGNATURE_HEADER};
use crate::channels::app_webhook::{AccountTally, AppWebhook, NamedAccount};
use crate::channels::webhook::{
    hex_signature_matches, id_text, unattributed, AccountCheck, OwnAccount, RawWebhook,
    ReplayWindow, VerifiedWebhook, WebhookChannel, WebhookError, WebhookSecrets,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_domain::message::{
    Attachment, AttachmentKind, Contact, InboundDraft, InboundKind, MessageContent,
};

/// Zalo Official Account's inbound half.
#[derive(Debug, Default, Clone, Copy)]
pub struct ZaloWebhook {
    /// How far the body's signed `timestamp` may be from now to be accepted.
    pub window: ReplayWindow,
}

impl WebhookChannel for ZaloWebhook {
    fn signature_header(&self) -> Option<&'static str> {
        Some(SIGNATURE_HEADER)
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
        let event = event_name(&body)?;
        let mut check = AccountCheck::new(KIND, webhook.own_account(OA_ID)?);
        let oa = named_oa(event, &body);
        if !check.admit(&[(OA_ID, oa.as_deref())], 1) {
            return check.finish(Vec::new());
        }
        check.finish(vec![parse_event(event, &body)])
    }

    fn app(&self) -> Option<&dyn AppWebhook> {
        Some(self)
    }
}

impl AppWebhook for ZaloWebhook {
    fn check_signature<'a>(
        &self,
        raw: RawWebhook<'a>,
        secrets: &WebhookSecrets,
    ) -> Result<VerifiedWebhook<'a>, WebhookError> {
        let app_id = secrets.get(APP_ID)?;
        let key = secrets.get(OA_SECRET_KEY)?;
        raw.verify_with(|raw| {
            let header = raw
                .header(SIGNATURE_HEADER)
                .ok_or(WebhookError::Unauthorized("X-ZEvent-Signature is missing"))?
                .trim();
            let given = header.strip_prefix("mac=").unwrap_or(header);
            let timestamp = body_timestamp(raw.body).ok_or(WebhookError::Unauthorized(
                "the body has no timestamp to check the signature with",
            ))?;
            let expected = mac(&[
                app_id.expose().as_bytes(),
                raw.body,
                timestamp.as_bytes(),
                key.expose().as_bytes(),
            ]);
            if !hex_signature_matches(given, &expected) {
                return Err(WebhookError::Unauthorized(
                    "X-ZEvent-Signature does not match the body",
                ));
            }
            let millis: i64 = timestamp.trim().parse().map_err(|_| {
                WebhookError::Unauthorized("the body's timestamp is not Unix milliseconds")
            })?;
            if self.window.admits(millis.div_euclid(1000), secrets) {
                Ok(())
            } else {
                Err(WebhookError::Unauthorized(
                    "the body's timestamp is outside the tolerance window",
                ))
            }
        })
    }

    fn own_account(&self, secrets: &WebhookSecrets) -> Result<OwnAccount, WebhookError> {
        OwnAccount::from_integration(secrets, &[OA_ID], &[])
    }

    fn accounts(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<NamedAccount>, WebhookError> {
        let body = webhook.json()?;
        let mut tally = AccountTally::default();
        tally.add(named_oa(event_name(&body)?, &body).as_deref(), 1);
        Ok(tally.finish())
    }
}

/// The event's `event_name`; `Malformed` when the body has none.
fn event_name(body: &Value) -> Result<&str, WebhookError> {
    body.get("event_name")
        .and_then(Value::as_str)
        .ok_or_else(|| WebhookError::Malformed("expected an object with event_name".into()))
}

/// The OA an event names: its `oa_id`, else the OA's side of the exchange (`sender.id` of the
/// OA's sends and of receipts, `recipient.id` of a user's events).
fn named_oa(event: &str, item: &Value) -> Option<String> {
    id_at(item, "/oa_id").or_else(|| {
        let from_the_oa = event.starts_with("oa_send_")
            || matches!(event, "user_received_message" | "user_seen_message");
        id_at(
            item,
            if from_the_oa {
                "/sender/id"
            } else {
                "/recipient/id"
            },
        )
    })
}

/// SHA-256 of `parts`, concatenated.
fn mac(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

/// The body's `timestamp` exactly as written (a string's text or a number's digits), when the
/// body is JSON and has one.
fn body_timestamp(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    match value.get("timestamp")? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The one event of a request; [`unattributed`] when it names no user.
fn parse_event(event: &str, item: &Value) -> InboundDraft {
    let platform_timestamp = millis(&item["timestamp"]).unwrap_or_else(Utc::now);
    let Some((contact, kind)) = attributed_event(event, item) else {
        let id = id_at(item, "/message/msg_id");
        return unattributed(KIND, event, id, platform_timestamp, item.clone());
    };
    InboundDraft {
        contact: Contact::new(contact),
        platform_timestamp,
        kind,
        raw: item.clone(),
    }
}

/// The user an event concerns and what happened; `None` when it names no user.
fn attributed_event(event: &str, item: &Value) -> Option<(String, InboundKind)> {
    if let Some(kind) = event.strip_prefix("user_send_") {
        let contact = id_at(item, "/sender/id")?;
        let kind = message_kind(event, kind, item, &contact, false);
        Some((contact, kind))
    } else if let Some(kind) = event.strip_prefix("oa_send_") {
        let contact = id_at(item, "/recipient/id")?;
        let kind = message_kind(event, kind, item, &contact, true);
        Some((contact, kind))
    } else {
        other_event(event, item)
    }
}

/// Receipts, and the events this channel has no mapping for.
fn other_event(event: &str, item: &Value) -> Option<(String, InboundKind)> {
    let receipt_contact = || id_at(item, "/recipient/id").or_else(|| id_at(item, "/sender/id"));
    match event {
        "user_received_message" => Some((
            receipt_contact()?,
            InboundKind::MessageDelivered {
                platform_message_ids: message_ids(&item["message"]),
                watermark: None,
            },
        )),
        "user_seen_message" => Some((
            receipt_contact()?,
            InboundKind::MessageRead {
                platform_message_ids: message_ids(&item["message"]),
                watermark: None,
            },
        )),
        _ => {
            let contact = id_at(item, "/sender/id").or_else(|| id_at(item, "/follower/id"))?;
            let kind = InboundKind::MessageReceived {
                platform_message_id: message_id(event, item, &contact),
                content: unsupported(event),
                reply_to: None,
                is_echo: false,
            };
            Some((contact, kind))
        }
    }
}

fn message_kind(
    event: &str,
    kind: &str,
    item: &Value,
    contact: &str,
    is_echo: bool,
) -> InboundKind {
    InboundKind::MessageReceived {
        platform_message_id: message_id(event, item, contact),
        content: message_content(kind, &item["message"]),
        reply_to: None,
        is_echo,
    }
}

/// `message.msg_id`, else an id stable across redeliveries of the same event.
fn message_id(event: &str, item: &Value, contact: &str) -> String {
    id_at(item, "/message/msg_id")
        .unwrap_or_else(|| format!("{event}:{contact}:{}", text_of(&item["timestamp"])))
}

fn message_content(kind: &str, message: &Value) -> MessageContent {
    let text = non_empty(&message["text"]);
    let attachments = message["attachments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if kind == "business_card" {
        return unsupported(kind);
    }
    match attachments.first() {
        Some(first) => attachment_content(kind, first, attachments, text),
        None => text.map_or_else(|| unsupported(kind), |text| MessageContent::Text { text }),
    }
}

/// Content led by the first attachment's `type`.
fn attachment_content(
    kind: &str,
    first: &Value,
    all: &[Value],
    text: Option<String>,
) -> MessageContent {
    let payload = &first["payload"];
    match first["type"].as_str().unwrap_or(kind) {
        "location" => location(payload).unwrap_or_else(|| unsupported("location")),
        "sticker" => sticker(payload).unwrap_or_else(|| unsupported("sticker")),
        "link" => text
            .or_else(|| non_empty(&payload["url"]))
            .map_or_else(|| unsupported("link"), |text| MessageContent::Text { text }),
        other => media(all, text).unwrap_or_else(|| unsupported(other)),
    }
}

fn location(payload: &Value) -> Option<MessageContent> {
    let coordinates = &payload["coordinates"];
    Some(MessageContent::Location {
        latitude: degrees(&coordinates["latitude"])?,
        longitude: degrees(&coordinates["longitude"])?,
        name: None,
        address: non_empty(&payload["address"]),
    })
}

fn degrees(value: &Value) -> Option<f64> {
    let degrees = value
        .as_f64()
        .or_else(|| value.as_str()?.trim().parse().ok())?;
    degrees.is_finite().then_some(degrees)
}

fn sticker(payload: &Value) -> Option<MessageContent> {
    Some(MessageContent::Sticker {
        sticker_id: id_at(payload, "/id")?,
        url: non_empty(&payload["url"]),
    })
}

/// Every image, GIF, video, audio or file attachment; `None` when there is none.
fn media(all: &[Value], caption: Option<String>) -> Option<MessageContent> {
    let attachments: Vec<Attachment> = all.iter().filter_map(attachment).collect();
    (!attachments.is_empty()).then_some(MessageContent::Media {
        attachments,
        caption,
    })
}

fn attachment(item: &Value) -> Option<Attachment> {
    let payload = &item["payload"];
    Some(Attachment {
        kind: AttachmentKind::from_platform(item["type"].as_str()?)?,
        url: non_empty(&payload["url"]).or_else(|| non_empty(&payload["thumbnail"])),
        mime_type: None,
        media_id: None,
    })
}

fn unsupported(kind: &str) -> MessageContent {
    let kind = if kind.is_empty() { "message" } else { kind };
    MessageContent::Unsupported {
        kind: kind.to_owned(),
    }
}

/// `msg_ids[]`, or the single `msg_id` some receipts carry instead.
fn message_ids(message: &Value) -> Vec<String> {
    match message["msg_ids"].as_array() {
        Some(ids) => ids.iter().filter_map(id_text).collect(),
        None => id_text(&message["msg_id"]).into_iter().collect(),
    }
}

/// The id at `pointer`: a non-empty string, or a number's digits.
fn id_at(value: &Value, pointer: &str) -> Option<String> {
    value.pointer(pointer).and_then(id_text)
}

fn non_empty(value: &Value) -> Option<String> {
    value
        .as_str()
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn text_of(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// Milliseconds since the epoch, as a string or a number.
fn millis(value: &Value) -> Option<DateTime<Utc>> {
    let millis = value
        .as_i64()
        .or_else(|| value.as_str()?.trim().parse().ok())?;
    DateTime::from_timestamp_millis(millis)
}
