//! Inbound events: what a verified webhook becomes. Immutable; their ids are deterministic so a
//! platform's redelivery of the same item yields the same event id.

use crate::channel::ChannelKind;
use crate::ids::{IntegrationId, WorkspaceId};
use crate::message::content::MessageContent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Namespace of every deterministic event id (UUIDv5).
pub const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5b1d_0a7e_4c2f_4e8a_9d3b_7f10_c0ff_ee01);

/// The person on the other side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The platform's id for them (PSID, wa_id, Zalo user id…).
    pub platform_id: String,
    /// Their display name, where the payload gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The platform's id of the thread with them, where a reply is addressed to the thread
    /// rather than to the person (TikTok's `conversation_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

impl Contact {
    /// A contact known only by id.
    pub fn new(platform_id: impl Into<String>) -> Self {
        Self {
            platform_id: platform_id.into(),
            display_name: None,
            thread_id: None,
        }
    }
}

/// An error a platform reported for one of our messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformError {
    /// The platform's code.
    pub code: String,
    /// Its explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// What happened, per kind of inbound item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum InboundKind {
    /// A message from the contact, or an echo of one we (or the page's staff) sent.
    MessageReceived {
        /// The platform's message id; redeliveries repeat it.
        platform_message_id: String,
        /// Normalised content.
        content: MessageContent,
        /// The message this one replies to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        /// Whether this is an echo of an outgoing message rather than the contact speaking.
        is_echo: bool,
    },
    /// The platform accepted one of our messages.
    MessageSent {
        /// The messages concerned.
        platform_message_ids: Vec<String>,
    },
    /// Our messages reached the contact's device.
    MessageDelivered {
        /// The messages concerned (may be empty when only a watermark is given).
        platform_message_ids: Vec<String>,
        /// Everything sent before this instant is delivered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watermark: Option<DateTime<Utc>>,
    },
    /// The contact read our messages.
    MessageRead {
        /// The messages concerned (may be empty when only a watermark is given).
        platform_message_ids: Vec<String>,
        /// Everything sent before this instant is read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watermark: Option<DateTime<Utc>>,
    },
    /// The platform could not deliver one of our messages.
    MessageFailed {
        /// The messages concerned.
        platform_message_ids: Vec<String>,
        /// Why.
        errors: Vec<PlatformError>,
    },
}

impl InboundKind {
    /// The CloudEvents type noun: `received`, `sent`, `delivered`, `read`, `failed`.
    pub fn noun(&self) -> &'static str {
        match self {
            Self::MessageReceived { .. } => "received",
            Self::MessageSent { .. } => "sent",
            Self::MessageDelivered { .. } => "delivered",
            Self::MessageRead { .. } => "read",
            Self::MessageFailed { .. } => "failed",
        }
    }

    /// The event's type name, as in its JSON `type` and its CloudEvents type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::MessageReceived { .. } => "MessageReceived",
            Self::MessageSent { .. } => "MessageSent",
            Self::MessageDelivered { .. } => "MessageDelivered",
            Self::MessageRead { .. } => "MessageRead",
            Self::MessageFailed { .. } => "MessageFailed",
        }
    }

    /// What makes this item unique within its integration, for the deterministic event id.
    fn identity(&self) -> String {
        match self {
            Self::MessageReceived {
                platform_message_id,
                ..
            } => format!("message\u{1f}{platform_message_id}"),
            Self::MessageSent {
                platform_message_ids,
            }
            | Self::MessageFailed {
                platform_message_ids,
                ..
            } => {
                format!("{}\u{1f}{}", self.noun(), platform_message_ids.join(","))
            }
            Self::MessageDelivered {
                platform_message_ids,
                watermark,
            }
            | Self::MessageRead {
                platform_message_ids,
                watermark,
            } => format!(
                "{}\u{1f}{}\u{1f}{}",
                self.noun(),
                platform_message_ids.join(","),
                watermark
                    .map(|w| w.timestamp_millis().to_string())
                    .unwrap_or_default()
            ),
        }
    }
}

/// What a channel's parser makes of one webhook item, before ids are assigned.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundDraft {
    /// The other side of the conversation.
    pub contact: Contact,
    /// When it happened, per the platform.
    pub platform_timestamp: DateTime<Utc>,
    /// What happened.
    pub kind: InboundKind,
    /// The verified item as the platform sent it.
    pub raw: Value,
}

/// One inbound event, as published to `messages.received`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// Deterministic: UUIDv5 of the integration id and the item's identity.
    pub event_id: Uuid,
    /// Which integration received it.
    pub integration_id: IntegrationId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its channel.
    pub channel: ChannelKind,
    /// `integration_id:contact_platform_id`: the Kafka key, so a conversation stays ordered.
    pub conversation_key: String,
    /// The other side.
    pub contact: Contact,
    /// When it happened, per the platform.
    pub platform_timestamp: DateTime<Utc>,
    /// When Switchboard verified it, by our clock (absent on events recorded before this
    /// field existed): what our own times, such as an agent's resolving, compare against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
    /// What happened.
    #[serde(flatten)]
    pub kind: InboundKind,
    /// The verified item as the platform sent it, so content can be re-derived on replay.
    pub raw: Value,
}

/// The conversation key of a contact on an integration.
pub fn conversation_key(integration_id: IntegrationId, contact_platform_id: &str) -> String {
    format!("{integration_id}:{contact_platform_id}")
}

impl InboundEvent {
    /// Assigns ids to a parsed draft, received now.
    pub fn from_draft(
        integration_id: IntegrationId,
        workspace_id: WorkspaceId,
        channel: ChannelKind,
        draft: InboundDraft,
    ) -> Self {
        let identity = format!("{integration_id}\u{1f}{}", draft.kind.identity());
        Self {
            event_id: Uuid::new_v5(&EVENT_ID_NAMESPACE, identity.as_bytes()),
            conversation_key: conversation_key(integration_id, &draft.contact.platform_id),
            integration_id,
            workspace_id,
            channel,
            contact: draft.contact,
            platform_timestamp: draft.platform_timestamp,
            received_at: Some(Utc::now()),
            kind: draft.kind,
            raw: draft.raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(id: &str) -> InboundDraft {
        InboundDraft {
            contact: Contact::new("u1"),
            platform_timestamp: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            kind: InboundKind::MessageReceived {
                platform_message_id: id.into(),
                content: MessageContent::Text { text: "hi".into() },
                reply_to: None,
                is_echo: false,
            },
            raw: json!({}),
        }
    }

    fn event(integration: IntegrationId, id: &str) -> InboundEvent {
        InboundEvent::from_draft(
            integration,
            "acme".parse().unwrap(),
            ChannelKind::parse("messenger").unwrap(),
            draft(id),
        )
    }

    #[test]
    fn redelivered_items_get_the_same_event_id_and_others_do_not() {
        let integration = IntegrationId::new();
        assert_eq!(
            event(integration, "m1").event_id,
            event(integration, "m1").event_id
        );
        assert_ne!(
            event(integration, "m1").event_id,
            event(integration, "m2").event_id
        );
        assert_ne!(
            event(integration, "m1").event_id,
            event(IntegrationId::new(), "m1").event_id
        );
    }

    #[test]
    fn events_serialise_flat_with_their_type() {
        let integration = IntegrationId::new();
        let original = event(integration, "m1");
        let value = serde_json::to_value(&original).unwrap();
        assert_eq!(value["type"], "MessageReceived");
        assert_eq!(value["content"], json!({"type": "text", "text": "hi"}));
        assert_eq!(value["conversation_key"], format!("{integration}:u1"));
        assert!(value["received_at"].is_string());
        let back: InboundEvent = serde_json::from_value(value).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn events_recorded_before_receive_times_still_read() {
        let mut value = serde_json::to_value(event(IntegrationId::new(), "m1")).unwrap();
        value.as_object_mut().unwrap().remove("received_at");
        let back: InboundEvent = serde_json::from_value(value).unwrap();
        assert_eq!(back.received_at, None);
    }
}
