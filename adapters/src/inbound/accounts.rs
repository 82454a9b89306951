//! Which integration an item delivered to a platform app's shared URL is for: the live
//! integration that records the account the item names, read from the account claims committed
//! with the integrations' states (see `store::integrations`), so a just-connected integration's
//! first deliveries are routed. An owner found here is then looked up as a [`WebhookTarget`]
//! (`super::targets`), and only the items naming the account it records are published to it.
//!
//! [`WebhookTarget`]: super::WebhookTarget
//!
//! # Caching
//! Owners are cached for the same short time as targets (`ttl`; zero: never), in a bounded cache
//! ([`MAX_CACHED_OWNERS`]). Concurrent misses of one account wait for a single read. Every answer
//! remembers how many commands this process had committed when it was read
//! ([`IntegrationStore::commits`]): once another one commits (a Connect, a Disconnect…) the
//! answer is read again. "Nobody owns it" is never cached: a Connect committed by another
//! process would otherwise leave that page's first deliveries unrouted (acknowledged, so lost)
//! for up to `ttl`. Only verified deliveries reach a lookup, so unowned accounts cost one query
//! each only when the platform itself names them.

use crate::inbound::targets::same_error;
use crate::store::{IntegrationStore, StoreError};
use async_trait::async_trait;
use moka::future::Cache;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::{ChannelKind, IntegrationId};

/// How many owned accounts are cached at most.
pub const MAX_CACHED_OWNERS: u64 = 100_000;

/// Where owners are read from (the store; a stand-in in tests).
#[async_trait]
trait OwnerSource: Send + Sync {
    async fn owner(
        &self,
        channel: &ChannelKind,
        field: &str,
        account: &str,
    ) -> Result<Option<IntegrationId>, StoreError>;

    /// How many commands have committed so far (see [`IntegrationStore::commits`]).
    fn commits(&self) -> u64;
}

#[async_trait]
impl OwnerSource for IntegrationStore {
    async fn owner(
        &self,
        channel: &ChannelKind,
        field: &str,
        account: &str,
    ) -> Result<Option<IntegrationId>, StoreError> {
        self.account_owner(channel, field, account).await
    }

    fn commits(&self) -> u64 {
        IntegrationStore::commits(self)
    }
}

/// `(channel, auth field, account id)`.
type Key = (ChannelKind, &'static str, String);

/// Why a cache fill produced no entry to keep.
enum Unkept {
    /// No live integration records the account (never remembered).
    Unowned,
    /// The read failed (not remembered: the next lookup tries again).
    Failed(StoreError),
}

struct Caches {
    /// The owner, and the commit count when it was read.
    owned: Cache<Key, (IntegrationId, u64)>,
}

/// Looks up the live integration recording an account, with a short-lived, bounded cache.
#[derive(Clone)]
pub struct AccountOwners {
    source: Arc<dyn OwnerSource>,
    /// `None` when the time-to-live is zero: every lookup reads the store.
    caches: Option<Arc<Caches>>,
}

impl AccountOwners {
    /// Lookups through `store`, cached for `ttl` (zero: never).
    pub fn new(store: IntegrationStore, ttl: Duration) -> Self {
        Self::with_source(Arc::new(store), ttl, MAX_CACHED_OWNERS)
    }

    fn with_source(source: Arc<dyn OwnerSource>, ttl: Duration, max_owned: u64) -> Self {
        let caches = (!ttl.is_zero()).then(|| {
            Arc::new(Caches {
                owned: Cache::builder()
                    .max_capacity(max_owned)
                    .time_to_live(ttl)
                    .build(),
            })
        });
        Self { source, caches }
    }

    /// The live integration of `channel` recording `account` (trimmed) in its auth field
    /// `field`; `None` when there is none.
    pub async fn owner(
        &self,
        channel: &ChannelKind,
        field: &'static str,
        account: &str,
    ) -> Result<Option<IntegrationId>, StoreError> {
        let account = account.trim();
        let Some(caches) = &self.caches else {
            return self.source.owner(channel, field, account).await;
        };
        let key: Key = (channel.clone(), field, account.to_owned());
        let commits = self.source.commits();
        if let Some((owner, read_at)) = caches.owned.get(&key).await {
            if read_at == commits {
                return Ok(Some(owner));
            }
            caches.owned.invalidate(&key).await;
        }
        let fill = async {
            match self.source.owner(channel, field, account).await {
                Ok(Some(owner)) => Ok((owner, commits)),
                Ok(None) => Err(Unkept::Unowned),
                Err(error) => Err(Unkept::Failed(error)),
            }
        };
        match caches.owned.try_get_with(key.clone(), fill).await {
            Ok((owner, _)) => Ok(Some(owner)),
            Err(unkept) => match unkept.as_ref() {
                Unkept::Unowned => Ok(None),
                Unkept::Failed(error) => Err(same_error(error)),
            },
        }
    }
}

#[cfg(test)]
mod tests;
