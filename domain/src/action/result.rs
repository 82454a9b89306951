//! `ActionCompleted` / `ActionFailed`: what the adapters publish to `actions.results`
//! (key = integration id) once an action ran or could not.

use crate::action::{ActionId, ActionName, ActionRequested};
use crate::message::{FailureReason, EVENT_ID_NAMESPACE};
use crate::{ChannelKind, IntegrationId, WorkspaceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ActionOutcome {
    /// The platform did it; `output` is the action's output shape.
    ActionCompleted {
        /// What the action answered (the updated range, the values read, the message id).
        output: Value,
        /// Calls made to the platform.
        attempts: u32,
    },
    /// It was not done.
    ActionFailed {
        /// The class of the failure.
        reason: FailureReason,
        /// The platform's code and words, never a credential.
        detail: String,
        /// Calls made to the platform.
        attempts: u32,
    },
}

impl ActionOutcome {
    /// `ActionCompleted` or `ActionFailed`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ActionCompleted { .. } => "ActionCompleted",
            Self::ActionFailed { .. } => "ActionFailed",
        }
    }
}

/// The result event of one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    /// UUIDv5 of the action id and the outcome's type: a repeated outcome has the same id.
    pub event_id: Uuid,
    /// The action.
    pub action_id: ActionId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// The integration that ran it.
    pub integration_id: IntegrationId,
    /// Its channel.
    pub channel: ChannelKind,
    /// The action's name.
    pub action: ActionName,
    /// Completed or failed, with what it produced.
    #[serde(flatten)]
    pub outcome: ActionOutcome,
    /// When it ended.
    pub at: DateTime<Utc>,
}

impl ActionResult {
    /// The result of `request`.
    pub fn new(request: &ActionRequested, outcome: ActionOutcome, at: DateTime<Utc>) -> Self {
        let identity = format!(
            "action\u{1f}{}\u{1f}{}",
            request.action_id,
            outcome.type_name()
        );
        Self {
            event_id: Uuid::new_v5(&EVENT_ID_NAMESPACE, identity.as_bytes()),
            action_id: request.action_id,
            workspace_id: request.workspace_id.clone(),
            integration_id: request.integration_id,
            channel: request.channel.clone(),
            action: request.action.clone(),
            outcome,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> ActionRequested {
        ActionRequested {
            action_id: ActionId::new(),
            workspace_id: "acme".parse().unwrap(),
            integration_id: IntegrationId::new(),
            channel: ChannelKind::parse("smtp").unwrap(),
            action: ActionName::parse("send_email").unwrap(),
            input: json!({"to": ["a@example.org"]}),
            idempotency_key: None,
            requested_at: Utc::now(),
        }
    }

    #[test]
    fn a_repeated_outcome_has_the_same_event_id_and_another_outcome_another() {
        let request = request();
        let done = || ActionOutcome::ActionCompleted {
            output: json!({}),
            attempts: 1,
        };
        let first = ActionResult::new(&request, done(), Utc::now());
        let again = ActionResult::new(&request, done(), Utc::now());
        let failed = ActionOutcome::ActionFailed {
            reason: FailureReason::Permanent,
            detail: "no".into(),
            attempts: 1,
        };
        assert_eq!(first.event_id, again.event_id);
        assert_ne!(
            first.event_id,
            ActionResult::new(&request, failed, Utc::now()).event_id
        );
        let value = serde_json::to_value(&first).unwrap();
        assert_eq!(value["type"], "ActionCompleted");
        assert_eq!(value["attempts"], 1);
    }
}
