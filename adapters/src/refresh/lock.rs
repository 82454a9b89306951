//! The cross-process lock that makes a token refresh single-flight per integration: a
//! PostgreSQL session-level advisory lock, held on a connection of its own.
//!
//! An advisory lock belongs to the session (connection) that took it, and a pool hands
//! connections to whoever asks: so the connection is detached from the pool before the lock
//! is asked for, and closed afterwards, never returned. A guard dropped without
//! [`RefreshLock::release`] (a cancelled task, a panic), or a lock request cancelled midway,
//! drops its connection, which ends the session and with it the lock; a process that dies
//! loses its connections the same way.
//!
//! A held lock keeps a connection out of the pool while its holder needs others (to read and
//! command the integration), so one set of locks holds at most [`MAX_HELD`] at once, and never
//! more than half the pool: many integrations failing together cannot take every connection
//! and wait on each other. The cap is the set's, shared by its clones: a process takes all its
//! locks (the refresher's and the send path's) from one set, its integration store's
//! ([`crate::store::IntegrationStore::refresh_locks`]), so the cap holds for the process.
//!
//! Keys use PostgreSQL's two-key form (`classid`, `objid`), a key space apart from the
//! one-key locks others may take (migrations): `classid` names token refreshes, `objid` is a
//! hash of the integration id. Two integrations sharing a hash only serialize their refreshes.

use crate::store::StoreError;
use sqlx::PgPool;
use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::IntegrationId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How many locks one [`RefreshLocks`] and its clones hold at once (each holds a pooled
/// connection), and never more than half the pool.
pub const MAX_HELD: usize = 4;

/// The first key of every token-refresh lock (`"TOKR"` in ASCII).
const REFRESH_CLASS: i32 = 0x544F_4B52;
/// How often a waiting [`RefreshLocks::lock`] tries again.
const POLL: Duration = Duration::from_millis(50);

/// Takes token-refresh locks on a pool.
#[derive(Clone)]
pub struct RefreshLocks {
    pool: PgPool,
    wait: Duration,
    held: Arc<Semaphore>,
}

impl RefreshLocks {
    /// Locks on `pool`; [`Self::lock`] waits up to 30 s.
    pub fn new(pool: PgPool) -> Self {
        let half_the_pool = pool.options().get_max_connections() as usize / 2;
        Self {
            pool,
            wait: Duration::from_secs(30),
            held: Arc::new(Semaphore::new(half_the_pool.clamp(1, MAX_HELD))),
        }
    }

    /// The lock of `id` if nobody holds it now, else `None` (waiting only while this set
    /// already holds [`MAX_HELD`] locks).
    pub async fn try_lock(&self, id: IntegrationId) -> Result<Option<RefreshLock>, StoreError> {
        let slot = self
            .held
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("refresh locks closed".into()))?;
        // Out of the pool before the lock is asked for: if anything below is cancelled, the
        // connection is dropped and closed (releasing whatever it took), never handed to
        // another borrower still locked.
        let mut connection = self.pool.acquire().await?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(REFRESH_CLASS)
            .bind(object_key(id))
            .fetch_one(&mut connection)
            .await?;
        Ok(taken.then(|| RefreshLock {
            connection: Some(connection),
            id,
            _slot: slot,
        }))
    }

    /// The lock of `id`, waiting while another holds it (without holding a connection);
    /// [`StoreError::Unavailable`] when it stays held past the wait, so callers that retry
    /// unavailable stores simply wait longer.
    pub async fn lock(&self, id: IntegrationId) -> Result<RefreshLock, StoreError> {
        let deadline = Instant::now() + self.wait;
        loop {
            if let Some(lock) = self.try_lock(id).await? {
                return Ok(lock);
            }
            if Instant::now() >= deadline {
                return Err(StoreError::Unavailable(
                    "the token refresh lock stayed held by another process".into(),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A held token-refresh lock of one integration.
pub struct RefreshLock {
    connection: Option<PgConnection>,
    id: IntegrationId,
    _slot: OwnedSemaphorePermit,
}

impl RefreshLock {
    /// Releases the lock and closes its connection (closing releases it too, should the
    /// unlock fail).
    pub async fn release(mut self) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        let released = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1, $2)")
            .bind(REFRESH_CLASS)
            .bind(object_key(self.id))
            .fetch_one(&mut connection)
            .await;
        if !matches!(released, Ok(true)) {
            tracing::warn!(integration_id = %self.id, "token refresh lock not confirmed released; closing its connection");
        }
        let _ = connection.close().await;
    }
}

impl Drop for RefreshLock {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            // Not released on purpose: ending the session (dropping it) is the release left.
            drop(connection);
        }
    }
}

/// The second key: the integration id folded to 32 bits.
fn object_key(id: IntegrationId) -> i32 {
    let bytes = id.as_uuid().into_bytes();
    let folded = bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .fold(0u32, |acc, word| acc ^ word);
    i32::from_ne_bytes(folded.to_ne_bytes())
}
