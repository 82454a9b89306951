//! Request and response bodies of the integrations API. Secrets never appear in a response:
//! secret auth fields are shown as `"[set]"`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchboard_domain::integration::{AccountInfo, Integration, IntegrationStatus};
use switchboard_domain::AuthInput;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/workspaces/{ws}/integrations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    /// Optional client-chosen id, so a retried create is recognised (409 the second time).
    pub id: Option<Uuid>,
    /// Channel kind, one of `GET /v1/channels`.
    pub channel: String,
    /// Display name, 1–200 characters after trimming, without control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// Credentials (possibly partial), per the channel's auth schema.
    #[schema(value_type = Option<Object>)]
    pub auth: Option<AuthInput>,
}

/// `POST …/{id}/connect`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectIntegration {
    /// Credentials to add before connecting.
    #[schema(value_type = Option<Object>)]
    pub auth: Option<AuthInput>,
    /// What the platform reported about the account.
    pub account: Option<AccountView>,
}

/// `PATCH …/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    /// New display name (the same rules as at creation).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: Option<String>,
    /// New channel settings (replaces the old object).
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

/// `POST …/{id}/credentials`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshCredentials {
    /// Fields to replace.
    #[schema(value_type = Object)]
    pub auth: AuthInput,
}

/// `POST …/{id}/disconnect`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectIntegration {
    /// Why.
    pub reason: String,
}

/// Public account details.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountView {
    /// The platform's id for the account.
    pub external_id: Option<String>,
    /// Its display name.
    pub display_name: Option<String>,
}

impl From<AccountView> for AccountInfo {
    fn from(view: AccountView) -> Self {
        Self {
            external_id: view.external_id,
            display_name: view.display_name,
        }
    }
}

/// An integration as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    /// Its id.
    pub id: Uuid,
    /// Owner.
    pub workspace_id: String,
    /// Channel kind.
    pub channel: String,
    /// Display name.
    pub name: String,
    /// `created`, `connected`, `disconnected` or `deleted`.
    #[schema(value_type = String)]
    pub status: IntegrationStatus,
    /// Channel settings.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Credentials with secret fields shown as `"[set]"`.
    #[schema(value_type = Object)]
    pub auth: Map<String, Value>,
    /// Account details.
    pub account: AccountView,
    /// Why it was last disconnected.
    pub last_disconnect_reason: Option<String>,
    /// Created at.
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed at.
    pub updated_at: Option<DateTime<Utc>>,
    /// Number of events so far.
    pub version: u64,
}

impl From<&Integration> for IntegrationView {
    fn from(i: &Integration) -> Self {
        Self {
            id: i.integration_id.map(|id| id.as_uuid()).unwrap_or_default(),
            workspace_id: i
                .workspace_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            channel: i
                .channel
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            name: i.name.clone(),
            status: i.status,
            settings: i.settings.clone(),
            auth: i.auth.redacted(),
            account: AccountView {
                external_id: i.account.external_id.clone(),
                display_name: i.account.display_name.clone(),
            },
            last_disconnect_reason: i.last_disconnect_reason.clone(),
            created_at: i.created_at,
            updated_at: i.updated_at,
            version: i.version,
        }
    }
}

/// A list of integrations.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationList {
    /// Live integrations, oldest first.
    pub items: Vec<IntegrationView>,
}

/// `?channel=` filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListFilter {
    /// Only this channel.
    pub channel: Option<String>,
}
