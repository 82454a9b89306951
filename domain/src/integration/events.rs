//! What happened to an integration. Events are immutable and versioned; every event carries
//! the integration and workspace ids so that a consumer needs no other state to route it.

use crate::auth::StoredAuth;
use crate::channel::ChannelKind;
use crate::ids::{IntegrationId, WorkspaceId};
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The schema version of every event below. Bump it (and add an upcaster) when a payload changes.
pub const EVENT_VERSION: &str = "1";

/// Public details of the connected account, as the platform reports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// The platform's id for the account (page id, phone number id, OA id…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Its display name (page name, phone number, OA name…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// An event of the `Integration` aggregate. Serialised internally tagged: `{"type": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum IntegrationEvent {
    /// The integration exists.
    IntegrationCreated {
        /// Its id.
        integration_id: IntegrationId,
        /// Owner.
        workspace_id: WorkspaceId,
        /// Channel kind.
        channel: ChannelKind,
        /// Display name.
        name: String,
        /// Credentials given at creation, secrets sealed.
        auth: StoredAuth,
        /// When.
        at: DateTime<Utc>,
    },
    /// It is connected and usable.
    IntegrationConnected {
        /// Its id.
        integration_id: IntegrationId,
        /// Owner.
        workspace_id: WorkspaceId,
        /// Credentials added while connecting, secrets sealed.
        auth: StoredAuth,
        /// Account details.
        account: AccountInfo,
        /// Whether the platform confirmed `account` with the integration's credentials while
        /// connecting (absent in events from before connecting verified accounts: unproven).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        account_verified: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Its name or settings changed.
    SettingsUpdated {
        /// Its id.
        integration_id: IntegrationId,
        /// Owner.
        workspace_id: WorkspaceId,
        /// New name, when it changed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// New settings, when they changed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        settings: Option<Value>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Its credentials were replaced.
    CredentialsRefreshed {
        /// Its id.
        integration_id: IntegrationId,
        /// Owner.
        workspace_id: WorkspaceId,
        /// The new fields, secrets sealed.
        auth: StoredAuth,
        /// When.
        at: DateTime<Utc>,
    },
    /// It stopped being usable.
    IntegrationDisconnected {
        /// Its id.
        integration_id: IntegrationId,
        /// Owner.
        workspace_id: WorkspaceId,
        /// Why.
        reason: String,
        /// What the platform was told (webhook deleted, app unsubscribed) or why telling it
        /// failed; absent when the channel has nothing to call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        platform_outcome: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// It is gone.
    IntegrationDeleted {
        /// Its id.
        integration_id: IntegrationId,
        /// Owner.
        workspace_id: WorkspaceId,
        /// What the platform was told (webhook deleted, app unsubscribed) or why telling it
        /// failed; absent when the channel has nothing to call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        platform_outcome: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for IntegrationEvent {
    fn event_type(&self) -> String {
        let name = match self {
            Self::IntegrationCreated { .. } => "IntegrationCreated",
            Self::IntegrationConnected { .. } => "IntegrationConnected",
            Self::SettingsUpdated { .. } => "SettingsUpdated",
            Self::CredentialsRefreshed { .. } => "CredentialsRefreshed",
            Self::IntegrationDisconnected { .. } => "IntegrationDisconnected",
            Self::IntegrationDeleted { .. } => "IntegrationDeleted",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}
