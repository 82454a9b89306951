//! The per-owner data keys of envelope encryption, in the table `data_keys` (migration 0007):
//! made on first need, stored only wrapped (sealed) by the key-encryption keyring, destroyed
//! to shred an owner's secrets, and re-wrapped when the keyring's sealing key changes.
//!
//! A destroyed key leaves a tombstone row, so an owner never gets a second key: whatever was
//! sealed for it stays unreadable and nothing new can be sealed for it.

use super::sealer::XChaChaSealer;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::RngCore;
use sqlx::PgPool;
use std::sync::Arc;
use switchboard_domain::{SealError, SealedSecret, SecretSealer, SecretString};

/// Length of a data key (XChaCha20-Poly1305).
pub const DATA_KEY_BYTES: usize = 32;

/// A plaintext data key, held in memory only while it is in use.
pub struct DataKey(pub(crate) [u8; DATA_KEY_BYTES]);

impl DataKey {
    fn random() -> Self {
        let mut key = [0u8; DATA_KEY_BYTES];
        rand::thread_rng().fill_bytes(&mut key);
        Self(key)
    }
}

/// What the table holds for an owner.
pub enum KeyState {
    /// A live key, unwrapped.
    Live(DataKey),
    /// The key was destroyed: the owner's `sb2:` secrets can no longer be opened.
    Destroyed,
    /// No key was ever made (the owner has no `sb2:` secrets).
    Absent,
}

/// Why a data key could not be read, made or re-wrapped.
#[derive(Debug, thiserror::Error)]
pub enum DataKeyError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The wrapped key does not open with the configured keyring (its key-encryption key was
    /// removed before `switchboard secrets rewrap` ran, or the row was tampered with).
    #[error("the data key of {owner} does not open with the configured secret keys: {error}")]
    Unwrap {
        /// The key's owner.
        owner: String,
        /// Why.
        error: SealError,
    },
}

/// What `switchboard secrets rewrap` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewrapReport {
    /// Keys now wrapped by the current sealing key that were wrapped by another.
    pub rewrapped: u64,
    /// Keys that were wrapped by the current sealing key already.
    pub current: u64,
    /// Destroyed keys (tombstones), left as they are.
    pub destroyed: u64,
}

/// The `data_keys` table, with the keyring that wraps its keys.
#[derive(Clone)]
pub struct DataKeys {
    pool: PgPool,
    kek: Arc<XChaChaSealer>,
}

impl DataKeys {
    /// The table on `pool`, keys wrapped by `kek` (its first key wraps, any of them unwraps).
    pub fn new(pool: PgPool, kek: Arc<XChaChaSealer>) -> Self {
        Self { pool, kek }
    }

    /// The key-encryption keyring.
    pub fn kek(&self) -> &XChaChaSealer {
        &self.kek
    }

    /// The owner's key as stored now; never makes one.
    pub async fn load(&self, owner: &str) -> Result<KeyState, DataKeyError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT wrapped_key FROM data_keys WHERE owner = $1")
                .bind(owner)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            None => Ok(KeyState::Absent),
            Some((None,)) => Ok(KeyState::Destroyed),
            Some((Some(wrapped),)) => Ok(KeyState::Live(self.unwrap_key(owner, &wrapped)?)),
        }
    }

    /// The owner's key, made first if it has none. Concurrent callers (in any process) agree
    /// on one key: the first insert wins and everyone reads the winner's. Never
    /// [`KeyState::Absent`].
    pub async fn load_or_create(&self, owner: &str) -> Result<KeyState, DataKeyError> {
        match self.load(owner).await? {
            KeyState::Absent => {}
            state => return Ok(state),
        }
        let wrapped = self.wrap_key(owner, &DataKey::random())?;
        sqlx::query(
            "INSERT INTO data_keys (owner, wrapped_key, kek_id) VALUES ($1, $2, $3)
             ON CONFLICT (owner) DO NOTHING",
        )
        .bind(owner)
        .bind(wrapped.as_str())
        .bind(self.kek.sealing_key_id())
        .execute(&self.pool)
        .await?;
        match self.load(owner).await? {
            KeyState::Absent => Err(DataKeyError::Database(sqlx::Error::RowNotFound)),
            state => Ok(state),
        }
    }

    /// Destroys the owner's key (or records that it may never have one): its sealed secrets
    /// become unreadable for good, with any keyring.
    pub async fn destroy(&self, owner: &str) -> Result<(), DataKeyError> {
        sqlx::query(
            "INSERT INTO data_keys (owner, destroyed_at) VALUES ($1, now())
             ON CONFLICT (owner) DO UPDATE
                 SET wrapped_key = NULL, kek_id = NULL,
                     destroyed_at = COALESCE(data_keys.destroyed_at, now())",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Re-wraps every live key not wrapped by the keyring's sealing key with it. Events and
    /// other sealed texts are not touched: they name their owner's data key, not the keyring's.
    /// Stops at the first key that does not unwrap (its keyring key is missing).
    pub async fn rewrap(&self) -> Result<RewrapReport, DataKeyError> {
        let current = self.kek.sealing_key_id();
        let rows: Vec<(String, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT owner, wrapped_key, kek_id FROM data_keys ORDER BY owner")
                .fetch_all(&self.pool)
                .await?;
        let mut report = RewrapReport::default();
        for (owner, wrapped, kek_id) in rows {
            let Some(wrapped) = wrapped else {
                report.destroyed += 1;
                continue;
            };
            if kek_id.as_deref() == Some(current) {
                report.current += 1;
                continue;
            }
            let key = self.unwrap_key(&owner, &wrapped)?;
            let rewrapped = self.wrap_key(&owner, &key)?;
            let updated = sqlx::query(
                "UPDATE data_keys SET wrapped_key = $3, kek_id = $4, rewrapped_at = now()
                  WHERE owner = $1 AND wrapped_key = $2",
            )
            .bind(&owner)
            .bind(&wrapped)
            .bind(rewrapped.as_str())
            .bind(current)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if updated == 1 {
                report.rewrapped += 1;
            } else {
                // Destroyed (or re-wrapped by a concurrent run) since it was read.
                report.destroyed += 1;
            }
        }
        Ok(report)
    }

    fn wrap_key(&self, owner: &str, key: &DataKey) -> Result<SealedSecret, DataKeyError> {
        self.kek
            .seal(
                &SecretString::new(BASE64.encode(key.0)),
                &wrap_context(owner),
            )
            .map_err(|error| DataKeyError::Unwrap {
                owner: owner.to_owned(),
                error,
            })
    }

    fn unwrap_key(&self, owner: &str, wrapped: &str) -> Result<DataKey, DataKeyError> {
        let failed = |error| DataKeyError::Unwrap {
            owner: owner.to_owned(),
            error,
        };
        let opened = self
            .kek
            .open(
                &SealedSecret::from_sealed_text(wrapped),
                &wrap_context(owner),
            )
            .map_err(failed)?;
        let bytes = BASE64
            .decode(opened.expose())
            .map_err(|_| failed(SealError::Corrupt))?;
        let key: [u8; DATA_KEY_BYTES] = bytes.try_into().map_err(|_| failed(SealError::Corrupt))?;
        Ok(DataKey(key))
    }
}

/// The associated data of a wrapped key: a wrapped key copied to another owner's row does
/// not open there. The NUL separator never occurs in a secret's seal context.
fn wrap_context(owner: &str) -> String {
    format!("data-key\u{0}{owner}")
}
