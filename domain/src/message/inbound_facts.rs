//! Reading an inbound event without the platform's item: what read models need. The event's
//! own decoding flattens its kind into the top level (serde then buffers the whole event,
//! the platform's `raw` item included, before it picks the fields out); this reads the same
//! JSON with every field named, skips `raw` without building it, and leaves it `Null`.

use crate::channel::ChannelKind;
use crate::ids::{IntegrationId, WorkspaceId};
use crate::message::content::MessageContent;
use crate::message::inbound::{Contact, InboundEvent, InboundKind, PlatformError};
use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// The kinds' names, as in the event's `type`.
#[derive(Deserialize)]
enum KindName {
    #[serde(rename = "MessageReceived")]
    Received,
    #[serde(rename = "MessageSent")]
    Sent,
    #[serde(rename = "MessageDelivered")]
    Delivered,
    #[serde(rename = "MessageRead")]
    Read,
    #[serde(rename = "MessageFailed")]
    Failed,
}

/// Every field any kind has, at the top level where the event keeps them; `raw` is not named,
/// so it is skipped.
#[derive(Deserialize)]
struct EventFields {
    event_id: Uuid,
    integration_id: IntegrationId,
    workspace_id: WorkspaceId,
    channel: ChannelKind,
    conversation_key: String,
    contact: Contact,
    platform_timestamp: DateTime<Utc>,
    #[serde(default)]
    received_at: Option<DateTime<Utc>>,
    #[serde(rename = "type")]
    kind: KindName,
    platform_message_id: Option<String>,
    content: Option<MessageContent>,
    #[serde(default)]
    reply_to: Option<String>,
    is_echo: Option<bool>,
    platform_message_ids: Option<Vec<String>>,
    #[serde(default)]
    watermark: Option<DateTime<Utc>>,
    errors: Option<Vec<PlatformError>>,
}

fn required<T>(value: Option<T>, field: &'static str) -> serde_json::Result<T> {
    value.ok_or_else(|| serde_json::Error::missing_field(field))
}

impl EventFields {
    /// The event these fields spell, its `raw` left `Null`; a field its kind needs but the
    /// JSON lacks is refused as the full decoding refuses it.
    fn into_event(self) -> serde_json::Result<InboundEvent> {
        let ids = |ids| required(ids, "platform_message_ids");
        let kind = match self.kind {
            KindName::Received => InboundKind::MessageReceived {
                platform_message_id: required(self.platform_message_id, "platform_message_id")?,
                content: required(self.content, "content")?,
                reply_to: self.reply_to,
                is_echo: required(self.is_echo, "is_echo")?,
            },
            KindName::Sent => InboundKind::MessageSent {
                platform_message_ids: ids(self.platform_message_ids)?,
            },
            KindName::Delivered => InboundKind::MessageDelivered {
                platform_message_ids: ids(self.platform_message_ids)?,
                watermark: self.watermark,
            },
            KindName::Read => InboundKind::MessageRead {
                platform_message_ids: ids(self.platform_message_ids)?,
                watermark: self.watermark,
            },
            KindName::Failed => InboundKind::MessageFailed {
                platform_message_ids: ids(self.platform_message_ids)?,
                errors: required(self.errors, "errors")?,
            },
        };
        Ok(InboundEvent {
            event_id: self.event_id,
            integration_id: self.integration_id,
            workspace_id: self.workspace_id,
            channel: self.channel,
            conversation_key: self.conversation_key,
            contact: self.contact,
            platform_timestamp: self.platform_timestamp,
            received_at: self.received_at,
            kind,
            raw: Value::Null,
        })
    }
}

impl InboundEvent {
    /// Decodes an event as its own decoding does, except that `raw` is skipped and left
    /// `Null`: for read models, which never look at the platform's item.
    pub fn from_json_without_raw(json: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice::<EventFields>(json)?.into_event()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::InboundDraft;
    use serde_json::json;

    fn event(kind: InboundKind) -> InboundEvent {
        InboundEvent::from_draft(
            IntegrationId::new(),
            "acme".parse().unwrap(),
            ChannelKind::parse("messenger").unwrap(),
            InboundDraft {
                contact: Contact {
                    platform_id: "u1".into(),
                    display_name: Some("Ann".into()),
                    thread_id: None,
                },
                platform_timestamp: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                kind,
                raw: json!({"type": "not the kind", "deep": [{"platform_message_id": "x"}]}),
            },
        )
    }

    fn every_kind() -> Vec<InboundKind> {
        let ids = vec!["m1".to_string(), "m2".to_string()];
        let watermark = DateTime::from_timestamp(1_700_000_100, 0);
        vec![
            InboundKind::MessageReceived {
                platform_message_id: "m1".into(),
                content: MessageContent::Text { text: "hi".into() },
                reply_to: Some("m0".into()),
                is_echo: true,
            },
            InboundKind::MessageSent {
                platform_message_ids: ids.clone(),
            },
            InboundKind::MessageDelivered {
                platform_message_ids: vec![],
                watermark,
            },
            InboundKind::MessageRead {
                platform_message_ids: ids.clone(),
                watermark: None,
            },
            InboundKind::MessageFailed {
                platform_message_ids: ids,
                errors: vec![PlatformError {
                    code: "551".into(),
                    title: None,
                }],
            },
        ]
    }

    #[test]
    fn every_kind_reads_as_the_full_decoding_does_but_without_raw() {
        for kind in every_kind() {
            let json = serde_json::to_vec(&event(kind)).unwrap();
            let mut full: InboundEvent = serde_json::from_slice(&json).unwrap();
            assert_ne!(full.raw, Value::Null);
            full.raw = Value::Null;
            assert_eq!(InboundEvent::from_json_without_raw(&json).unwrap(), full);
        }
    }

    #[test]
    fn a_kind_missing_its_fields_or_unknown_is_refused_as_the_full_decoding_refuses_it() {
        let mut value = serde_json::to_value(event(every_kind().remove(0))).unwrap();
        value.as_object_mut().unwrap().remove("content");
        let json = serde_json::to_vec(&value).unwrap();
        assert!(serde_json::from_slice::<InboundEvent>(&json).is_err());
        let error = InboundEvent::from_json_without_raw(&json).unwrap_err();
        assert!(error.to_string().contains("content"), "{error}");
        let mut value = serde_json::to_value(event(every_kind().remove(0))).unwrap();
        value["type"] = json!("MessageExploded");
        let json = serde_json::to_vec(&value).unwrap();
        assert!(serde_json::from_slice::<InboundEvent>(&json).is_err());
        assert!(InboundEvent::from_json_without_raw(&json).is_err());
    }
}
