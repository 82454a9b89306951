//! What agents do to a conversation besides replying: read it up to a message, resolve it,
//! reopen it. Each is an immutable event on `conversations.activity` (key = conversation key),
//! from which the inbox derives unread counts and open/resolved status, like everything else
//! it shows. The same topic carries the contact's typing notices (web chat visitors): live
//! signals for the platform's consumers, which the inbox ignores.

use crate::ids::WorkspaceId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An agent's action on a conversation, or the contact's typing notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationActivity {
    /// Unique per action (a repeat of the same action is harmless: marks only move forward).
    pub event_id: Uuid,
    /// The conversation's workspace.
    pub workspace_id: WorkspaceId,
    /// The conversation (the Kafka key).
    pub conversation_key: String,
    /// When the agent acted.
    pub at: DateTime<Utc>,
    /// What the agent did.
    #[serde(flatten)]
    pub action: ConversationAction,
}

/// The action itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ConversationAction {
    /// Read every message sent up to `up_to` (platform time): those stop counting as unread.
    Read {
        /// Platform time of the last message the agent saw.
        up_to: DateTime<Utc>,
    },
    /// Marked done; a later inbound message opens it again.
    Resolved,
    /// Opened again by hand.
    Reopened,
    /// The contact is typing (at `at`): ephemeral, passed on at most every few seconds while
    /// they type; nothing is stored for it.
    ContactTyping,
}

impl ConversationAction {
    /// The event's name, as in its CloudEvents type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Read { .. } => "ConversationRead",
            Self::Resolved => "ConversationResolved",
            Self::Reopened => "ConversationReopened",
            Self::ContactTyping => "ContactTyping",
        }
    }

    /// Whether the inbox keeps it (a read mark, resolve or reopen), unlike a typing notice.
    pub fn is_mark(&self) -> bool {
        !matches!(self, Self::ContactTyping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_activity_round_trips_with_its_action_tag() {
        let activity = ConversationActivity {
            event_id: Uuid::nil(),
            workspace_id: "acme".parse().unwrap(),
            conversation_key: "i:c".into(),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            action: ConversationAction::Read {
                up_to: DateTime::from_timestamp(1_699_999_990, 0).unwrap(),
            },
        };
        let json = serde_json::to_value(&activity).unwrap();
        assert_eq!(json["action"], "read");
        assert_eq!(json["up_to"], "2023-11-14T22:13:10Z");
        let back: ConversationActivity = serde_json::from_value(json).unwrap();
        assert_eq!(back, activity);
        let resolved = serde_json::json!({"event_id": Uuid::nil(), "workspace_id": "acme",
            "conversation_key": "i:c", "at": "2023-11-14T22:13:20Z", "action": "resolved"});
        let resolved: ConversationActivity = serde_json::from_value(resolved).unwrap();
        assert_eq!(resolved.action.type_name(), "ConversationResolved");
        assert!(resolved.action.is_mark());
        let typing = serde_json::json!({"event_id": Uuid::nil(), "workspace_id": "acme",
            "conversation_key": "i:c", "at": "2023-11-14T22:13:20Z", "action": "contact_typing"});
        let typing: ConversationActivity = serde_json::from_value(typing).unwrap();
        assert_eq!(typing.action, ConversationAction::ContactTyping);
        assert!(!typing.action.is_mark());
    }
}
