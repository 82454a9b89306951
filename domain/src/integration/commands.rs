//! What can be asked of an integration.

use crate::auth::AuthInput;
use crate::channel::ChannelKind;
use crate::ids::{IntegrationId, WorkspaceId};
use crate::integration::events::AccountInfo;
use serde_json::Value;

/// A command on one integration. Plaintext secrets may travel here (never further: the
/// aggregate seals them), which is why no command is `Serialize` and `AuthInput`'s `Debug`
/// prints field names only.
#[derive(Debug, Clone, PartialEq)]
pub enum IntegrationCommand {
    /// Registers a new integration.
    Create {
        /// Its id, chosen by the caller so the request can be retried.
        integration_id: IntegrationId,
        /// Owner.
        workspace_id: WorkspaceId,
        /// Channel kind; must be in the catalog.
        channel: ChannelKind,
        /// Display name.
        name: String,
        /// Credentials, possibly partial; checked against the channel's spec.
        auth: Option<AuthInput>,
    },
    /// Marks it connected, optionally supplying (more) credentials and account details.
    Connect {
        /// Fields merged over the stored ones.
        auth: Option<AuthInput>,
        /// What the platform told us about the account (page name, phone number…).
        account: Option<AccountInfo>,
        /// Whether the platform confirmed `account` with these credentials just now.
        account_verified: bool,
    },
    /// Renames it or replaces its channel settings.
    UpdateSettings {
        /// New display name.
        name: Option<String>,
        /// New channel settings (a JSON object).
        settings: Option<Value>,
    },
    /// Replaces credentials (a refreshed OAuth token, a rotated bot token).
    RefreshCredentials {
        /// Fields merged over the stored ones.
        auth: AuthInput,
    },
    /// Marks it disconnected.
    Disconnect {
        /// Why (operator request, auth failure…).
        reason: String,
        /// What the platform was told, or why telling it failed (recorded in the event).
        platform_outcome: Option<String>,
    },
    /// Deletes it for good.
    Delete {
        /// What the platform was told, or why telling it failed (recorded in the event).
        platform_outcome: Option<String>,
    },
}

impl IntegrationCommand {
    /// The command's name, for logs and metrics (never its contents).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Connect { .. } => "connect",
            Self::UpdateSettings { .. } => "update_settings",
            Self::RefreshCredentials { .. } => "refresh_credentials",
            Self::Disconnect { .. } => "disconnect",
            Self::Delete { .. } => "delete",
        }
    }
}
