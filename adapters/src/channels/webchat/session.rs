//! Visitor sessions: the signed token a widget is given on first contact and presents on
//! every request and socket afterwards.
//!
//! A token names one integration and one visitor and expires ([`TOKEN_TTL`]). It is signed
//! (HMAC-SHA256) with a key of its own integration and of the day it was issued: keys are
//! derived from the service's session secret, the integration id and the key period
//! ([`KEY_ROTATION`]), so every replica derives the same keys without storing any, a key
//! signs for one period only, and a token of one integration never verifies for another.
//! A token is renewed (same visitor, current key, new expiry) whenever the widget asks for a
//! session with it, so an active visitor keeps one identity while keys rotate underneath.
//!
//! Nothing here logs or prints a key or a token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::IntegrationId;
use uuid::Uuid;

/// How long a token is accepted after it was issued.
pub const TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long one signing key is used before the next takes over.
pub const KEY_ROTATION: Duration = Duration::from_secs(24 * 3600);
/// The longest token accepted at all, in bytes (longer input is refused before any work).
pub const MAX_TOKEN_BYTES: usize = 512;

const VERSION: &str = "wc1";

/// A visitor of one integration's widget: the contact id of their conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VisitorId(Uuid);

impl VisitorId {
    /// A new, unguessable visitor.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// The visitor's id as the contact id of their conversation.
    pub fn contact_id(&self) -> String {
        format!("visitor-{}", self.0.simple())
    }
}

impl Default for VisitorId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for VisitorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.contact_id())
    }
}

/// A session whose token verified: whose it is and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorSession {
    /// The integration whose widget issued it.
    pub integration_id: IntegrationId,
    /// The visitor.
    pub visitor: VisitorId,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Why a token was refused. Deliberately vague towards the visitor: each is a plain 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a token of this format, or too long.
    #[error("the session token is malformed")]
    Malformed,
    /// The signature does not match (forged, another integration's, or a retired key).
    #[error("the session token is not valid for this widget")]
    BadSignature,
    /// Past its expiry.
    #[error("the session token has expired")]
    Expired,
}

/// Issues and verifies visitor tokens with the service's session secret.
#[derive(Clone)]
pub struct SessionKeys {
    secret: Arc<[u8]>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys([redacted])")
    }
}

impl SessionKeys {
    /// Keys derived from `secret` (the same on every replica).
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(b"switchboard webchat session secret");
        Self {
            secret: mac.finalize().into_bytes().to_vec().into(),
        }
    }

    /// A token for `visitor` of `integration_id`, issued at `now`.
    pub fn issue(
        &self,
        integration_id: IntegrationId,
        visitor: VisitorId,
        now: DateTime<Utc>,
    ) -> (String, VisitorSession) {
        let period = period_of(now);
        let expires_at = now + chrono::Duration::from_std(TOKEN_TTL).expect("small");
        let body = format!(
            "{}.{}.{}",
            integration_id.as_uuid().simple(),
            visitor.0.simple(),
            expires_at.timestamp()
        );
        let signature = self.sign(integration_id, period, &body);
        let token = format!("{VERSION}.{period}.{body}.{}", B64.encode(signature));
        let session = VisitorSession {
            integration_id,
            visitor,
            expires_at,
        };
        (token, session)
    }

    /// The session `token` stands for, if it was issued for `integration_id`, by a key still
    /// in use, and has not expired at `now`.
    pub fn verify(
        &self,
        integration_id: IntegrationId,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<VisitorSession, SessionError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(SessionError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(VERSION), Some(period), Some(integration), Some(visitor), Some(expiry)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SessionError::Malformed);
        };
        let signature = parts.next().ok_or(SessionError::Malformed)?;
        if parts.next().is_some() {
            return Err(SessionError::Malformed);
        }
        let period: i64 = period.parse().map_err(|_| SessionError::Malformed)?;
        let signature = B64.decode(signature).map_err(|_| SessionError::Malformed)?;
        let current = period_of(now);
        let oldest = current - periods_in(TOKEN_TTL);
        if period < oldest || period > current {
            return Err(SessionError::BadSignature);
        }
        let body = format!("{integration}.{visitor}.{expiry}");
        let mut mac = self.mac(integration_id, period);
        mac.update(body.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| SessionError::BadSignature)?;
        // Signed by this integration's key, so the fields are ours; still, they must agree.
        let named: Uuid = integration.parse().map_err(|_| SessionError::Malformed)?;
        if named != integration_id.as_uuid() {
            return Err(SessionError::BadSignature);
        }
        let visitor: Uuid = visitor.parse().map_err(|_| SessionError::Malformed)?;
        let expiry: i64 = expiry.parse().map_err(|_| SessionError::Malformed)?;
        let expires_at = DateTime::from_timestamp(expiry, 0).ok_or(SessionError::Malformed)?;
        if expires_at <= now {
            return Err(SessionError::Expired);
        }
        Ok(VisitorSession {
            integration_id,
            visitor: VisitorId(visitor),
            expires_at,
        })
    }

    fn mac(&self, integration_id: IntegrationId, period: i64) -> Hmac<Sha256> {
        let mut derive = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        derive.update(format!("{integration_id}\u{1f}{period}").as_bytes());
        let key = derive.finalize().into_bytes();
        Hmac::<Sha256>::new_from_slice(&key).expect("any key length")
    }

    fn sign(&self, integration_id: IntegrationId, period: i64, body: &str) -> Vec<u8> {
        let mut mac = self.mac(integration_id, period);
        mac.update(body.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

fn periods_in(duration: Duration) -> i64 {
    (duration.as_secs() / KEY_ROTATION.as_secs()) as i64
}

fn period_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(KEY_ROTATION.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::new(b"test secret")
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn an_issued_token_verifies_for_its_integration_only() {
        let integration = IntegrationId::new();
        let (token, issued) = keys().issue(integration, VisitorId::new(), now());
        assert_eq!(keys().verify(integration, &token, now()), Ok(issued));
        assert_eq!(
            keys().verify(IntegrationId::new(), &token, now()),
            Err(SessionError::BadSignature)
        );
        assert_eq!(
            SessionKeys::new(b"other").verify(integration, &token, now()),
            Err(SessionError::BadSignature)
        );
    }

    #[test]
    fn a_token_with_another_visitor_does_not_verify() {
        let integration = IntegrationId::new();
        let (token, _) = keys().issue(integration, VisitorId::new(), now());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[3] = VisitorId::new().0.simple().to_string();
        let forged = parts.join(".");
        assert_eq!(
            keys().verify(integration, &forged, now()),
            Err(SessionError::BadSignature)
        );
    }

    #[test]
    fn tokens_expire_and_keys_retire() {
        let integration = IntegrationId::new();
        let (token, _) = keys().issue(integration, VisitorId::new(), now());
        let later = now() + chrono::Duration::from_std(TOKEN_TTL).unwrap();
        assert!(keys().verify(integration, &token, later).is_err());
        let day = now() + chrono::Duration::days(1);
        assert!(keys().verify(integration, &token, day).is_ok());
        let (renewed, _) = keys().issue(integration, VisitorId::new(), day);
        let period = |t: &str| t.split('.').nth(1).unwrap().to_owned();
        assert_ne!(
            period(&token),
            period(&renewed),
            "a new day signs with a new key"
        );
    }

    #[test]
    fn garbage_is_malformed_and_debug_hides_the_secret() {
        let integration = IntegrationId::new();
        for bad in ["", "wc1", "wc1.x.y.z.w.v", &"a".repeat(600)] {
            assert!(keys().verify(integration, bad, now()).is_err());
        }
        assert_eq!(format!("{:?}", keys()), "SessionKeys([redacted])");
    }
}
