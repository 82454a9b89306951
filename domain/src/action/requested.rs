//! `ActionRequested`: what the API produces to `actions.requested` (key = integration id).

use crate::action::{ActionId, ActionName};
use crate::{ChannelKind, IntegrationId, WorkspaceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A validated request to run one action on one integration. Its input passed the action's
/// schema when it was accepted; the adapters check it again (a record may be old or forged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRequested {
    /// Its id (the status route's, and the result's).
    pub action_id: ActionId,
    /// The workspace that asked.
    pub workspace_id: WorkspaceId,
    /// The integration that runs it.
    pub integration_id: IntegrationId,
    /// That integration's channel.
    pub channel: ChannelKind,
    /// The action's name within the channel.
    pub action: ActionName,
    /// The action's input, as the action's JSON Schema describes it.
    pub input: Value,
    /// The caller's idempotency key, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// When the API accepted it.
    pub requested_at: DateTime<Utc>,
}

impl ActionRequested {
    /// The Kafka key: the integration id, so one integration's actions stay in order.
    pub fn key(&self) -> String {
        self.integration_id.to_string()
    }
}
