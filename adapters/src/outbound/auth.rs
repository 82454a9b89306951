//! What happens when a platform refuses an integration's credentials: one token refresh,
//! single-flight per integration, and when that is impossible or fails, the `Disconnect`
//! command, so the settings page shows the integration needs reconnecting.
//!
//! Many conversations of one integration fail at once when its token expires. Only the first
//! to arrive refreshes; the others wait for it, then see the integration's newer version and
//! retry with the new credentials (or see it disconnected and fail), instead of each spending
//! a single-use refresh token. Across processes the same holds through the integration's
//! token refresh lock ([`crate::refresh::RefreshLocks`]), which the background refresher takes
//! too: whoever holds it refreshes, the others find the newer version once it is released.

use crate::channels::sender::{ChannelSender, SendError, SendTarget};
use crate::outbound::retry::Backoff;
use crate::outbound::targets::{SendTargets, TargetLookup};
use crate::store::StoreError;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use switchboard_domain::IntegrationId;

/// How an auth failure was dealt with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// New credentials are stored (by us or by whoever went first): send again.
    Renewed,
    /// The integration is disconnected (now or already): the message fails with `auth`.
    Disconnected,
    /// The refresh failed for a reason that may pass (the platform's token endpoint is down):
    /// the integration stays connected and the send is retried like any temporary failure.
    Later(SendError),
}

/// Single-flight credential recovery, per integration.
pub struct AuthRecovery {
    targets: Arc<dyn SendTargets>,
    flights: Mutex<HashMap<IntegrationId, Arc<tokio::sync::Mutex<()>>>>,
}

impl AuthRecovery {
    /// Recovery that reads and commands integrations through `targets`.
    pub fn new(targets: Arc<dyn SendTargets>) -> Self {
        Self {
            targets,
            flights: Mutex::default(),
        }
    }

    /// Deals with `failed`'s credentials being refused (`cause` is the platform's words): tries
    /// one refresh through `sender`, else disconnects.
    pub async fn recover(
        &self,
        failed: &SendTarget,
        sender: &dyn ChannelSender,
        cause: &str,
    ) -> Recovery {
        let id = failed.integration_id;
        let flight = self.flight(id);
        let recovery = {
            let _turn = flight.lock().await;
            match persist(|| self.targets.refresh_lock(id)).await {
                Ok(lock) => {
                    let recovery = self.recover_alone(failed, sender, cause).await;
                    if let Some(lock) = lock {
                        lock.release().await;
                    }
                    recovery
                }
                // Without the cross-process lock another process may be spending the same
                // single-use refresh token: try again later rather than race it.
                Err(error) => {
                    tracing::warn!(integration_id = %id, %error, "token refresh lock unavailable; the send waits");
                    Recovery::Later(SendError::retryable(
                        "the token refresh lock is unavailable",
                    ))
                }
            }
        };
        self.land(id, flight);
        recovery
    }

    /// Disconnects without trying a refresh (a refreshed token was refused too).
    pub async fn give_up(&self, id: IntegrationId, cause: &str) -> Recovery {
        let flight = self.flight(id);
        {
            let _turn = flight.lock().await;
            self.disconnect(id, cause).await;
        }
        self.land(id, flight);
        Recovery::Disconnected
    }

    async fn recover_alone(
        &self,
        failed: &SendTarget,
        sender: &dyn ChannelSender,
        cause: &str,
    ) -> Recovery {
        let id = failed.integration_id;
        let current = match persist(|| self.targets.lookup(id)).await {
            Ok(TargetLookup::Ready(current)) => current,
            Ok(_) | Err(_) => return Recovery::Disconnected,
        };
        if current.version > failed.version {
            return Recovery::Renewed;
        }
        match sender.refresh_credentials(&current).await {
            Ok(Some(auth)) => {
                match persist(|| self.targets.store_credentials(id, auth.clone())).await {
                    Ok(()) => {
                        tracing::info!(integration_id = %id, "credentials refreshed after an auth failure");
                        Recovery::Renewed
                    }
                    Err(error) => {
                        let reason =
                            format!("{cause}; storing refreshed credentials failed: {error}");
                        self.disconnect(id, &reason).await;
                        Recovery::Disconnected
                    }
                }
            }
            Ok(None) => {
                self.disconnect(id, cause).await;
                Recovery::Disconnected
            }
            Err(SendError::AppRefused(detail)) => {
                crate::refresh::app_refusal::record(None, &current.channel, &detail).await;
                Recovery::Later(SendError::AppRefused(detail))
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(integration_id = %id, %error, "token refresh failed for now; the send will be retried");
                Recovery::Later(error)
            }
            Err(error) => {
                self.disconnect(id, &format!("{cause}; token refresh failed: {error}"))
                    .await;
                Recovery::Disconnected
            }
        }
    }

    async fn disconnect(&self, id: IntegrationId, cause: &str) {
        let reason = format!("credentials refused while sending: {cause}");
        match persist(|| self.targets.disconnect(id, reason.clone())).await {
            Ok(()) => {
                tracing::warn!(integration_id = %id, "integration disconnected after an auth failure")
            }
            Err(error) => {
                tracing::warn!(integration_id = %id, %error, "integration could not be disconnected")
            }
        }
    }

    fn flight(&self, id: IntegrationId) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.entry(id).or_default().clone()
    }

    /// Forgets the flight of `id` once nobody else waits on it.
    fn land(&self, id: IntegrationId, flight: Arc<tokio::sync::Mutex<()>>) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        drop(flight);
        if flights.get(&id).is_some_and(|f| Arc::strong_count(f) == 1) {
            flights.remove(&id);
        }
    }
}

/// Runs a store call until it succeeds or fails for a reason waiting cannot fix.
pub(crate) async fn persist<T, F, Fut>(mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut backoff = Backoff::default();
    loop {
        match call().await {
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, "integration store unavailable, retrying");
                backoff.wait().await;
            }
            outcome => return outcome,
        }
    }
}
