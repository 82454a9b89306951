//! The inbound half of the channel contract: a platform's handshake, signature check and
//! payload parser. Verification is a typestate: only [`RawWebhook::verify_with`] makes a
//! [`VerifiedWebhook`], and parsers accept nothing else, so an unverified body cannot be parsed.

use http::HeaderMap;
use std::collections::{BTreeMap, HashMap};
use subtle::ConstantTimeEq;
use switchboard_domain::message::InboundDraft;
use switchboard_domain::SecretString;

/// Body limit of a channel that does not declare its own.
pub const DEFAULT_WEBHOOK_BODY_BYTES: usize = 1024 * 1024;

/// Why a webhook was refused. Each maps to one HTTP status at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or wrong signature/token: 401.
    #[error("webhook signature missing or invalid: {0}")]
    Unauthorized(&'static str),
    /// A verification handshake with the wrong token: 403.
    #[error("verification handshake refused: {0}")]
    HandshakeRefused(&'static str),
    /// The channel has no handshake: 405.
    #[error("this channel has no verification handshake")]
    NoHandshake,
    /// The body is not what the platform sends: 400.
    #[error("webhook body is malformed: {0}")]
    Malformed(String),
    /// A secret the check needs is not configured: 503 (an operator must fix it; the platform retries).
    #[error("webhook secret '{0}' is not configured")]
    MissingSecret(&'static str),
}

/// The secrets a channel's checks may use: the integration's own (opened) auth fields, then
/// the platform's shared credentials.
#[derive(Default, Clone)]
pub struct WebhookSecrets {
    integration: BTreeMap<String, SecretString>,
    platform: BTreeMap<String, SecretString>,
}

impl WebhookSecrets {
    /// Secrets from an integration's opened auth fields and the platform's credentials.
    pub fn new(
        integration: BTreeMap<String, SecretString>,
        platform: BTreeMap<String, SecretString>,
    ) -> Self {
        Self {
            integration,
            platform,
        }
    }

    /// The integration's field `name`, else the platform credential `name`.
    pub fn get(&self, name: &'static str) -> Result<&SecretString, WebhookError> {
        self.integration
            .get(name)
            .or_else(|| self.platform.get(name))
            .ok_or(WebhookError::MissingSecret(name))
    }
}

/// A webhook as it arrived: headers and the raw body bytes, not yet trusted.
#[derive(Debug, Clone, Copy)]
pub struct RawWebhook<'a> {
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The raw body, exactly as received (signatures are over these bytes).
    pub body: &'a [u8],
}

/// A webhook whose signature checked out. Only [`RawWebhook::verify_with`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedWebhook<'a> {
    body: &'a [u8],
}

impl<'a> VerifiedWebhook<'a> {
    /// The verified raw body.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The verified body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, WebhookError> {
        serde_json::from_slice(self.body).map_err(|e| WebhookError::Malformed(e.to_string()))
    }
}

impl<'a> RawWebhook<'a> {
    /// The header `name` as text, when present and ASCII.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Runs `check` and, when it passes, vouches for the body.
    pub fn verify_with(
        self,
        check: impl FnOnce(&Self) -> Result<(), WebhookError>,
    ) -> Result<VerifiedWebhook<'a>, WebhookError> {
        check(&self)?;
        Ok(VerifiedWebhook { body: self.body })
    }
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Compares a lowercase/uppercase hex signature with the expected digest, in constant time.
pub fn hex_signature_matches(given_hex: &str, expected: &[u8]) -> bool {
    match hex::decode(given_hex.trim()) {
        Ok(given) => constant_time_eq(&given, expected),
        Err(_) => false,
    }
}

/// HMAC-SHA256 of `parts` (concatenated) under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The inbound contract every webhook channel implements.
pub trait WebhookChannel: Send + Sync {
    /// Largest body this platform sends.
    fn max_body_bytes(&self) -> usize {
        DEFAULT_WEBHOOK_BODY_BYTES
    }

    /// The header that carries the signature (or secret token), when the channel has one: a
    /// request without it is refused with 401 before its body is read.
    fn signature_header(&self) -> Option<&'static str> {
        None
    }

    /// Answers the platform's GET verification handshake with the text to echo.
    fn handshake(
        &self,
        _query: &HashMap<String, String>,
        _secrets: &WebhookSecrets,
    ) -> Result<String, WebhookError> {
        Err(WebhookError::NoHandshake)
    }

    /// Checks the signature over the raw body.
    fn verify<'a>(
        &self,
        raw: RawWebhook<'a>,
        secrets: &WebhookSecrets,
    ) -> Result<VerifiedWebhook<'a>, WebhookError>;

    /// Turns a verified body into one draft per item. A bad item becomes an `Unsupported`
    /// message (or is skipped when it has no id), never a reason to drop its siblings; only a
    /// body that is not the platform's envelope at all is `Malformed`.
    fn parse(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<InboundDraft>, WebhookError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_signatures_compare_by_value() {
        let digest = hmac_sha256(b"key", &[b"body"]);
        assert!(hex_signature_matches(&hex::encode(&digest), &digest));
        assert!(hex_signature_matches(&hex::encode_upper(&digest), &digest));
        assert!(!hex_signature_matches("zz", &digest));
        assert!(!hex_signature_matches(&hex::encode(&digest[1..]), &digest));
    }

    #[test]
    fn secrets_prefer_the_integration_over_the_platform() {
        let secrets = WebhookSecrets::new(
            [("token".to_owned(), SecretString::new("mine"))].into(),
            [
                ("token".to_owned(), SecretString::new("platform")),
                ("app_secret".to_owned(), SecretString::new("s")),
            ]
            .into(),
        );
        assert_eq!(secrets.get("token").unwrap().expose(), "mine");
        assert_eq!(secrets.get("app_secret").unwrap().expose(), "s");
        assert_eq!(
            secrets.get("nope").err(),
            Some(WebhookError::MissingSecret("nope"))
        );
    }
}
