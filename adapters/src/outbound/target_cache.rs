//! A short memory of the integrations looked up for sending, so a busy integration costs one
//! PostgreSQL read (and one round of secret opening) per time-to-live instead of one per send.
//!
//! Only connected integrations are remembered. Concurrent sends of one integration wait for a
//! single lookup instead of each making their own. What the engine itself changes (refreshed
//! credentials, a disconnect) is forgotten at once by [`TargetCache::forget`]; a change made
//! elsewhere (an operator disconnecting in the API) is seen within the time-to-live, and a
//! credential refreshed by another engine instance shows as an auth failure whose recovery
//! reads the store directly, never this cache.

use crate::channels::sender::SendTarget;
use crate::outbound::targets::{SendTargets, TargetLookup};
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_domain::IntegrationId;
use tokio::time::Instant;

/// How long a looked-up integration is used before it is read again.
pub const DEFAULT_TARGET_CACHE_TTL: Duration = Duration::from_secs(2);

/// Slots kept before expired ones are dropped.
const MAX_TRACKED_SLOTS: usize = 10_000;

struct Cached {
    read_at: Instant,
    target: SendTarget,
}

type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// Lookups through a [`SendTargets`], remembered for a time-to-live.
pub struct TargetCache {
    targets: Arc<dyn SendTargets>,
    ttl: Duration,
    slots: Mutex<HashMap<IntegrationId, Slot>>,
}

impl TargetCache {
    /// Remembers `targets`' connected integrations for `ttl` (zero: never).
    pub fn new(targets: Arc<dyn SendTargets>, ttl: Duration) -> Self {
        Self {
            targets,
            ttl,
            slots: Mutex::default(),
        }
    }

    /// The integration `id`, from memory when it was read less than the time-to-live ago.
    pub async fn lookup(&self, id: IntegrationId) -> Result<TargetLookup, StoreError> {
        if self.ttl.is_zero() {
            return self.targets.lookup(id).await;
        }
        let slot = self.slot(id);
        let mut cached = slot.lock().await;
        if let Some(hit) = cached.as_ref().filter(|c| c.read_at.elapsed() < self.ttl) {
            return Ok(TargetLookup::Ready(hit.target.clone()));
        }
        let lookup = self.targets.lookup(id).await?;
        *cached = match &lookup {
            TargetLookup::Ready(target) => Some(Cached {
                read_at: Instant::now(),
                target: target.clone(),
            }),
            _ => None,
        };
        Ok(lookup)
    }

    /// Forgets `id`, so the next lookup reads the store (its credentials or state changed).
    pub fn forget(&self, id: IntegrationId) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.remove(&id);
    }

    fn slot(&self, id: IntegrationId) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= MAX_TRACKED_SLOTS && !slots.contains_key(&id) {
            let ttl = self.ttl;
            slots.retain(|_, slot| {
                slot.try_lock().map_or(true, |c| {
                    c.as_ref().is_some_and(|c| c.read_at.elapsed() < ttl)
                })
            });
        }
        slots.entry(id).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::webhook::WebhookSecrets;
    use async_trait::async_trait;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use switchboard_domain::auth::AuthInput;
    use switchboard_domain::ChannelKind;

    /// Counts reads; every integration is connected.
    #[derive(Default)]
    struct Counting {
        reads: AtomicUsize,
    }

    #[async_trait]
    impl SendTargets for Counting {
        async fn lookup(&self, id: IntegrationId) -> Result<TargetLookup, StoreError> {
            let reads = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(TargetLookup::Ready(SendTarget {
                integration_id: id,
                workspace_id: "acme".parse().unwrap(),
                channel: ChannelKind::parse("messenger").unwrap(),
                version: reads as u64,
                api_base: "http://127.0.0.1:1".into(),
                secrets: WebhookSecrets::new(BTreeMap::new(), BTreeMap::new()),
            }))
        }
        async fn store_credentials(
            &self,
            _: IntegrationId,
            _: AuthInput,
        ) -> Result<(), StoreError> {
            Ok(())
        }
        async fn disconnect(&self, _: IntegrationId, _: String) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn version(lookup: TargetLookup) -> u64 {
        match lookup {
            TargetLookup::Ready(target) => target.version,
            other => panic!("not ready: {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_sends_share_one_read_until_it_expires() {
        let store = Arc::new(Counting::default());
        let cache = Arc::new(TargetCache::new(store.clone(), Duration::from_secs(2)));
        let id = IntegrationId::new();
        let lookups = (0..50).map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { version(cache.lookup(id).await.unwrap()) })
        });
        for lookup in futures::future::join_all(lookups).await {
            assert_eq!(lookup.unwrap(), 1);
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(
            version(cache.lookup(id).await.unwrap()),
            2,
            "expired: read again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_forgotten_integration_is_read_again_at_once() {
        let store = Arc::new(Counting::default());
        let cache = TargetCache::new(store.clone(), Duration::from_secs(60));
        let id = IntegrationId::new();
        assert_eq!(version(cache.lookup(id).await.unwrap()), 1);
        assert_eq!(version(cache.lookup(id).await.unwrap()), 1);
        cache.forget(id);
        assert_eq!(version(cache.lookup(id).await.unwrap()), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_time_to_live_reads_every_time() {
        let store = Arc::new(Counting::default());
        let cache = TargetCache::new(store.clone(), Duration::ZERO);
        let id = IntegrationId::new();
        cache.lookup(id).await.unwrap();
        cache.lookup(id).await.unwrap();
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }
}
