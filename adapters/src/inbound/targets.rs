//! Which integration a webhook is for, with the secrets its checks need: read from the
//! integration's state, its sealed auth fields opened, the platform's credentials added.
//!
//! # Caching
//! Lookups are cached for a short time (`ttl`) so a burst of webhooks costs one query; a
//! Disconnect therefore takes effect on webhooks within that time, or at once for an id passed
//! to [`WebhookTargets::invalidate`].
//!
//! The ids in webhook URLs come from anyone, so the cache is built to withstand made-up ones:
//! - known integrations live in a bounded cache (TinyLFU admission, LRU eviction:
//!   [`MAX_CACHED_TARGETS`]); a one-off id is not admitted in place of a busy one;
//! - ids that do not exist are remembered in a separate, smaller bounded cache
//!   ([`MAX_CACHED_UNKNOWN`]), so a flood of them evicts only each other;
//! - concurrent misses of one id wait for a single database read.

use crate::channels::opened_auth::open_auth_fields;
use crate::channels::platform_credentials::LivePlatformCredentials;
use crate::channels::webhook::WebhookSecrets;
use crate::store::{IntegrationStore, KeyHold, StoreError};
use async_trait::async_trait;
use moka::future::Cache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::integration::{Integration, IntegrationStatus};
use switchboard_domain::{ChannelKind, IntegrationId, SecretSealer, WorkspaceId};

/// How many known integrations are cached at most.
pub const MAX_CACHED_TARGETS: u64 = 100_000;
/// How many ids that do not exist are remembered at most.
pub const MAX_CACHED_UNKNOWN: u64 = 10_000;

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

/// Where integrations are read from (the store; a stand-in in tests).
#[async_trait]
trait IntegrationSource: Send + Sync {
    async fn load(&self, id: IntegrationId) -> Result<Option<Integration>, StoreError>;
    /// Holds the integration's data key while its auth fields are opened.
    async fn hold_keys(&self, _id: IntegrationId) -> Result<Option<KeyHold>, StoreError> {
        Ok(None)
    }
}

#[async_trait]
impl IntegrationSource for IntegrationStore {
    async fn load(&self, id: IntegrationId) -> Result<Option<Integration>, StoreError> {
        IntegrationStore::load(self, id).await
    }

    async fn hold_keys(&self, id: IntegrationId) -> Result<Option<KeyHold>, StoreError> {
        IntegrationStore::hold_keys(self, id).await
    }
}

/// Why a cache fill produced no entry to keep.
enum Unkept {
    /// The id does not exist (remembered in the negative cache instead).
    Absent,
    /// What was read, not kept because an invalidation ran while it was read.
    Invalidated(Option<Arc<WebhookTarget>>),
    /// The read failed (not remembered: the next lookup tries again).
    Failed(StoreError),
}

struct Caches {
    known: Cache<IntegrationId, Arc<WebhookTarget>>,
    unknown: Cache<IntegrationId, ()>,
    /// Bumped by every invalidation, so a read that overlapped one is not cached.
    invalidations: AtomicU64,
}

/// Looks integrations up for webhooks, with a short-lived, bounded cache.
#[derive(Clone)]
pub struct WebhookTargets {
    source: Arc<dyn IntegrationSource>,
    sealer: Arc<dyn SecretSealer>,
    platform: LivePlatformCredentials,
    /// `None` when the time-to-live is zero: every lookup reads the store.
    caches: Option<Arc<Caches>>,
}

impl WebhookTargets {
    /// Lookups through `store`, opening secrets with `sealer`, cached for `ttl` (zero: never).
    pub fn new(
        store: IntegrationStore,
        sealer: Arc<dyn SecretSealer>,
        platform: impl Into<LivePlatformCredentials>,
        ttl: Duration,
    ) -> Self {
        Self::with_source(
            Arc::new(store),
            sealer,
            platform,
            ttl,
            (MAX_CACHED_TARGETS, MAX_CACHED_UNKNOWN),
        )
    }

    fn with_source(
        source: Arc<dyn IntegrationSource>,
        sealer: Arc<dyn SecretSealer>,
        platform: impl Into<LivePlatformCredentials>,
        ttl: Duration,
        (max_known, max_unknown): (u64, u64),
    ) -> Self {
        let caches = (!ttl.is_zero()).then(|| {
            Arc::new(Caches {
                known: Cache::builder()
                    .max_capacity(max_known)
                    .time_to_live(ttl)
                    .build(),
                unknown: Cache::builder()
                    .max_capacity(max_unknown)
                    .time_to_live(ttl)
                    .build(),
                invalidations: AtomicU64::new(0),
            })
        });
        Self {
            source,
            sealer,
            platform: platform.into(),
            caches,
        }
    }

    /// The integration `id`, `None` when it never existed.
    pub async fn get(&self, id: IntegrationId) -> Result<Option<Arc<WebhookTarget>>, StoreError> {
        let Some(caches) = &self.caches else {
            return self.read(id).await;
        };
        if caches.unknown.get(&id).await.is_some() {
            return Ok(None);
        }
        let fill = async {
            let epoch = caches.invalidations.load(Ordering::SeqCst);
            let read = self.read(id).await.map_err(Unkept::Failed)?;
            if caches.invalidations.load(Ordering::SeqCst) != epoch {
                return Err(Unkept::Invalidated(read));
            }
            match read {
                Some(target) => Ok(target),
                None => {
                    caches.unknown.insert(id, ()).await;
                    Err(Unkept::Absent)
                }
            }
        };
        match caches.known.try_get_with(id, fill).await {
            Ok(target) => Ok(Some(target)),
            Err(unkept) => match unkept.as_ref() {
                Unkept::Absent => Ok(None),
                Unkept::Invalidated(read) => Ok(read.clone()),
                Unkept::Failed(error) => Err(same_error(error)),
            },
        }
    }

    /// The platform's credentials for `channel` alone, with no integration field: what a
    /// delivery to the platform app's shared URL is verified with (an integration's own secret
    /// never vouches for it).
    pub fn platform_secrets(&self, channel: &ChannelKind) -> WebhookSecrets {
        WebhookSecrets::new(Default::default(), self.platform.for_channel(channel))
    }

    /// Forgets `id`, so its next lookup reads the store (its lifecycle or credentials
    /// changed). A lookup of `id` already reading when this runs is answered but not cached.
    pub async fn invalidate(&self, id: IntegrationId) {
        if let Some(caches) = &self.caches {
            caches.invalidations.fetch_add(1, Ordering::SeqCst);
            caches.known.invalidate(&id).await;
            caches.unknown.invalidate(&id).await;
        }
    }

    /// Forgets every remembered integration (the platform credentials they carry changed).
    pub async fn invalidate_all(&self) {
        if let Some(caches) = &self.caches {
            caches.invalidations.fetch_add(1, Ordering::SeqCst);
            caches.known.invalidate_all();
            caches.unknown.invalidate_all();
        }
    }

    async fn read(&self, id: IntegrationId) -> Result<Option<Arc<WebhookTarget>>, StoreError> {
        let Some(integration) = self.source.load(id).await? else {
            return Ok(None);
        };
        let _key = self.source.hold_keys(id).await?;
        Ok(self.target(integration).map(Arc::new))
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

/// A copy of a read error shared by every lookup that waited on the read.
pub(crate) fn same_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        StoreError::Corrupt(message) => StoreError::Corrupt(message.clone()),
        StoreError::Conflict(attempts) => StoreError::Conflict(*attempts),
        // Reads are never refused by the aggregate; keep the message if one ever is.
        StoreError::Rejected(rejected) => StoreError::Corrupt(rejected.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::platform_credentials::PlatformCredentials;
    use crate::store::integrations::test_db::{sealer, services, TestDb};
    use crate::store::CommandMetadata;
    use std::collections::{BTreeMap, HashMap};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    use switchboard_domain::auth::AuthInput;
    use switchboard_domain::integration::IntegrationCommand;

    /// Integrations in memory; counts reads, each taking `delay`.
    #[derive(Default)]
    struct Counting {
        integrations: Mutex<HashMap<IntegrationId, Integration>>,
        loads: AtomicUsize,
        delay: Duration,
        fail_next: std::sync::atomic::AtomicBool,
    }

    impl Counting {
        fn slow(delay: Duration) -> Self {
            Self {
                delay,
                ..Self::default()
            }
        }

        fn put(&self, id: IntegrationId, status: IntegrationStatus) {
            let integration = Integration {
                status,
                integration_id: Some(id),
                workspace_id: Some("acme".parse().unwrap()),
                channel: ChannelKind::parse("telegram"),
                ..Integration::default()
            };
            self.integrations.lock().unwrap().insert(id, integration);
        }

        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl IntegrationSource for Counting {
        async fn load(&self, id: IntegrationId) -> Result<Option<Integration>, StoreError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            // Reads what is there now, answers after `delay`.
            let found = self.integrations.lock().unwrap().get(&id).cloned();
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            if self.fail_next.swap(false, Ordering::SeqCst) {
                return Err(StoreError::Unavailable("down".into()));
            }
            Ok(found)
        }
    }

    fn targets(source: &Arc<Counting>, ttl: Duration, capacity: (u64, u64)) -> WebhookTargets {
        WebhookTargets::with_source(
            source.clone(),
            sealer(),
            PlatformCredentials::default(),
            ttl,
            capacity,
        )
    }

    const MINUTE: Duration = Duration::from_secs(60);
    const PRODUCTION: (u64, u64) = (MAX_CACHED_TARGETS, MAX_CACHED_UNKNOWN);

    fn status(target: Option<Arc<WebhookTarget>>) -> IntegrationStatus {
        target.expect("a target").status
    }

    #[tokio::test]
    async fn a_flood_of_unknown_ids_does_not_evict_a_known_one() {
        let source = Arc::new(Counting::default());
        let real = IntegrationId::new();
        source.put(real, IntegrationStatus::Connected);
        let targets = targets(&source, MINUTE, PRODUCTION);
        assert_eq!(
            status(targets.get(real).await.unwrap()),
            IntegrationStatus::Connected
        );
        // More made-up ids than either bound (and than the old cache's clear-all threshold).
        let flood = 150_000;
        for _ in 0..flood {
            assert!(targets.get(IntegrationId::new()).await.unwrap().is_none());
        }
        assert_eq!(source.loads(), 1 + flood, "each made-up id read once");
        // The real one is still served from memory.
        assert_eq!(
            status(targets.get(real).await.unwrap()),
            IntegrationStatus::Connected
        );
        assert_eq!(source.loads(), 1 + flood, "the real one was not read again");
        let caches = targets.caches.as_ref().unwrap();
        caches.unknown.run_pending_tasks().await;
        caches.known.run_pending_tasks().await;
        assert!(caches.unknown.entry_count() <= MAX_CACHED_UNKNOWN);
        assert_eq!(caches.known.entry_count(), 1);
    }

    #[tokio::test]
    async fn known_integrations_are_bounded_too() {
        let source = Arc::new(Counting::default());
        let targets = targets(&source, MINUTE, (100, 10));
        for _ in 0..1_000 {
            let id = IntegrationId::new();
            source.put(id, IntegrationStatus::Created);
            assert!(targets.get(id).await.unwrap().is_some());
        }
        let caches = targets.caches.as_ref().unwrap();
        caches.known.run_pending_tasks().await;
        assert!(
            caches.known.entry_count() <= 100,
            "{}",
            caches.known.entry_count()
        );
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_id_read_it_once() {
        let source = Arc::new(Counting::slow(Duration::from_millis(50)));
        let known = IntegrationId::new();
        source.put(known, IntegrationStatus::Connected);
        let targets = targets(&source, MINUTE, PRODUCTION);
        let lookups = |id| {
            futures::future::join_all((0..20).map(|_| {
                let targets = targets.clone();
                tokio::spawn(async move { targets.get(id).await.unwrap() })
            }))
        };
        for found in lookups(known).await {
            assert_eq!(status(found.unwrap()), IntegrationStatus::Connected);
        }
        assert_eq!(source.loads(), 1, "twenty concurrent misses, one read");
        let unknown = IntegrationId::new();
        for found in lookups(unknown).await {
            assert!(found.unwrap().is_none());
        }
        assert_eq!(source.loads(), 2, "also for an id that does not exist");
        assert!(targets.get(unknown).await.unwrap().is_none());
        assert_eq!(source.loads(), 2, "and its absence is remembered");
    }

    #[tokio::test]
    async fn invalidate_forgets_one_id() {
        let source = Arc::new(Counting::default());
        let (kept, changed, absent) = (
            IntegrationId::new(),
            IntegrationId::new(),
            IntegrationId::new(),
        );
        source.put(kept, IntegrationStatus::Connected);
        source.put(changed, IntegrationStatus::Connected);
        let targets = targets(&source, MINUTE, PRODUCTION);
        targets.get(kept).await.unwrap();
        targets.get(changed).await.unwrap();
        assert!(targets.get(absent).await.unwrap().is_none());
        source.put(changed, IntegrationStatus::Disconnected);
        source.put(absent, IntegrationStatus::Created);
        assert_eq!(source.loads(), 3);
        // Until invalidated, the cached answers stand.
        assert_eq!(
            status(targets.get(changed).await.unwrap()),
            IntegrationStatus::Connected
        );
        assert!(targets.get(absent).await.unwrap().is_none());
        assert_eq!(source.loads(), 3);
        targets.invalidate(changed).await;
        targets.invalidate(absent).await;
        assert_eq!(
            status(targets.get(changed).await.unwrap()),
            IntegrationStatus::Disconnected
        );
        assert_eq!(
            status(targets.get(absent).await.unwrap()),
            IntegrationStatus::Created
        );
        assert_eq!(
            status(targets.get(kept).await.unwrap()),
            IntegrationStatus::Connected
        );
        assert_eq!(
            source.loads(),
            5,
            "only the invalidated ids were read again"
        );
    }

    #[tokio::test]
    async fn a_read_overlapping_an_invalidation_is_answered_but_not_cached() {
        let source = Arc::new(Counting::slow(Duration::from_millis(100)));
        let id = IntegrationId::new();
        source.put(id, IntegrationStatus::Connected);
        let targets = targets(&source, MINUTE, PRODUCTION);
        let reading = tokio::spawn({
            let targets = targets.clone();
            async move { targets.get(id).await.unwrap() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        source.put(id, IntegrationStatus::Disconnected);
        targets.invalidate(id).await;
        // The read had already begun: it answers with what it read, and does not keep it.
        let answered = reading.await.unwrap();
        assert_eq!(status(answered), IntegrationStatus::Connected);
        assert_eq!(
            status(targets.get(id).await.unwrap()),
            IntegrationStatus::Disconnected
        );
        assert_eq!(source.loads(), 2);
    }

    #[tokio::test]
    async fn failed_reads_are_not_cached_and_entries_expire() {
        let source = Arc::new(Counting::default());
        let id = IntegrationId::new();
        source.put(id, IntegrationStatus::Connected);
        let targets = targets(&source, Duration::from_millis(200), PRODUCTION);
        source.fail_next.store(true, Ordering::SeqCst);
        let error = targets.get(id).await.err().expect("the read failed");
        assert!(error.is_retryable());
        assert!(targets.get(id).await.unwrap().is_some());
        assert!(targets.get(id).await.unwrap().is_some());
        assert_eq!(source.loads(), 2);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(targets.get(id).await.unwrap().is_some());
        assert_eq!(source.loads(), 3, "read again once the time-to-live passed");
    }

    #[tokio::test]
    async fn a_zero_time_to_live_reads_every_time() {
        let source = Arc::new(Counting::default());
        let id = IntegrationId::new();
        source.put(id, IntegrationStatus::Connected);
        let targets = targets(&source, Duration::ZERO, PRODUCTION);
        targets.get(id).await.unwrap();
        targets.get(id).await.unwrap();
        targets.get(IntegrationId::new()).await.unwrap();
        targets.get(IntegrationId::new()).await.unwrap();
        targets.invalidate(id).await;
        assert_eq!(source.loads(), 4);
    }

    #[tokio::test]
    async fn lookups_through_the_store_are_cached_until_invalidated() {
        let db = TestDb::new().await;
        let sealer = sealer();
        let store = IntegrationStore::new(db.pool.clone(), services(sealer.clone()));
        let targets = WebhookTargets::new(
            store.clone(),
            sealer,
            PlatformCredentials::default(),
            MINUTE,
        );
        let id = IntegrationId::new();
        let run = |command| store.execute(id, command, CommandMetadata::default());
        // Looked up before it exists: remembered as absent.
        assert!(targets.get(id).await.unwrap().is_none());
        run(IntegrationCommand::Create {
            integration_id: id,
            workspace_id: "acme".parse().unwrap(),
            channel: ChannelKind::parse("telegram").unwrap(),
            name: "bot".into(),
            auth: None,
        })
        .await
        .unwrap();
        run(IntegrationCommand::Connect {
            auth: Some(AuthInput(BTreeMap::from([
                ("bot_token".into(), "123:abc".into()),
                ("webhook_secret".into(), "s3cret".into()),
            ]))),
            account: None,
            account_verified: false,
        })
        .await
        .unwrap();
        assert!(targets.get(id).await.unwrap().is_none(), "absence cached");
        targets.invalidate(id).await;
        let target = targets.get(id).await.unwrap().expect("now it exists");
        assert_eq!(target.status, IntegrationStatus::Connected);
        assert_eq!(target.workspace_id.as_str(), "acme");
        assert_eq!(
            target.secrets.get("webhook_secret").unwrap().expose(),
            "s3cret"
        );
        // Changed in the database: the cached entry survives until invalidated.
        run(IntegrationCommand::Disconnect {
            reason: "operator".into(),
            platform_outcome: None,
        })
        .await
        .unwrap();
        let cached = targets.get(id).await.unwrap().unwrap();
        assert_eq!(cached.status, IntegrationStatus::Connected);
        assert!(Arc::ptr_eq(&cached, &target), "served from the cache");
        targets.invalidate(id).await;
        let fresh = targets.get(id).await.unwrap().unwrap();
        assert_eq!(fresh.status, IntegrationStatus::Disconnected);
        assert!(!fresh.accepts_webhooks());
        db.drop_database().await;
    }
}
