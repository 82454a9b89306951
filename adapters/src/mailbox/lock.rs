//! Single ownership of a mailbox across processes: a PostgreSQL session-level advisory lock
//! per integration, held on a connection of its own for as long as the reader runs.
//!
//! As with the token refresher's locks, the connection is detached from the pool before the
//! lock is asked for and closed when the guard goes, so a dropped guard, a cancelled task or a
//! dead process releases it. Keys use the two-key form: `classid` names mailbox readers,
//! `objid` folds the integration id (two integrations sharing a fold only share a reader
//! slot: one of them waits for the other's process).
//!
//! [`MailboxLock::still_held`] asks the lock's session whether it is alive: a database that
//! restarted has ended every session, and with it the lock, so the reader must stop before
//! another process takes the mailbox over.

use crate::store::StoreError;
use sqlx::{Connection, PgConnection, PgPool};
use switchboard_domain::IntegrationId;

/// The first key of every mailbox-reader lock (`"MBOX"` in ASCII).
const MAILBOX_CLASS: i32 = 0x4D42_4F58;

/// Takes mailbox-reader locks on a pool.
#[derive(Debug, Clone)]
pub struct MailboxLocks {
    pool: PgPool,
}

impl MailboxLocks {
    /// Locks on `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The lock of `id` if no process holds it now.
    pub async fn try_lock(&self, id: IntegrationId) -> Result<Option<MailboxLock>, StoreError> {
        let mut connection = self.pool.acquire().await?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(MAILBOX_CLASS)
            .bind(object_key(id))
            .fetch_one(&mut connection)
            .await?;
        Ok(taken.then_some(MailboxLock { connection }))
    }
}

/// A held mailbox-reader lock; dropping it ends its session, which releases it.
pub struct MailboxLock {
    connection: PgConnection,
}

impl MailboxLock {
    /// Whether the lock's session still answers (and so still holds the lock).
    pub async fn still_held(&mut self) -> bool {
        self.connection.ping().await.is_ok()
    }

    /// Releases the lock by closing its session.
    pub async fn release(self) {
        let _ = self.connection.close().await;
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
