//! Secret sealing with XChaCha20-Poly1305 (RustCrypto), keys from configuration.
//!
//! Sealed text: `sb1:<key id>:<base64(24-byte nonce ‖ ciphertext)>`. The seal context (owner
//! and field name) is the associated data, so a ciphertext moved elsewhere does not open. Every
//! configured key opens; the first one seals, which is how a key is rotated in.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use switchboard_domain::{SealError, SealedSecret, SecretSealer, SecretString};

const PREFIX: &str = "sb1";
const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;

/// Why a keyring could not be read from configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// No key was configured.
    #[error("no secret key configured (SWITCHBOARD_SECRET_KEYS)")]
    Empty,
    /// An entry is not `id:base64-of-32-bytes`.
    #[error("secret key entry {0} is not 'id:base64(32 bytes)'")]
    Malformed(usize),
}

/// Seals with the first key of a keyring, opens with any of them.
pub struct XChaChaSealer {
    keys: Vec<(String, XChaCha20Poly1305)>,
}

impl XChaChaSealer {
    /// Parses `id:base64key[,id:base64key…]`; the first key seals.
    pub fn from_config(keys: &str) -> Result<Self, KeyringError> {
        let keys = keys
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(index, entry)| {
                let (id, key) = entry
                    .split_once(':')
                    .ok_or(KeyringError::Malformed(index))?;
                let bytes = BASE64
                    .decode(key)
                    .map_err(|_| KeyringError::Malformed(index))?;
                if id.is_empty() || id.contains(':') || bytes.len() != KEY_BYTES {
                    return Err(KeyringError::Malformed(index));
                }
                let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                    .map_err(|_| KeyringError::Malformed(index))?;
                Ok((id.to_owned(), cipher))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self { keys })
    }

    /// The id of the key that seals (the first configured).
    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// A new random key entry, `id:base64key`, for `switchboard keygen`.
    pub fn generate_entry(id: &str) -> String {
        let mut key = [0u8; KEY_BYTES];
        rand::thread_rng().fill_bytes(&mut key);
        format!("{id}:{}", BASE64.encode(key))
    }
}

/// `plaintext` encrypted under `cipher` with `context` as associated data, as
/// `base64(24-byte random nonce ‖ ciphertext)`: the body of every sealed text.
pub(crate) fn encrypt_framed(
    cipher: &XChaCha20Poly1305,
    plaintext: &SecretString,
    context: &str,
) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut nonce);
    let payload = Payload {
        msg: plaintext.expose().as_bytes(),
        aad: context.as_bytes(),
    };
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), payload)
        .map_err(|_| SealError::Corrupt)?;
    let mut blob = nonce.to_vec();
    blob.extend(ciphertext);
    Ok(BASE64.encode(blob))
}

/// The plaintext of a body [`encrypt_framed`] made under `cipher` for `context`.
pub(crate) fn decrypt_framed(
    cipher: &XChaCha20Poly1305,
    framed: &str,
    context: &str,
) -> Result<SecretString, SealError> {
    let blob = BASE64.decode(framed).map_err(|_| SealError::Corrupt)?;
    if blob.len() < NONCE_BYTES {
        return Err(SealError::Corrupt);
    }
    let (nonce, ciphertext) = blob.split_at(NONCE_BYTES);
    let plaintext = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| SealError::Corrupt)?;
    String::from_utf8(plaintext)
        .map(SecretString::new)
        .map_err(|_| SealError::Corrupt)
}

impl SecretSealer for XChaChaSealer {
    fn seal(&self, plaintext: &SecretString, context: &str) -> Result<SealedSecret, SealError> {
        let (id, cipher) = &self.keys[0];
        let body = encrypt_framed(cipher, plaintext, context)?;
        Ok(SealedSecret::from_sealed_text(format!(
            "{PREFIX}:{id}:{body}"
        )))
    }

    fn open(&self, sealed: &SealedSecret, context: &str) -> Result<SecretString, SealError> {
        let mut parts = sealed.as_str().splitn(3, ':');
        let (Some(PREFIX), Some(id), Some(blob)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Corrupt);
        };
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(key_id, _)| key_id == id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        decrypt_framed(cipher, blob, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> XChaChaSealer {
        XChaChaSealer::from_config(&XChaChaSealer::generate_entry("k1")).unwrap()
    }

    #[test]
    fn sealed_secrets_open_in_their_context_only() {
        let sealer = sealer();
        let sealed = sealer
            .seal(&SecretString::new("hunter2"), "int-1/password")
            .unwrap();
        assert!(!sealed.as_str().contains("hunter2"));
        assert!(sealed.as_str().starts_with("sb1:k1:"));
        assert_eq!(
            sealer.open(&sealed, "int-1/password").unwrap().expose(),
            "hunter2"
        );
        assert_eq!(
            sealer.open(&sealed, "int-2/password").unwrap_err(),
            SealError::Corrupt
        );
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let sealer = sealer();
        let secret = SecretString::new("same");
        assert_ne!(
            sealer.seal(&secret, "c").unwrap(),
            sealer.seal(&secret, "c").unwrap()
        );
    }

    #[test]
    fn tampered_or_foreign_ciphertexts_are_refused() {
        let sealer = sealer();
        let sealed = sealer.seal(&SecretString::new("x"), "c").unwrap();
        let mut text = sealed.as_str().to_owned();
        let last = text.pop().unwrap();
        text.push(if last == 'A' { 'B' } else { 'A' });
        assert!(sealer
            .open(&SealedSecret::from_sealed_text(text), "c")
            .is_err());
        let other = XChaChaSealer::from_config(&XChaChaSealer::generate_entry("k2")).unwrap();
        assert_eq!(
            other.open(&sealed, "c").unwrap_err(),
            SealError::UnknownKey("k1".into())
        );
    }

    #[test]
    fn rotated_keyrings_still_open_old_secrets() {
        let old_entry = XChaChaSealer::generate_entry("old");
        let old = XChaChaSealer::from_config(&old_entry).unwrap();
        let sealed = old.seal(&SecretString::new("x"), "c").unwrap();
        let rotated = XChaChaSealer::from_config(&format!(
            "{},{old_entry}",
            XChaChaSealer::generate_entry("new")
        ))
        .unwrap();
        assert_eq!(rotated.open(&sealed, "c").unwrap().expose(), "x");
        assert!(rotated
            .seal(&SecretString::new("x"), "c")
            .unwrap()
            .as_str()
            .starts_with("sb1:new:"));
    }

    #[test]
    fn malformed_keyrings_are_refused() {
        assert_eq!(
            XChaChaSealer::from_config("").err(),
            Some(KeyringError::Empty)
        );
        assert_eq!(
            XChaChaSealer::from_config("k1:c2hvcnQ=").err(),
            Some(KeyringError::Malformed(0))
        );
    }
}
