//! The background token refresher: every interval it lists the connected integrations whose
//! access token expires within the margin and renews each one, single-flight across
//! processes.
//!
//! For each due integration: take its refresh lock without waiting (held elsewhere: another
//! process is refreshing it, skip); re-read it under the lock (refreshed or disconnected
//! meanwhile: skip); trade its refresh token with the platform; store what came back
//! (`RefreshCredentials`, so `CredentialsRefreshed`); release. A refusal the platform means
//! for good (Zalo's invalid refresh token, Google's `invalid_grant`) disconnects it with the
//! platform's reason, which the settings page shows; a refusal of our app's own credentials
//! (a wrong app secret) disconnects nothing: it is the operator's to fix (module
//! [`crate::refresh::app_refusal`]); anything temporary (network, 5xx, the database) is left
//! for the next round. Channels whose platform credentials are not verified are left out of
//! the rounds: their refreshes could only be refused. The reactive refresh after a refused send takes the
//! same lock (module [`crate::outbound::auth`]), so the two never spend one token twice.

use crate::channels::platform_credentials::LivePlatformCredentials;
use crate::channels::sender::{SendError, SendTarget};
use crate::channels::ChannelRegistry;
use crate::outbound::auth::persist;
use crate::outbound::targets::{SendTargets, TargetLookup};
use crate::refresh::due::due_before;
use crate::refresh::expiry::{self, ACCESS_TOKEN_EXPIRES_AT, LEGACY_EXPIRES_AT};
use crate::refresh::lock::RefreshLocks;
use crate::refresh::outcome::{Outcome, RoundReport};
use crate::store::PlatformAppStore;
use chrono::Utc;
use sqlx::PgPool;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::{ChannelCatalog, ChannelKind, IntegrationId};

/// How far ahead and how often the refresher looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshSettings {
    /// Tokens expiring within this are renewed.
    pub margin: Duration,
    /// The pause between two rounds.
    pub interval: Duration,
}

impl Default for RefreshSettings {
    /// Ten minutes ahead (Google access tokens live an hour), every minute.
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(600),
            interval: Duration::from_secs(60),
        }
    }
}

/// Renews expiring tokens of every channel that records their expiry.
pub struct TokenRefresher {
    pool: PgPool,
    channels: Arc<ChannelRegistry>,
    targets: Arc<dyn SendTargets>,
    locks: RefreshLocks,
    platform: LivePlatformCredentials,
    apps: Option<PlatformAppStore>,
    settings: RefreshSettings,
}

impl TokenRefresher {
    /// A refresher reading due integrations on `pool`, locking them with `locks` (the
    /// process's, [`crate::store::IntegrationStore::refresh_locks`]), reading and commanding
    /// them through `targets` and refreshing through `channels`' senders, for the channels
    /// whose platform credentials in `platform` are verified (or that need none).
    pub fn new(
        pool: PgPool,
        locks: RefreshLocks,
        channels: Arc<ChannelRegistry>,
        targets: Arc<dyn SendTargets>,
        platform: LivePlatformCredentials,
        settings: RefreshSettings,
    ) -> Self {
        Self {
            locks,
            pool,
            channels,
            targets,
            platform,
            apps: None,
            settings,
        }
    }

    /// Records the platform's refusals of our app's credentials on `apps` (as
    /// `PlatformCredentialsRefused`), besides logging and counting them.
    pub fn recording_app_refusals(mut self, apps: PlatformAppStore) -> Self {
        self.apps = Some(apps);
        self
    }

    /// Runs rounds until `stop` resolves. A refresh in progress is never cut short (the
    /// platform may already have spent the old refresh token): the round ends after it.
    pub async fn run(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let stopping = AtomicBool::new(false);
        loop {
            let report = {
                let round = self.round(&stopping);
                tokio::pin!(round);
                tokio::select! {
                    report = &mut round => report,
                    _ = &mut stop => {
                        stopping.store(true, Ordering::SeqCst);
                        round.await
                    }
                }
            };
            if report.due > 0 {
                tracing::info!(?report, "token refresh round");
            }
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(self.settings.interval) => {}
            }
        }
    }

    /// One round: every integration due now, one after the other.
    pub async fn run_once(&self) -> RoundReport {
        self.round(&AtomicBool::new(false)).await
    }

    /// A round that ends early, between two integrations, once `stopping` is set.
    async fn round(&self, stopping: &AtomicBool) -> RoundReport {
        let mut report = RoundReport::default();
        let horizon = Utc::now() + margin(self.settings.margin);
        let due = match due_before(&self.pool, &self.refreshable(), horizon).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "cannot list integrations due for a token refresh");
                return report;
            }
        };
        report.due = due.len();
        for integration in due {
            if stopping.load(Ordering::SeqCst) {
                break;
            }
            let outcome = self.refresh(integration.integration_id).await;
            outcome.record();
            report.add(outcome);
        }
        report
    }

    /// The channels whose integrations record when their access token expires and whose
    /// platform credentials, where they need some, are verified.
    fn refreshable(&self) -> Vec<ChannelKind> {
        let platform = self.platform.current();
        self.channels
            .all()
            .into_iter()
            .filter(|spec| {
                spec.auth
                    .fields
                    .iter()
                    .any(|f| f.name == ACCESS_TOKEN_EXPIRES_AT)
            })
            .filter(|spec| self.channels.sender(&spec.kind).is_some())
            .filter(|spec| !spec.needs_platform_credentials || platform.is_verified(&spec.kind))
            .map(|spec| spec.kind.clone())
            .collect()
    }

    /// One integration's turn, under its lock.
    async fn refresh(&self, id: IntegrationId) -> Outcome {
        let lock = match self.locks.try_lock(id).await {
            Ok(Some(lock)) => lock,
            Ok(None) => return Outcome::Busy,
            Err(error) => {
                tracing::warn!(integration_id = %id, %error, "cannot take the token refresh lock");
                return Outcome::Failed;
            }
        };
        let outcome = self.refresh_locked(id).await;
        lock.release().await;
        outcome
    }

    async fn refresh_locked(&self, id: IntegrationId) -> Outcome {
        let target = match self.targets.lookup(id).await {
            Ok(TargetLookup::Ready(target)) => target,
            Ok(_) => return Outcome::Skipped,
            Err(error) => {
                tracing::warn!(integration_id = %id, %error, "cannot read an integration due for a token refresh");
                return Outcome::Failed;
            }
        };
        let horizon = Utc::now() + margin(self.settings.margin);
        if access_expiry(&target).is_none_or(|at| at > horizon) {
            return Outcome::Skipped;
        }
        let Some(sender) = self.channels.sender(&target.channel) else {
            return Outcome::Unsupported;
        };
        match sender.refresh_credentials(&target).await {
            Ok(Some(auth)) => {
                if !auth.0.contains_key(ACCESS_TOKEN_EXPIRES_AT) {
                    tracing::warn!(integration_id = %id, channel = %target.channel.as_str(), "the platform did not say when the refreshed token expires");
                }
                // The platform may have spent the old refresh token: keep trying to store the
                // new one for as long as the database is unavailable.
                match persist(|| self.targets.store_credentials(id, auth.clone())).await {
                    Ok(()) => {
                        tracing::info!(integration_id = %id, channel = %target.channel.as_str(), "tokens refreshed ahead of expiry");
                        Outcome::Refreshed
                    }
                    Err(error) => {
                        tracing::error!(integration_id = %id, %error, "refreshed tokens could not be stored");
                        Outcome::Failed
                    }
                }
            }
            Ok(None) => {
                tracing::debug!(integration_id = %id, "no way to refresh this integration's tokens");
                Outcome::Unsupported
            }
            Err(SendError::Auth(reason)) => {
                match persist(|| self.targets.disconnect(id, reason.clone())).await {
                    Ok(()) => {
                        tracing::warn!(integration_id = %id, "integration disconnected: its token refresh was refused");
                        Outcome::Refused
                    }
                    Err(error) => {
                        tracing::warn!(integration_id = %id, %error, "integration could not be disconnected");
                        Outcome::Failed
                    }
                }
            }
            Err(SendError::AppRefused(detail)) => {
                crate::refresh::app_refusal::record(self.apps.as_ref(), &target.channel, &detail)
                    .await;
                Outcome::AppRefused
            }
            Err(error) => {
                tracing::warn!(integration_id = %id, %error, "token refresh failed; trying again next round");
                Outcome::Failed
            }
        }
    }
}

/// When `target`'s access token expires, as its auth fields say.
fn access_expiry(target: &SendTarget) -> Option<chrono::DateTime<Utc>> {
    let text = target
        .secrets
        .get(ACCESS_TOKEN_EXPIRES_AT)
        .or_else(|_| target.secrets.get(LEGACY_EXPIRES_AT))
        .ok()?;
    expiry::parse(text.expose())
}

fn margin(margin: Duration) -> chrono::Duration {
    // A margin past a century is a century: `now + margin` must not overflow.
    const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
    chrono::Duration::from_std(margin.min(CENTURY)).unwrap_or(chrono::Duration::zero())
}
