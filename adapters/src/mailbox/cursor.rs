//! How far a mailbox reader has read each folder (`mailbox_cursors`): the folder's
//! UIDVALIDITY and the highest UID whose event the broker acknowledged.
//!
//! # Guarantees
//! [`MailboxCursors::advance`] is called only after the broker's ack of the mail at that UID,
//! and never moves a cursor back within one UIDVALIDITY: a crash between the ack and the
//! write re-reads that mail, whose event id repeats (at-least-once, duplicates named).

use crate::store::StoreError;
use sqlx::PgPool;
use switchboard_domain::IntegrationId;

/// A folder's stored position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The folder's UIDVALIDITY when it was read.
    pub uid_validity: u32,
    /// The highest UID read and acknowledged.
    pub last_uid: u32,
}

impl Cursor {
    /// The last UID already read when the folder now has `uid_validity`: a renumbered folder
    /// starts again from the beginning.
    pub fn resume_after(cursor: Option<Self>, uid_validity: u32) -> u32 {
        match cursor {
            Some(c) if c.uid_validity == uid_validity => c.last_uid,
            _ => 0,
        }
    }
}

/// The cursors, in PostgreSQL.
#[derive(Debug, Clone)]
pub struct MailboxCursors {
    pool: PgPool,
}

impl MailboxCursors {
    /// Cursors stored on `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The stored position of `folder` of `integration`.
    pub async fn load(
        &self,
        integration: IntegrationId,
        folder: &str,
    ) -> Result<Option<Cursor>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT uid_validity, last_uid FROM mailbox_cursors
              WHERE integration_id = $1 AND folder = $2",
        )
        .bind(integration.to_string())
        .bind(folder)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(validity, uid)| Cursor {
            uid_validity: validity as u32,
            last_uid: uid as u32,
        }))
    }

    /// Records that every mail of `folder` up to `cursor.last_uid` is acknowledged: a new
    /// UIDVALIDITY replaces the old position, the same one only moves forward.
    pub async fn advance(
        &self,
        integration: IntegrationId,
        folder: &str,
        cursor: Cursor,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mailbox_cursors (integration_id, folder, uid_validity, last_uid)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (integration_id, folder) DO UPDATE
                SET uid_validity = EXCLUDED.uid_validity,
                    last_uid = CASE WHEN mailbox_cursors.uid_validity = EXCLUDED.uid_validity
                                    THEN GREATEST(mailbox_cursors.last_uid, EXCLUDED.last_uid)
                                    ELSE EXCLUDED.last_uid END,
                    updated_at = now()",
        )
        .bind(integration.to_string())
        .bind(folder)
        .bind(i64::from(cursor.uid_validity))
        .bind(i64::from(cursor.last_uid))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renumbered_folder_is_read_again_from_its_start() {
        let stored = Some(Cursor {
            uid_validity: 5,
            last_uid: 40,
        });
        assert_eq!(Cursor::resume_after(stored, 5), 40);
        assert_eq!(Cursor::resume_after(stored, 6), 0);
        assert_eq!(Cursor::resume_after(None, 5), 0);
    }
}
