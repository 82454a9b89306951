//! TikTok Business Messaging webhooks: the `TikTok-Signature` check with a replay window, then
//! one draft per request (TikTok sends one event per request).
//!
//! The signature is `t=<unix seconds>,s=<hex HMAC-SHA256(client secret, t + "." + raw body)>`;
//! a signature whose `t` is further from now than the tolerance (either way) is refused (the
//! shared [`ReplayWindow`]: 5 minutes unless the platform setting `signature_tolerance_secs`
//! says otherwise).
//!
//! # Account
//!
//! After the signature check the delivery is bound to the integration's `business_id` auth
//! field; the event names its business account in the envelope's `user_openid` (else in the id
//! of the `from_user`/`to_user` side whose role is `business_account`). An event naming another
//! account, or none, is foreign: refused with [`WebhookError::account_mismatch`] (TikTok sends
//! one event per request, so it is every item), counted and logged without payload (see
//! `channels::webhook`). An integration without a `business_id` accepts no delivery.
//!
//! On the TikTok app's shared URL (`/webhooks/tiktok`, see `channels::app_webhook`) the event
//! is routed by that account to the integration recording it as its `business_id`.
//!
//! The envelope is `{client_key, event, create_time, user_openid, content}`, where `content` is
//! a JSON *string* holding the event: `from`/`to` (user names), `from_user`/`to_user`
//! (`{id, role}`), `unique_identifier`, `conversation_id`, `message_id`, `timestamp` (ms),
//! `type` and a block named after the type (`text.body`, `image.media_id`…).
//!
//! Events:
//! - `im_receive_msg`: a message from the user, keyed by `message_id`.
//! - `im_send_msg`: the business's own send (through us, the app or the web), an echo belonging
//!   to the user on the other side.
//! - `im_mark_read_msg`: the user read the conversation up to `read.last_read_timestamp`.
//! - anything else (`im_referral_msg`…): one `Unsupported` message for the user it names,
//!   keeping the raw event.
//!
//! An event that names no user (as `im_receive_msg_eu` never does, or whose `content` is not
//! JSON) is kept as an `Unsupported` message of the reserved unattributed contact and counted
//! (see `channels::webhook::unattributed`).
//!
//! The user is whichever of `from_user`/`to_user` has the role `personal_account` (else the
//! recipient of our sends and the sender of everything else); their id is that side's `id`,
//! else `unique_identifier`. Text, image and video map to content; other types are
//! `Unsupported`. `raw` is the verified envelope, `content` still a string as signed.

use super::{BUSINESS_ID, CLIENT_SECRET, KIND, SIGNATURE_HEADER};
use crate::channels::app_webhook::{AccountTally, AppWebhook, NamedAccount};
use crate::channels::webhook::{
    hex_signature_matches, hmac_sha256, id_text, unattributed, AccountCheck, OwnAccount,
    RawWebhook, ReplayWindow, VerifiedWebhook, WebhookChannel, WebhookError, WebhookSecrets,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use switchboard_domain::message::{
    Attachment, AttachmentKind, Contact, InboundDraft, InboundKind, MessageContent,
};

/// TikTok Business Messaging's inbound half.
#[derive(Debug, Default, Clone, Copy)]
pub struct TikTokWebhook {
    /// How far the signature's `t` may be from now to be accepted.
    pub window: ReplayWindow,
}

impl WebhookChannel for TikTokWebhook {
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
        let event = event_type(&body)?;
        let mut check = AccountCheck::new(KIND, webhook.own_account(BUSINESS_ID)?);
        let content = event_content(&body["content"]);
        let named = business_account(&body, &content);
        if !check.admit(&[(BUSINESS_ID, named.as_deref())], 1) {
            return check.finish(Vec::new());
        }
        check.finish(vec![parse_event(event, &body, &content)])
    }

    fn app(&self) -> Option<&dyn AppWebhook> {
        Some(self)
    }
}

impl AppWebhook for TikTokWebhook {
    fn check_signature<'a>(
        &self,
        raw: RawWebhook<'a>,
        secrets: &WebhookSecrets,
    ) -> Result<VerifiedWebhook<'a>, WebhookError> {
        let secret = secrets.get(CLIENT_SECRET)?;
        raw.verify_with(|raw| {
            let header = raw
                .header(SIGNATURE_HEADER)
                .ok_or(WebhookError::Unauthorized("TikTok-Signature is missing"))?;
            let (signed_at, given) = signature_parts(header).ok_or(WebhookError::Unauthorized(
                "TikTok-Signature must be t=<seconds>,s=<hex>",
            ))?;
            let expected = hmac_sha256(
                secret.expose().as_bytes(),
                &[signed_at.as_bytes(), b".", raw.body],
            );
            if !hex_signature_matches(given, &expected) {
                return Err(WebhookError::Unauthorized(
                    "TikTok-Signature does not match the body",
                ));
            }
            let signed_at: i64 = signed_at
                .parse()
                .map_err(|_| WebhookError::Unauthorized("TikTok-Signature t is not a Unix time"))?;
            if self.window.admits(signed_at, secrets) {
                Ok(())
            } else {
                Err(WebhookError::Unauthorized(
                    "TikTok-Signature is outside the tolerance window",
                ))
            }
        })
    }

    fn own_account(&self, secrets: &WebhookSecrets) -> Result<OwnAccount, WebhookError> {
        OwnAccount::from_integration(secrets, &[BUSINESS_ID], &[])
    }

    fn accounts(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<NamedAccount>, WebhookError> {
        let body = webhook.json()?;
        event_type(&body)?;
        let named = business_account(&body, &event_content(&body["content"]));
        let mut tally = AccountTally::default();
        tally.add(named.as_deref(), 1);
        Ok(tally.finish())
    }
}

/// The envelope's `event`; `Malformed` when it has none.
fn event_type(body: &Value) -> Result<&str, WebhookError> {
    body.get("event")
        .and_then(Value::as_str)
        .ok_or_else(|| WebhookError::Malformed("expected an object with event".into()))
}

/// The business account an event names: the envelope's `user_openid`, else the id of the side
/// whose role is `business_account`.
fn business_account(envelope: &Value, content: &Value) -> Option<String> {
    id_text(&envelope["user_openid"]).or_else(|| {
        ["from_user", "to_user"]
            .iter()
            .map(|side| &content[*side])
            .find(|side| side["role"] == "business_account")
            .and_then(|side| id_text(&side["id"]))
    })
}

/// `(t, s)` from `t=…,s=…`; `None` when either is missing, repeated, or a part has no `=`.
fn signature_parts(header: &str) -> Option<(&str, &str)> {
    let (mut signed_at, mut signature) = (None, None);
    for part in header.split(',') {
        let (key, value) = part.split_once('=')?;
        let slot = match key.trim() {
            "t" => &mut signed_at,
            "s" => &mut signature,
            _ => continue,
        };
        if slot.replace(value.trim()).is_some() {
            return None;
        }
    }
    Some((signed_at?, signature?))
}

/// The one event of a request; [`unattributed`] when it names no user.
fn parse_event(event: &str, envelope: &Value, content: &Value) -> InboundDraft {
    let platform_timestamp = millis(&content["timestamp"])
        .or_else(|| seconds(&envelope["create_time"]))
        .unwrap_or_else(Utc::now);
    let Some(contact) = contact(content, user_side(event, content)) else {
        let id = id_text(&content["message_id"]);
        return unattributed(KIND, event, id, platform_timestamp, envelope.clone());
    };
    let stamp = if content["timestamp"].is_null() {
        &envelope["create_time"]
    } else {
        &content["timestamp"]
    };
    let fallback_id = format!("{event}:{}:{}", contact.platform_id, text_of(stamp));
    let kind = match event {
        "im_receive_msg" => message_kind(content, fallback_id, false),
        "im_send_msg" => message_kind(content, fallback_id, true),
        "im_mark_read_msg" => InboundKind::MessageRead {
            platform_message_ids: Vec::new(),
            watermark: millis(&content["read"]["last_read_timestamp"]),
        },
        _ => InboundKind::MessageReceived {
            platform_message_id: id_text(&content["message_id"]).unwrap_or(fallback_id),
            content: unsupported(event),
            reply_to: None,
            is_echo: false,
        },
    };
    InboundDraft {
        contact,
        platform_timestamp,
        kind,
        raw: envelope.clone(),
    }
}

/// `content`, parsed from its JSON string (or taken as is when already an object).
fn event_content(value: &Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        Value::Object(_) => value.clone(),
        _ => Value::Null,
    }
}

/// The keys of the user's side: `(from_user, from)` or `(to_user, to)`.
fn user_side(event: &str, content: &Value) -> (&'static str, &'static str) {
    const FROM: (&str, &str) = ("from_user", "from");
    const TO: (&str, &str) = ("to_user", "to");
    let personal = |(user, _): (&str, &str)| content[user]["role"] == "personal_account";
    if personal(FROM) {
        FROM
    } else if personal(TO) || event == "im_send_msg" {
        TO
    } else {
        FROM
    }
}

fn contact(content: &Value, (user, name): (&str, &str)) -> Option<Contact> {
    let id = id_text(&content[user]["id"]).or_else(|| id_text(&content["unique_identifier"]))?;
    Some(Contact {
        platform_id: id,
        display_name: non_empty(&content[name]),
        thread_id: id_text(&content["conversation_id"]),
    })
}

fn message_kind(content: &Value, fallback_id: String, is_echo: bool) -> InboundKind {
    InboundKind::MessageReceived {
        platform_message_id: id_text(&content["message_id"]).unwrap_or(fallback_id),
        content: message_content(content),
        reply_to: id_text(&content["referenced_message_info"]["referenced_message_id"]),
        is_echo,
    }
}

fn message_content(content: &Value) -> MessageContent {
    let kind = content["type"].as_str().unwrap_or_default();
    let mapped = match kind {
        "text" => non_empty(&content["text"]["body"]).map(|text| MessageContent::Text { text }),
        "image" | "video" => media(kind, &content[kind]),
        _ => None,
    };
    mapped.unwrap_or_else(|| unsupported(kind))
}

/// An image or video, known by its media id (fetched through the API) or a URL.
fn media(kind: &str, block: &Value) -> Option<MessageContent> {
    let media_id = id_text(&block["media_id"]);
    let url = non_empty(&block["url"]);
    if media_id.is_none() && url.is_none() {
        return None;
    }
    let attachment = Attachment {
        kind: AttachmentKind::from_platform(kind)?,
        url,
        mime_type: None,
        media_id,
    };
    Some(MessageContent::Media {
        attachments: vec![attachment],
        caption: None,
    })
}

fn unsupported(kind: &str) -> MessageContent {
    let kind = if kind.is_empty() { "message" } else { kind };
    MessageContent::Unsupported {
        kind: kind.to_owned(),
    }
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

/// Milliseconds since the epoch, as a number or a string.
fn millis(value: &Value) -> Option<DateTime<Utc>> {
    let millis = value
        .as_i64()
        .or_else(|| value.as_str()?.trim().parse().ok())?;
    DateTime::from_timestamp_millis(millis)
}

/// Seconds since the epoch, as a number or a string.
fn seconds(value: &Value) -> Option<DateTime<Utc>> {
    let seconds = value
        .as_i64()
        .or_else(|| value.as_str()?.trim().parse().ok())?;
    DateTime::from_timestamp(seconds, 0)
}
