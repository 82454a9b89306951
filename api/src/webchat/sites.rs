//! Web chat integrations as the widget's routes see them: live or not, and the origins
//! allowed to embed them. Looked up for every upgrade, every frame that writes and every
//! page, so they are remembered briefly ([`SITE_TTL`]): a changed allow-list or a
//! disconnect takes effect within that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_adapters::channels::webchat::origin::AllowedOrigins;
use switchboard_adapters::store::{IntegrationStore, StoreError};
use switchboard_domain::auth::StoredValue;
use switchboard_domain::integration::IntegrationStatus;
use switchboard_domain::{IntegrationId, WorkspaceId};

/// How long a looked-up integration is remembered.
pub const SITE_TTL: Duration = Duration::from_secs(2);
/// How many integrations are remembered at most (then the memory starts afresh).
pub const MAX_CACHED_SITES: usize = 10_000;

/// One web chat integration.
#[derive(Debug, Clone)]
pub struct Site {
    /// Its id.
    pub integration_id: IntegrationId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Whether visitors may write (connected).
    pub live: bool,
    /// Where its widget may be embedded.
    pub origins: AllowedOrigins,
    /// The widget's title.
    pub title: Option<String>,
}

/// Sites looked up, with when.
type Remembered = HashMap<IntegrationId, (Instant, Arc<Site>)>;

/// Looks web chat integrations up, remembering them for [`SITE_TTL`].
#[derive(Clone)]
pub struct Sites {
    store: IntegrationStore,
    cache: Arc<Mutex<Remembered>>,
}

impl Sites {
    /// Lookups through `store`.
    pub fn new(store: IntegrationStore) -> Self {
        Self {
            store,
            cache: Arc::default(),
        }
    }

    /// The web chat integration `id`, if there is one (not deleted).
    pub async fn get(&self, id: IntegrationId) -> Result<Option<Arc<Site>>, StoreError> {
        if let Some((at, site)) = self.lock().get(&id) {
            if at.elapsed() < SITE_TTL {
                return Ok(Some(site.clone()));
            }
        }
        let Some(integration) = self.store.load(id).await? else {
            return Ok(None);
        };
        let is_webchat = integration
            .channel
            .as_ref()
            .is_some_and(|c| c.as_str() == switchboard_adapters::channels::webchat::KIND);
        let (Some(workspace_id), true) = (integration.workspace_id.clone(), is_webchat) else {
            return Ok(None);
        };
        if integration.status == IntegrationStatus::Deleted {
            return Ok(None);
        }
        let plain = |name: &str| match integration.auth.0.get(name) {
            Some(StoredValue::Plain(serde_json::Value::String(s))) => Some(s.clone()),
            _ => None,
        };
        let site = Arc::new(Site {
            integration_id: id,
            workspace_id,
            live: integration.status == IntegrationStatus::Connected,
            origins: AllowedOrigins::of(plain("allowed_origin").as_deref(), &integration.settings),
            title: plain("widget_title"),
        });
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED_SITES {
            cache.clear();
        }
        cache.insert(id, (Instant::now(), site.clone()));
        Ok(Some(site))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
