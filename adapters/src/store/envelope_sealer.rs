//! Envelope encryption: every owner's secrets are sealed with the owner's own data key (module
//! `data_keys`), itself wrapped by the configured key-encryption keyring, so destroying one
//! row shreds every copy of the owner's secrets in events, outbox rows and topic records.
//!
//! Sealed text: `sb2:<base64(24-byte nonce ‖ ciphertext)>`, XChaCha20-Poly1305 under the data key
//! of the owner named by the seal context (`{owner}/{field}`, which is also the associated
//! data). `sb1:` texts (sealed with the keyring itself, before data keys existed) still open.
//!
//! # Holding keys
//! [`SecretSealer`] is synchronous (the aggregate seals inside `decide`), the keys are in the
//! database: an async caller first takes a [`KeyHold`] for the owner
//! ([`EnvelopeSealer::hold_for_sealing`] or [`EnvelopeSealer::hold_for_opening`]), which reads
//! the key from the table, then seals or opens, then drops the hold. A key is kept in memory
//! only while a hold on it lives, and every hold reads the table again, so a key another
//! process destroyed is never used by a later hold. Sealing or opening an `sb2:` text without
//! a hold fails with [`SealError::UnknownKey`] naming the owner.

use super::data_keys::{DataKey, DataKeyError, DataKeys, KeyState};
use super::sealer::{decrypt_framed, encrypt_framed, XChaChaSealer};
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::XChaCha20Poly1305;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use switchboard_domain::{SealError, SealedSecret, SecretSealer, SecretString};

const PREFIX: &str = "sb2:";
const LEGACY_PREFIX: &str = "sb1:";

struct Held {
    cipher: Arc<XChaCha20Poly1305>,
    holds: usize,
    /// Which caching of the key this is: a hold taken before [`EnvelopeSealer::forget`] does
    /// not release a later one.
    generation: u64,
}

/// Seals with per-owner data keys; opens those and the keyring's own `sb1:` texts.
pub struct EnvelopeSealer {
    keys: DataKeys,
    held: Mutex<HashMap<String, Held>>,
    generations: AtomicU64,
}

/// An owner's data key kept in memory for as long as this lives (see the module docs).
#[must_use = "the key is forgotten when the hold is dropped"]
pub struct KeyHold {
    sealer: Arc<EnvelopeSealer>,
    /// The owner and the generation of its cached key; `None` when there was no live key.
    owner: Option<(String, u64)>,
}

impl KeyHold {
    /// Whether the owner had a live key (otherwise only `sb1:` texts open, nothing seals).
    pub fn is_live(&self) -> bool {
        self.owner.is_some()
    }
}

impl Drop for KeyHold {
    fn drop(&mut self) {
        if let Some((owner, generation)) = self.owner.take() {
            let mut held = self.sealer.held();
            if let Some(entry) = held.get_mut(&owner).filter(|e| e.generation == generation) {
                entry.holds -= 1;
                if entry.holds == 0 {
                    held.remove(&owner);
                }
            }
        }
    }
}

impl EnvelopeSealer {
    /// Data keys in `pool`'s `data_keys` table, wrapped by `kek`.
    pub fn new(pool: PgPool, kek: XChaChaSealer) -> Arc<Self> {
        Arc::new(Self {
            keys: DataKeys::new(pool, Arc::new(kek)),
            held: Mutex::default(),
            generations: AtomicU64::new(0),
        })
    }

    /// The data key table.
    pub fn data_keys(&self) -> &DataKeys {
        &self.keys
    }

    /// Holds the owner's key for sealing, making it first if the owner has none. A destroyed
    /// owner's hold is not live, and sealing for it fails.
    pub async fn hold_for_sealing(self: &Arc<Self>, owner: &str) -> Result<KeyHold, DataKeyError> {
        let state = self.keys.load_or_create(owner).await?;
        Ok(self.hold(owner, state))
    }

    /// Holds the owner's key for opening; never makes one.
    pub async fn hold_for_opening(self: &Arc<Self>, owner: &str) -> Result<KeyHold, DataKeyError> {
        let state = self.keys.load(owner).await?;
        Ok(self.hold(owner, state))
    }

    /// Destroys the owner's key in the table and in this process: nothing sealed for it opens
    /// again, with any keyring. (An integration's key is destroyed by the transaction that
    /// records its deletion; this is for other owners, and idempotent.)
    pub async fn destroy(&self, owner: &str) -> Result<(), DataKeyError> {
        self.keys.destroy(owner).await?;
        self.forget(owner);
        Ok(())
    }

    /// Drops the owner's key from this process's memory at once, even while held (it was
    /// destroyed): holds still alive seal and open nothing more for it.
    pub fn forget(&self, owner: &str) {
        self.held().remove(owner);
    }

    fn hold(self: &Arc<Self>, owner: &str, state: KeyState) -> KeyHold {
        let owner = match state {
            KeyState::Live(key) => {
                let mut held = self.held();
                let entry = held.entry(owner.to_owned()).or_insert_with(|| Held {
                    cipher: Arc::new(cipher(&key)),
                    holds: 0,
                    generation: self.generations.fetch_add(1, Ordering::Relaxed),
                });
                entry.holds += 1;
                Some((owner.to_owned(), entry.generation))
            }
            KeyState::Destroyed => {
                // Destroyed by another process since this one held it.
                self.forget(owner);
                None
            }
            KeyState::Absent => None,
        };
        KeyHold {
            sealer: self.clone(),
            owner,
        }
    }

    fn held(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cipher_for(&self, context: &str) -> Result<Arc<XChaCha20Poly1305>, SealError> {
        let owner = owner_of(context)?;
        self.held()
            .get(owner)
            .map(|entry| entry.cipher.clone())
            .ok_or_else(|| SealError::UnknownKey(owner.to_owned()))
    }
}

impl SecretSealer for EnvelopeSealer {
    fn seal(&self, plaintext: &SecretString, context: &str) -> Result<SealedSecret, SealError> {
        let cipher = self.cipher_for(context)?;
        let body = encrypt_framed(&cipher, plaintext, context)?;
        Ok(SealedSecret::from_sealed_text(format!("{PREFIX}{body}")))
    }

    fn open(&self, sealed: &SealedSecret, context: &str) -> Result<SecretString, SealError> {
        let text = sealed.as_str();
        if text.starts_with(LEGACY_PREFIX) {
            return self.keys.kek().open(sealed, context);
        }
        let body = text.strip_prefix(PREFIX).ok_or(SealError::Corrupt)?;
        let cipher = self.cipher_for(context)?;
        decrypt_framed(&cipher, body, context)
    }
}

/// The owner part of a seal context `{owner}/{field}` (owners contain no `/`).
fn owner_of(context: &str) -> Result<&str, SealError> {
    match context.split_once('/') {
        Some((owner, _)) if !owner.is_empty() => Ok(owner),
        _ => Err(SealError::Corrupt),
    }
}

fn cipher(key: &DataKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new((&key.0).into())
}

#[cfg(test)]
mod tests;
