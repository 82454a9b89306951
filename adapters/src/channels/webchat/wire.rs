//! What the widget and the service say to each other over a socket (or the long-poll
//! fallback), and what one replica tells the others about a reply (the NOTIFY payload).
//!
//! Every frame is a JSON object with a `type`. The visitor never names a visitor or a
//! conversation: both come from the session token, so a frame cannot reach anyone else's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_domain::IntegrationId;

/// The PostgreSQL channel replies are announced on; every replica listens to it.
pub const NOTIFY_CHANNEL: &str = "switchboard_webchat";

/// A frame from the widget.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// The first frame of a socket: who the visitor is, and the time of the latest message
    /// they already have (history after it follows; none: the recent history).
    Hello {
        /// The session token.
        token: String,
        /// The `sent_at` of the latest message the widget shows.
        #[serde(default)]
        after: Option<DateTime<Utc>>,
    },
    /// The visitor wrote something.
    Send {
        /// The widget's id for it; a resend carries the same one and becomes the same message.
        client_id: String,
        /// What they wrote.
        text: String,
    },
    /// The widget showed (`delivered`) or the visitor saw (`read`) agents' messages.
    Ack {
        /// The messages' ids, as the service sent them.
        message_ids: Vec<String>,
        /// How far they got.
        status: AckStatus,
    },
    /// The visitor is typing (the widget sends it at most every few seconds while they do).
    Typing,
}

/// How far an agent's message got with the visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// The widget received and showed it.
    Delivered,
    /// The visitor had it on screen while the page was visible.
    Read,
}

/// Who wrote a message of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// The visitor.
    Visitor,
    /// An agent or a bot, through the outbound API.
    Agent,
}

/// One message as the widget shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Its id: the message id for agents' messages, the event id for the visitor's.
    pub id: String,
    /// Who wrote it.
    pub author: Author,
    /// Its text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Attachments and quick replies, as the API was given them.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub extras: Value,
    /// When it was written (the order the widget shows).
    pub sent_at: DateTime<Utc>,
    /// For the visitor's own messages: the widget's id for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// A frame to the widget.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The hello was accepted; history follows.
    Ready {
        /// The visitor's contact id (for display and support, not a credential).
        visitor: String,
        /// The visitor's token, renewed: the widget stores it in place of the one it sent.
        token: String,
        /// When the renewed token expires.
        expires_at: DateTime<Utc>,
    },
    /// A message of the conversation (history or live).
    Message {
        /// The message.
        message: ChatMessage,
    },
    /// A `send` is stored (the broker acknowledged it): the widget may forget its copy.
    Accepted {
        /// The widget's id.
        client_id: String,
        /// The message's id in the conversation.
        message_id: String,
    },
    /// An agent is typing: show it for `expires_in_ms` unless another `typing` renews it.
    Typing {
        /// How long to show it, in milliseconds.
        expires_in_ms: u64,
    },
    /// Agents read the conversation: the visitor's messages sent up to `up_to` are seen.
    Seen {
        /// The `sent_at` of the latest message the agents read.
        up_to: DateTime<Utc>,
    },
    /// A frame was refused; `problem` is a problem type, as in the HTTP API.
    Error {
        /// The `send` it concerns, if one.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// The problem type (`/problems/...`).
        problem: String,
        /// What was wrong.
        detail: String,
    },
}

/// Something on its way to a visitor's sockets, as it is announced to every replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The integration.
    pub integration_id: IntegrationId,
    /// The visitor's contact id.
    pub visitor: String,
    /// What reaches them (`"message": {...}`, `"typing": {...}` or `"seen": {...}`).
    #[serde(flatten)]
    pub push: Push,
}

/// What a [`Delivery`] brings a visitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Push {
    /// A message of the conversation (an agent's reply, or the visitor's own from another tab).
    Message(ChatMessage),
    /// An agent is typing.
    Typing {
        /// How long the widget shows it, in milliseconds.
        expires_in_ms: u64,
    },
    /// Agents read the conversation up to a message.
    Seen {
        /// The `sent_at` of the latest message read.
        up_to: DateTime<Utc>,
    },
}

impl Push {
    /// The frame the widget gets for it.
    pub fn frame(self) -> ServerFrame {
        match self {
            Self::Message(message) => ServerFrame::Message { message },
            Self::Typing { expires_in_ms } => ServerFrame::Typing { expires_in_ms },
            Self::Seen { up_to } => ServerFrame::Seen { up_to },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivered_message_keeps_the_shape_replicas_already_read() {
        let delivery = Delivery {
            integration_id: IntegrationId::new(),
            visitor: "visitor-1".into(),
            push: Push::Typing {
                expires_in_ms: 5000,
            },
        };
        let json = serde_json::to_value(&delivery).unwrap();
        assert_eq!(json["typing"]["expires_in_ms"], 5000);
        let message = serde_json::json!({
            "integration_id": delivery.integration_id, "visitor": "visitor-1",
            "message": {"id": "m", "author": "agent", "text": "hi",
                        "sent_at": "2026-01-01T00:00:00Z"}});
        let back: Delivery = serde_json::from_value(message).unwrap();
        assert!(matches!(back.push, Push::Message(ChatMessage { ref id, .. }) if id == "m"));
        let typing: ClientFrame = serde_json::from_str(r#"{"type":"typing"}"#).unwrap();
        assert_eq!(typing, ClientFrame::Typing);
    }
}
