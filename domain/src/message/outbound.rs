//! Outbound messages: the `SendMessage` command the platform puts on `messages.outbound`, and
//! the `DeliveryUpdate` (`MessageSent` / `MessageFailed`) a channel adapter answers with on
//! `messages.status`, where a channel whose own client acknowledges messages (web chat) also
//! puts `MessageDelivered` / `MessageRead`.
//!
//! A status event's id is deterministic (UUIDv5 of the message id and the outcome), so an
//! adapter that crashes after publishing and publishes again produces the same id, and
//! consumers drop the duplicate. Nothing here does IO: the adapter passes the clock in.

use crate::channel::ChannelKind;
use crate::ids::{IntegrationId, WorkspaceId};
use crate::message::content::AttachmentKind;
use crate::message::inbound::{conversation_key, EVENT_ID_NAMESPACE};
use crate::message::template::TemplateMessage;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A command to send one message to a contact through one integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendMessage {
    /// The platform's id for this message; every status event refers to it.
    pub message_id: Uuid,
    /// The integration to send through.
    pub integration_id: IntegrationId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its channel.
    pub channel: ChannelKind,
    /// `integration_id:contact_id`: the Kafka key, so one conversation stays ordered.
    pub conversation_key: String,
    /// Where the platform delivers it: the contact's platform id (PSID, wa_id, chat id…), or
    /// the thread's id where the platform addresses replies to threads (TikTok).
    pub recipient: String,
    /// What to say.
    pub content: OutboundContent,
    /// The caller's de-duplication key, passed to platforms that accept one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// When the platform asked for it.
    pub requested_at: DateTime<Utc>,
}

/// What an outbound message says. Each channel states which combinations it can send as one
/// platform message; others fail as `invalid` rather than being split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutboundContent {
    /// Text (or the caption of an attachment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Media to send.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<OutboundAttachment>,
    /// Reply chips offered with the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quick_replies: Vec<QuickReplyOption>,
    /// A pre-approved template with its variables, sent instead of text (WhatsApp); the only
    /// message a platform may allow outside its reply window or as a first message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateMessage>,
    /// The platform's message tag (Messenger's `HUMAN_AGENT`…), which lets the message go out
    /// after the standard reply window, within the tag's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// One attachment to send, by URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundAttachment {
    /// Its kind.
    pub kind: AttachmentKind,
    /// Where the platform fetches it.
    pub url: String,
}

/// One quick-reply chip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReplyOption {
    /// What the chip shows.
    pub title: String,
    /// What comes back when the contact taps it.
    pub payload: String,
}

/// Why a `SendMessage` cannot be attempted at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSendMessage {
    /// Neither text, an attachment nor a template.
    #[error("the message has neither text, attachments nor a template")]
    Empty,
    /// The key does not name a conversation of this integration.
    #[error("conversation_key must be '<integration_id>:<contact id>'")]
    ConversationKeyMismatch,
    /// No recipient.
    #[error("recipient is empty")]
    NoRecipient,
}

impl SendMessage {
    /// Checks what every channel needs: a recipient, something to say, a consistent key.
    pub fn check(&self) -> Result<(), InvalidSendMessage> {
        if self.recipient.trim().is_empty() {
            return Err(InvalidSendMessage::NoRecipient);
        }
        if self.content.is_empty() {
            return Err(InvalidSendMessage::Empty);
        }
        let contact = self
            .conversation_key
            .strip_prefix(&conversation_key(self.integration_id, ""));
        if contact.is_none_or(|contact| contact.trim().is_empty()) {
            return Err(InvalidSendMessage::ConversationKeyMismatch);
        }
        Ok(())
    }
}

impl OutboundContent {
    /// Text only.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// Whether there is nothing to send (quick replies alone are not a message).
    pub fn is_empty(&self) -> bool {
        self.text.as_deref().is_none_or(|t| t.trim().is_empty())
            && self.attachments.is_empty()
            && self.template.is_none()
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// Temporary failures outlasted the retry schedule.
    RetryableExhausted,
    /// The platform refused it for good (bad recipient, closed window…).
    Permanent,
    /// The integration's credentials were refused and could not be renewed.
    Auth,
    /// The platform kept throttling until the retry schedule ran out.
    RateLimited,
    /// The command itself cannot be sent (malformed, unsupported content, unknown integration).
    Invalid,
}

impl FailureReason {
    /// The snake_case name, as serialised.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RetryableExhausted => "retryable_exhausted",
            Self::Permanent => "permanent",
            Self::Auth => "auth",
            Self::RateLimited => "rate_limited",
            Self::Invalid => "invalid",
        }
    }
}

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DeliveryOutcome {
    /// The platform accepted the message.
    #[serde(rename = "MessageSent")]
    Sent {
        /// The platform's id for it; its receipts will name it.
        platform_message_id: String,
        /// How many calls it took.
        attempts: u32,
    },
    /// The message will not be sent.
    #[serde(rename = "MessageFailed")]
    Failed {
        /// The class of failure.
        reason: FailureReason,
        /// A human explanation, free of secrets.
        detail: String,
        /// How many calls were made (0 when none could be).
        attempts: u32,
    },
    /// The contact's side has the message (for channels whose own client acknowledges it,
    /// such as the web chat widget; the platforms' receipts travel on `messages.received`).
    #[serde(rename = "MessageDelivered")]
    Delivered {},
    /// The contact had the message on screen.
    #[serde(rename = "MessageRead")]
    Read {},
}

impl DeliveryOutcome {
    /// The event's type name, as in its JSON `type` and its CloudEvents type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Sent { .. } => "MessageSent",
            Self::Failed { .. } => "MessageFailed",
            Self::Delivered {} => "MessageDelivered",
            Self::Read {} => "MessageRead",
        }
    }
}

/// A status event on `messages.status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryUpdate {
    /// Deterministic: UUIDv5 of the message id and the outcome's type.
    pub event_id: Uuid,
    /// The message concerned.
    pub message_id: Uuid,
    /// The integration it went through.
    pub integration_id: IntegrationId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its channel.
    pub channel: ChannelKind,
    /// The conversation (the Kafka key).
    pub conversation_key: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: DeliveryOutcome,
    /// When it was decided.
    pub at: DateTime<Utc>,
}

impl DeliveryUpdate {
    /// The status event of `message` ending as `outcome` at `at`.
    pub fn new(message: &SendMessage, outcome: DeliveryOutcome, at: DateTime<Utc>) -> Self {
        Self {
            event_id: Self::event_id_for(message.message_id, &outcome),
            message_id: message.message_id,
            integration_id: message.integration_id,
            workspace_id: message.workspace_id.clone(),
            channel: message.channel.clone(),
            conversation_key: message.conversation_key.clone(),
            outcome,
            at,
        }
    }

    /// The deterministic id of `message_id` ending as `outcome`.
    pub fn event_id_for(message_id: Uuid, outcome: &DeliveryOutcome) -> Uuid {
        let identity = format!("outbound\u{1f}{message_id}\u{1f}{}", outcome.type_name());
        Uuid::new_v5(&EVENT_ID_NAMESPACE, identity.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message() -> SendMessage {
        let integration_id = IntegrationId::new();
        SendMessage {
            message_id: Uuid::new_v4(),
            integration_id,
            workspace_id: "acme".parse().unwrap(),
            channel: ChannelKind::parse("telegram").unwrap(),
            conversation_key: conversation_key(integration_id, "42"),
            recipient: "42".into(),
            content: OutboundContent::text("hello"),
            idempotency_key: None,
            requested_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn commands_round_trip_and_tolerate_missing_optional_fields() {
        let command = message();
        let mut value = serde_json::to_value(&command).unwrap();
        assert_eq!(value["content"], json!({"text": "hello"}));
        value.as_object_mut().unwrap().remove("idempotency_key");
        let back: SendMessage = serde_json::from_value(value).unwrap();
        assert_eq!(back, command);
    }

    #[test]
    fn a_command_needs_content_a_recipient_and_its_own_conversation_key() {
        assert_eq!(message().check(), Ok(()));
        let mut empty = message();
        empty.content = OutboundContent::text("  ");
        assert_eq!(empty.check(), Err(InvalidSendMessage::Empty));
        let mut foreign = message();
        foreign.conversation_key = "other:42".into();
        assert_eq!(
            foreign.check(),
            Err(InvalidSendMessage::ConversationKeyMismatch)
        );
        let mut nobody = message();
        nobody.recipient = String::new();
        assert_eq!(nobody.check(), Err(InvalidSendMessage::NoRecipient));
        let mut threaded = message();
        threaded.recipient = "tiktok-conversation==".into();
        assert_eq!(
            threaded.check(),
            Ok(()),
            "a thread id may stand for the contact"
        );
        let mut keyless = message();
        keyless.conversation_key = conversation_key(keyless.integration_id, " ");
        assert_eq!(
            keyless.check(),
            Err(InvalidSendMessage::ConversationKeyMismatch)
        );
    }

    #[test]
    fn status_events_serialise_flat_with_their_type_and_reason() {
        let command = message();
        let at = command.requested_at;
        let failed = DeliveryOutcome::Failed {
            reason: FailureReason::RetryableExhausted,
            detail: "HTTP 503".into(),
            attempts: 6,
        };
        let value = serde_json::to_value(DeliveryUpdate::new(&command, failed, at)).unwrap();
        assert_eq!(value["type"], "MessageFailed");
        assert_eq!(value["reason"], "retryable_exhausted");
        assert_eq!(value["attempts"], 6);
        assert_eq!(value["conversation_key"], command.conversation_key.as_str());
        let back: DeliveryUpdate = serde_json::from_value(value).unwrap();
        assert_eq!(back.outcome.type_name(), "MessageFailed");
    }

    #[test]
    fn the_same_outcome_of_the_same_message_has_the_same_event_id() {
        let command = message();
        let sent = |id: &str| DeliveryOutcome::Sent {
            platform_message_id: id.into(),
            attempts: 1,
        };
        let failed = DeliveryOutcome::Failed {
            reason: FailureReason::Permanent,
            detail: String::new(),
            attempts: 1,
        };
        let at = command.requested_at;
        let first = DeliveryUpdate::new(&command, sent("m1"), at);
        let again = DeliveryUpdate::new(&command, sent("m1"), at + chrono::Duration::seconds(5));
        assert_eq!(first.event_id, again.event_id);
        assert_ne!(
            first.event_id,
            DeliveryUpdate::new(&command, failed, at).event_id
        );
        assert_ne!(
            first.event_id,
            DeliveryUpdate::new(&message(), sent("m1"), at).event_id
        );
    }
}
