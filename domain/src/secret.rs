//! Secrets: a plaintext wrapper that never prints itself, and the sealed (encrypted) form that
//! is the only form allowed into events, tables and topics.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A plaintext secret (token, password, app secret). `Debug` and `Display` print `[redacted]`;
/// the value is reachable only through [`SecretString::expose`], so every use is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a plaintext value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plaintext. Call only where the value leaves for its one legitimate destination.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Secrets may be read from configuration and requests, but never written out by serde.
impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A secret encrypted with an AEAD key, in a text form naming how it opens: `sb2:<base64
/// nonce+ciphertext>` under its owner's data key (the owner is the seal context's), or
/// `sb1:<key id>:<base64 nonce+ciphertext>` under a configured key (so keys can rotate).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(String);

impl SealedSecret {
    /// Wraps an already sealed text (as read back from storage).
    pub fn from_sealed_text(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The sealed text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSecret(..)")
    }
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The sealed text names a key this process does not hold (for a data key: its owner's,
    /// not held at the moment or destroyed).
    #[error("no key with id {0}")]
    UnknownKey(String),
    /// The ciphertext is malformed, was tampered with, or is bound to another context.
    #[error("sealed secret is corrupt or belongs to another context")]
    Corrupt,
}

/// Encrypts and decrypts secrets. `context` is bound as associated data, so a ciphertext
/// copied to another integration or field does not open there.
pub trait SecretSealer: Send + Sync {
    /// Encrypts `plaintext` for `context`.
    fn seal(&self, plaintext: &SecretString, context: &str) -> Result<SealedSecret, SealError>;
    /// Decrypts a sealed secret that was sealed for `context`.
    fn open(&self, sealed: &SealedSecret, context: &str) -> Result<SecretString, SealError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let secret = SecretString::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        let sealed = SealedSecret::from_sealed_text("sb1:k:abc");
        assert!(!format!("{sealed:?}").contains("abc"));
    }
}
