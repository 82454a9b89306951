//! The integration side of sending: who a command's integration is (opened credentials, API
//! base URL, lifecycle state), and the two commands an adapter may issue on it, storing
//! refreshed credentials and disconnecting it after an auth failure.
//!
//! Lookups are not cached: a send costs two indexed reads (the integration's state row and its
//! data key), and a refreshed token, a disconnect or a deletion is seen by the very next attempt.

use crate::channels::platform_app::setting;
use crate::channels::platform_credentials::LivePlatformCredentials;
use crate::channels::sender::{SendTarget, API_BASE};
use crate::channels::webhook::WebhookSecrets;
use crate::channels::ChannelRegistry;
use crate::refresh::{RefreshLock, RefreshLocks};
use crate::store::{CommandMetadata, IntegrationStore, StoreError};
use async_trait::async_trait;
use std::sync::Arc;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::{IntegrationCommand, IntegrationStatus};
use switchboard_domain::IntegrationId;

/// What a lookup found.
#[derive(Debug)]
pub enum TargetLookup {
    /// No such integration.
    Unknown,
    /// It exists but may not send (created, disconnected, deleted).
    Inactive(IntegrationStatus),
    /// Connected, with everything a sender needs.
    Ready(SendTarget),
}

/// Where the engine reads integrations and records what sending learnt about them.
#[async_trait]
pub trait SendTargets: Send + Sync {
    /// The integration `id` as senders see it.
    async fn lookup(&self, id: IntegrationId) -> Result<TargetLookup, StoreError>;
    /// Stores credentials a sender refreshed.
    async fn store_credentials(&self, id: IntegrationId, auth: AuthInput)
        -> Result<(), StoreError>;
    /// Disconnects the integration, so its settings page asks for a reconnect.
    async fn disconnect(&self, id: IntegrationId, reason: String) -> Result<(), StoreError>;
    /// Waits for the integration's cross-process token refresh lock; `None` where there is
    /// none to take (in-memory targets), so only this process's single flight applies.
    async fn refresh_lock(&self, _id: IntegrationId) -> Result<Option<RefreshLock>, StoreError> {
        Ok(None)
    }
}

/// [`SendTargets`] on the event-sourced integration store.
#[derive(Clone)]
pub struct StoreSendTargets {
    store: IntegrationStore,
    platform: LivePlatformCredentials,
    channels: Arc<ChannelRegistry>,
    locks: RefreshLocks,
}

impl StoreSendTargets {
    /// Lookups through `store`, opening secrets with its sealer; each channel's API base is its
    /// `api_base` platform setting or its sender's default. Token refreshes take the store's
    /// refresh locks (shared with every other user of the store).
    pub fn new(
        store: IntegrationStore,
        platform: impl Into<LivePlatformCredentials>,
        channels: Arc<ChannelRegistry>,
    ) -> Self {
        Self {
            locks: store.refresh_locks().clone(),
            store,
            platform: platform.into(),
            channels,
        }
    }

    fn metadata() -> CommandMetadata {
        CommandMetadata {
            request_id: None,
            actor: Some("adapter:outbound".into()),
            traceparent: crate::kafka::trace_context::current_traceparent(),
        }
    }
}

#[async_trait]
impl SendTargets for StoreSendTargets {
    async fn lookup(&self, id: IntegrationId) -> Result<TargetLookup, StoreError> {
        let Some(integration) = self.store.load(id).await? else {
            return Ok(TargetLookup::Unknown);
        };
        if integration.status != IntegrationStatus::Connected {
            return Ok(TargetLookup::Inactive(integration.status));
        }
        let (Some(workspace_id), Some(channel)) = (
            integration.workspace_id.clone(),
            integration.channel.clone(),
        ) else {
            return Ok(TargetLookup::Unknown);
        };
        let opened = self.store.open_auth(&integration, id).await?;
        let platform = self.platform.for_channel(&channel);
        let default_base = self
            .channels
            .sender(&channel)
            .map(|s| s.default_api_base())
            .unwrap_or_default();
        let api_base = setting(&platform, API_BASE, default_base);
        Ok(TargetLookup::Ready(SendTarget {
            integration_id: id,
            workspace_id,
            channel,
            version: integration.version,
            api_base,
            secrets: WebhookSecrets::new(opened, platform),
        }))
    }

    async fn store_credentials(
        &self,
        id: IntegrationId,
        auth: AuthInput,
    ) -> Result<(), StoreError> {
        let command = IntegrationCommand::RefreshCredentials { auth };
        self.store.execute(id, command, Self::metadata()).await
    }

    async fn disconnect(&self, id: IntegrationId, reason: String) -> Result<(), StoreError> {
        let command = IntegrationCommand::Disconnect {
            reason,
            platform_outcome: None,
        };
        self.store.execute(id, command, Self::metadata()).await
    }

    async fn refresh_lock(&self, id: IntegrationId) -> Result<Option<RefreshLock>, StoreError> {
        self.locks.lock(id).await.map(Some)
    }
}
