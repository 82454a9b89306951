//! The aggregate's state and its two halves: `handle` (decide) and `apply` (evolve).

use crate::auth::{AuthInput, StoredAuth};
use crate::channel::{ChannelKind, ChannelSpec};
use crate::ids::{IntegrationId, WorkspaceId};
use crate::integration::commands::IntegrationCommand;
use crate::integration::error::IntegrationError;
use crate::integration::events::{AccountInfo, IntegrationEvent};
use crate::integration::services::IntegrationServices;
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const MAX_NAME_CHARS: usize = 200;
/// Largest settings object, as compact JSON.
const MAX_SETTINGS_BYTES: usize = 64 * 1024;
/// Deepest nesting of a settings object (the object itself is level 1).
const MAX_SETTINGS_DEPTH: usize = 8;

/// Where an integration is in its lifecycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationStatus {
    /// No event yet: the id is free.
    #[default]
    Absent,
    /// Created, never connected.
    Created,
    /// Usable.
    Connected,
    /// Was connected, is not now.
    Disconnected,
    /// Gone; accepts no command.
    Deleted,
}

/// An integration's current state, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    /// Lifecycle state.
    pub status: IntegrationStatus,
    /// Its id (set by `IntegrationCreated`).
    pub integration_id: Option<IntegrationId>,
    /// Owner.
    pub workspace_id: Option<WorkspaceId>,
    /// Channel kind.
    pub channel: Option<ChannelKind>,
    /// Display name.
    pub name: String,
    /// Channel settings (a JSON object).
    pub settings: Value,
    /// Credentials, secrets sealed.
    pub auth: StoredAuth,
    /// Connected account details.
    pub account: AccountInfo,
    /// Whether the platform confirmed `account` when it was last connected.
    #[serde(default)]
    pub account_verified: bool,
    /// Why it was last disconnected.
    pub last_disconnect_reason: Option<String>,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// How many events it has.
    pub version: u64,
}

impl Aggregate for Integration {
    const TYPE: &'static str = "Integration";
    type Command = IntegrationCommand;
    type Event = IntegrationEvent;
    type Error = IntegrationError;
    type Services = IntegrationServices;

    async fn handle(
        &mut self,
        command: IntegrationCommand,
        services: &IntegrationServices,
        sink: &EventSink<Self>,
    ) -> Result<(), IntegrationError> {
        let event = self.decide(command, services)?;
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: IntegrationEvent) {
        self.version += 1;
        match event {
            IntegrationEvent::IntegrationCreated {
                integration_id,
                workspace_id,
                channel,
                name,
                auth,
                at,
            } => {
                self.status = IntegrationStatus::Created;
                self.integration_id = Some(integration_id);
                self.workspace_id = Some(workspace_id);
                self.channel = Some(channel);
                self.name = name;
                self.settings = Value::Object(Default::default());
                self.auth = auth;
                self.created_at = Some(at);
                self.updated_at = Some(at);
            }
            IntegrationEvent::IntegrationConnected {
                auth,
                account,
                account_verified,
                at,
                ..
            } => {
                self.status = IntegrationStatus::Connected;
                self.auth = self.auth.merged_with(&auth);
                self.account = account;
                self.account_verified = account_verified;
                self.updated_at = Some(at);
            }
            IntegrationEvent::SettingsUpdated {
                name, settings, at, ..
            } => {
                if let Some(name) = name {
                    self.name = name;
                }
                if let Some(settings) = settings {
                    self.settings = settings;
                }
                self.updated_at = Some(at);
            }
            IntegrationEvent::CredentialsRefreshed { auth, at, .. } => {
                self.auth = self.auth.merged_with(&auth);
                self.updated_at = Some(at);
            }
            IntegrationEvent::IntegrationDisconnected { reason, at, .. } => {
                self.status = IntegrationStatus::Disconnected;
                self.last_disconnect_reason = Some(reason);
                self.updated_at = Some(at);
            }
            IntegrationEvent::IntegrationDeleted { at, .. } => {
                self.status = IntegrationStatus::Deleted;
                self.updated_at = Some(at);
            }
        }
    }
}

impl Integration {
    /// The refusal the current state makes of `command` whatever its content (absent, deleted,
    /// already connected, never connected), if any: callers that must act outside before the
    /// command is recorded (ask a platform) check this first, so a command the aggregate
    /// would refuse never reaches the platform. `decide` makes the same refusals.
    pub fn refusal(&self, command: &IntegrationCommand) -> Option<IntegrationError> {
        if matches!(command, IntegrationCommand::Create { .. }) {
            return (self.status != IntegrationStatus::Absent)
                .then_some(IntegrationError::AlreadyExists);
        }
        match (self.status, command) {
            (IntegrationStatus::Absent, _) => Some(IntegrationError::NotFound),
            (IntegrationStatus::Deleted, _) => Some(IntegrationError::Deleted),
            (IntegrationStatus::Connected, IntegrationCommand::Connect { .. }) => {
                Some(IntegrationError::AlreadyConnected)
            }
            (IntegrationStatus::Created, IntegrationCommand::Disconnect { .. }) => {
                Some(IntegrationError::NeverConnected)
            }
            _ => None,
        }
    }

    /// Decides which event (if any) a command produces, without changing state.
    fn decide(
        &self,
        command: IntegrationCommand,
        services: &IntegrationServices,
    ) -> Result<Option<IntegrationEvent>, IntegrationError> {
        let now = services.clock.now();
        if let IntegrationCommand::Create {
            integration_id,
            workspace_id,
            channel,
            name,
            auth,
        } = command
        {
            if self.status != IntegrationStatus::Absent {
                return Err(IntegrationError::AlreadyExists);
            }
            let spec = services
                .channels
                .spec(&channel)
                .ok_or_else(|| IntegrationError::UnknownChannel(channel.clone()))?;
            let name = checked_name(&name)?;
            let owner = integration_id.to_string();
            let auth = seal_input(spec, auth.as_ref(), services, &owner)?;
            return Ok(Some(IntegrationEvent::IntegrationCreated {
                integration_id,
                workspace_id,
                channel,
                name,
                auth,
                at: now,
            }));
        }
        let (integration_id, workspace_id, spec) = self.existing(services)?;
        let owner = integration_id.to_string();
        let event = match command {
            IntegrationCommand::Create { .. } => unreachable!("handled above"),
            IntegrationCommand::Connect {
                auth,
                account,
                account_verified,
            } => {
                if self.status == IntegrationStatus::Connected {
                    return Err(IntegrationError::AlreadyConnected);
                }
                let auth = seal_input(spec, auth.as_ref(), services, &owner)?;
                let missing = spec.auth.missing_fields(&self.auth.merged_with(&auth));
                if !missing.is_empty() {
                    return Err(IntegrationError::IncompleteCredentials(missing));
                }
                IntegrationEvent::IntegrationConnected {
                    integration_id,
                    workspace_id,
                    auth,
                    account: account.unwrap_or_else(|| self.account.clone()),
                    account_verified,
                    at: now,
                }
            }
            IntegrationCommand::UpdateSettings { name, settings } => {
                let name = name.as_deref().map(checked_name).transpose()?;
                if let Some(settings) = &settings {
                    check_settings(settings)?;
                }
                IntegrationEvent::SettingsUpdated {
                    integration_id,
                    workspace_id,
                    name,
                    settings,
                    at: now,
                }
            }
            IntegrationCommand::RefreshCredentials { auth } => {
                let auth = seal_input(spec, Some(&auth), services, &owner)?;
                IntegrationEvent::CredentialsRefreshed {
                    integration_id,
                    workspace_id,
                    auth,
                    at: now,
                }
            }
            IntegrationCommand::Disconnect {
                reason,
                platform_outcome,
            } => match self.status {
                IntegrationStatus::Disconnected => return Ok(None),
                IntegrationStatus::Created => return Err(IntegrationError::NeverConnected),
                _ => IntegrationEvent::IntegrationDisconnected {
                    integration_id,
                    workspace_id,
                    reason,
                    platform_outcome,
                    at: now,
                },
            },
            IntegrationCommand::Delete { platform_outcome } => {
                IntegrationEvent::IntegrationDeleted {
                    integration_id,
                    workspace_id,
                    platform_outcome,
                    at: now,
                }
            }
        };
        Ok(Some(event))
    }

    /// The ids and channel spec of an integration that exists and is not deleted.
    fn existing<'s>(
        &self,
        services: &'s IntegrationServices,
    ) -> Result<(IntegrationId, WorkspaceId, &'s ChannelSpec), IntegrationError> {
        match self.status {
            IntegrationStatus::Absent => return Err(IntegrationError::NotFound),
            IntegrationStatus::Deleted => return Err(IntegrationError::Deleted),
            _ => {}
        }
        let (Some(id), Some(workspace), Some(channel)) =
            (self.integration_id, &self.workspace_id, &self.channel)
        else {
            return Err(IntegrationError::NotFound);
        };
        let spec = services
            .channels
            .spec(channel)
            .ok_or_else(|| IntegrationError::UnknownChannel(channel.clone()))?;
        Ok((id, workspace.clone(), spec))
    }
}

/// The name trimmed, if it is 1–200 characters without control characters.
fn checked_name(name: &str) -> Result<String, IntegrationError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(IntegrationError::InvalidName);
    }
    Ok(name.to_owned())
}

/// Settings are an object, bounded in size and depth, without NUL in any key or string
/// (PostgreSQL's `jsonb` cannot hold it).
fn check_settings(settings: &serde_json::Value) -> Result<(), IntegrationError> {
    fn within(value: &serde_json::Value, depth: usize) -> bool {
        use serde_json::Value;
        match value {
            Value::String(text) => !text.contains('\0'),
            Value::Array(items) => {
                depth < MAX_SETTINGS_DEPTH && items.iter().all(|v| within(v, depth + 1))
            }
            Value::Object(fields) => {
                depth < MAX_SETTINGS_DEPTH
                    && fields
                        .iter()
                        .all(|(k, v)| !k.contains('\0') && within(v, depth + 1))
            }
            _ => true,
        }
    }
    let small = serde_json::to_vec(settings).is_ok_and(|bytes| bytes.len() <= MAX_SETTINGS_BYTES);
    if settings.is_object() && small && within(settings, 0) {
        Ok(())
    } else {
        Err(IntegrationError::InvalidSettings)
    }
}

/// Validates submitted fields against the channel and seals its secrets.
fn seal_input(
    spec: &ChannelSpec,
    input: Option<&AuthInput>,
    services: &IntegrationServices,
    owner: &str,
) -> Result<StoredAuth, IntegrationError> {
    let Some(input) = input else {
        return Ok(StoredAuth::default());
    };
    spec.auth
        .validate(input)
        .map_err(IntegrationError::InvalidCredentials)?;
    Ok(spec.auth.seal(input, services.sealer.as_ref(), owner)?)
}
