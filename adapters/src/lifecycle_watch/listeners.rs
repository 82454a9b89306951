//! What each cache forgets when it hears of a change: webhook targets and send targets drop the
//! integration (all of them when a platform app's credentials changed, since targets carry
//! them), the integration store counts a commit made elsewhere (the account-owner cache compares
//! that count), and the platform app store reloads the credentials in force.

use super::LifecycleListener;
use crate::inbound::WebhookTargets;
use crate::outbound::target_cache::TargetCache;
use crate::store::{IntegrationStore, PlatformAppStore};
use async_trait::async_trait;
use switchboard_domain::{ChannelKind, IntegrationId};

#[async_trait]
impl LifecycleListener for WebhookTargets {
    async fn integration_changed(&self, id: IntegrationId) {
        self.invalidate(id).await;
    }

    async fn platform_app_changed(&self, _channel: &ChannelKind) {
        self.invalidate_all().await;
    }
}

#[async_trait]
impl LifecycleListener for IntegrationStore {
    async fn integration_changed(&self, _id: IntegrationId) {
        self.note_commit_elsewhere();
    }
}

#[async_trait]
impl LifecycleListener for PlatformAppStore {
    async fn platform_app_changed(&self, channel: &ChannelKind) {
        if let Err(error) = self.reload().await {
            tracing::warn!(%channel, %error, "platform credentials not reloaded after a change");
        }
    }
}

#[async_trait]
impl LifecycleListener for TargetCache {
    async fn integration_changed(&self, id: IntegrationId) {
        self.forget(id);
    }
}
