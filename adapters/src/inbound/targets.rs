//! Which integration a webhook is for, with the secrets its checks need: folded from the
//! integration's events, its sealed auth fields opened, the platform's credentials added.
//!
//! Lookups are cached for a short time (`ttl`) so a burst of webhooks costs one query; a
//! Disconnect therefore takes effect on webhooks within that time.

use crate::channels::opened_auth::open_auth_fields;
use crate::channels::platform_credentials::PlatformCredentials;
use crate::channels::webhook::WebhookSecrets;
use crate::store::{IntegrationStore, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use switchboard_domain::integration::{Integration, IntegrationStatus};
use switchboard_domain::{ChannelKind, IntegrationId, SecretSealer, WorkspaceId};

/// An integration as webhooks see it.
pub struct WebhookTarget {
    /// Its id.
    pub integration_id: IntegrationId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its channel.
    pub channel: ChannelKind,
    /// Its lifecycle state.
    pub status: IntegrationStatus,
    /// Its opened auth fields and its platform's credentials.
    pub secrets: WebhookSecrets,
}

impl WebhookTarget {
    /// Whether the platform may still deliver to it (created or connected).
    pub fn accepts_webhooks(&self) -> bool {
        matches!(
            self.status,
            IntegrationStatus::Created | IntegrationStatus::Connected
        )
    }
}

type CacheEntry = (Instant, Option<Arc<WebhookTarget>>);

/// Looks integrations up for webhooks, with a short-lived cache.
#[derive(Clone)]
pub struct WebhookTargets {
    store: IntegrationStore,
    sealer: Arc<dyn SecretSealer>,
    platform: Arc<PlatformCredentials>,
    ttl: Duration,
    cache: Arc<RwLock<HashMap<IntegrationId, CacheEntry>>>,
}

impl WebhookTargets {
    /// Lookups through `store`, opening secrets with `sealer`, cached for `ttl`.
    pub fn new(
        store: IntegrationStore,
        sealer: Arc<dyn SecretSealer>,
        platform: PlatformCredentials,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            sealer,
            platform: Arc::new(platform),
            ttl,
            cache: Arc::default(),
        }
    }

    /// The integration `id`, `None` when it never existed.
    pub async fn get(&self, id: IntegrationId) -> Result<Option<Arc<WebhookTarget>>, StoreError> {
        if let Some(hit) = self.cached(id) {
            return Ok(hit);
        }
        let target = self
            .store
            .load(id)
            .await?
            .and_then(|i| self.target(i))
            .map(Arc::new);
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(id, (Instant::now(), target.clone()));
        Ok(target)
    }

    fn cached(&self, id: IntegrationId) -> Option<Option<Arc<WebhookTarget>>> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let (at, target) = cache.get(&id)?;
        (at.elapsed() < self.ttl).then(|| target.clone())
    }

    fn target(&self, integration: Integration) -> Option<WebhookTarget> {
        let integration_id = integration.integration_id?;
        let opened = open_auth_fields(&integration, integration_id, self.sealer.as_ref());
        let channel = integration.channel?;
        Some(WebhookTarget {
            integration_id,
            workspace_id: integration.workspace_id?,
            secrets: WebhookSecrets::new(opened, self.platform.for_channel(&channel)),
            channel,
            status: integration.status,
        })
    }
}
