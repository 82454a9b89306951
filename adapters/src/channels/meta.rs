//! What Messenger and WhatsApp share, being Meta webhooks: the `hub.challenge` verification
//! handshake and the `X-Hub-Signature-256` HMAC-SHA256 (app secret) over the raw body.

use crate::channels::webhook::{
    hex_signature_matches, hmac_sha256, RawWebhook, VerifiedWebhook, WebhookError, WebhookSecrets,
};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Platform credential: the Meta app secret that signs webhooks.
pub const APP_SECRET: &str = "app_secret";
/// Platform credential: the token we registered with the webhook subscription.
pub const VERIFY_TOKEN: &str = "verify_token";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Answers `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` with the challenge.
pub fn handshake(
    query: &HashMap<String, String>,
    secrets: &WebhookSecrets,
) -> Result<String, WebhookError> {
    let expected = secrets.get(VERIFY_TOKEN)?;
    if query.get("hub.mode").map(String::as_str) != Some("subscribe") {
        return Err(WebhookError::HandshakeRefused(
            "hub.mode must be 'subscribe'",
        ));
    }
    let token = query
        .get("hub.verify_token")
        .map(String::as_str)
        .unwrap_or_default();
    if !crate::channels::webhook::constant_time_eq(token.as_bytes(), expected.expose().as_bytes()) {
        return Err(WebhookError::HandshakeRefused(
            "hub.verify_token does not match",
        ));
    }
    query
        .get("hub.challenge")
        .cloned()
        .ok_or(WebhookError::HandshakeRefused("hub.challenge is missing"))
}

/// Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.
pub fn verify<'a>(
    raw: RawWebhook<'a>,
    secrets: &WebhookSecrets,
) -> Result<VerifiedWebhook<'a>, WebhookError> {
    let secret = secrets.get(APP_SECRET)?;
    raw.verify_with(|raw| {
        let header = raw
            .header(SIGNATURE_HEADER)
            .ok_or(WebhookError::Unauthorized("X-Hub-Signature-256 is missing"))?;
        let given = header
            .strip_prefix("sha256=")
            .ok_or(WebhookError::Unauthorized(
                "X-Hub-Signature-256 must start with sha256=",
            ))?;
        let expected = hmac_sha256(secret.expose().as_bytes(), &[raw.body]);
        if hex_signature_matches(given, &expected) {
            Ok(())
        } else {
            Err(WebhookError::Unauthorized(
                "X-Hub-Signature-256 does not match the body",
            ))
        }
    })
}

/// A Meta timestamp: milliseconds (Messenger) or seconds (WhatsApp, as a string or number).
pub fn timestamp(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    let number = value.as_i64().or_else(|| value.as_str()?.parse().ok())?;
    if number > 100_000_000_000 {
        DateTime::from_timestamp_millis(number)
    } else {
        DateTime::from_timestamp(number, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use switchboard_domain::SecretString;

    fn secrets() -> WebhookSecrets {
        WebhookSecrets::new(
            Default::default(),
            [
                (APP_SECRET.to_owned(), SecretString::new("app-secret")),
                (VERIFY_TOKEN.to_owned(), SecretString::new("vt")),
            ]
            .into(),
        )
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_handshake_echoes_the_challenge_only_for_our_token() {
        let ok = query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "vt"),
            ("hub.challenge", "1158201444"),
        ]);
        assert_eq!(handshake(&ok, &secrets()).unwrap(), "1158201444");
        let wrong = query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "nope"),
            ("hub.challenge", "1"),
        ]);
        assert!(matches!(
            handshake(&wrong, &secrets()),
            Err(WebhookError::HandshakeRefused(_))
        ));
        let no_mode = query(&[("hub.verify_token", "vt"), ("hub.challenge", "1")]);
        assert!(matches!(
            handshake(&no_mode, &secrets()),
            Err(WebhookError::HandshakeRefused(_))
        ));
    }

    #[test]
    fn signatures_are_checked_over_the_raw_bytes() {
        let body = br#"{"object":"page","entry":[]}"#;
        let signature = format!(
            "sha256={}",
            hex::encode(hmac_sha256(b"app-secret", &[body]))
        );
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
        assert!(verify(
            RawWebhook {
                headers: &headers,
                body
            },
            &secrets()
        )
        .is_ok());
        let tampered = br#"{"object":"page","entry":[1]}"#;
        assert!(matches!(
            verify(
                RawWebhook {
                    headers: &headers,
                    body: tampered
                },
                &secrets()
            ),
            Err(WebhookError::Unauthorized(_))
        ));
        let empty = HeaderMap::new();
        assert!(matches!(
            verify(
                RawWebhook {
                    headers: &empty,
                    body
                },
                &secrets()
            ),
            Err(WebhookError::Unauthorized(_))
        ));
    }

    #[test]
    fn timestamps_in_seconds_and_milliseconds_agree() {
        let seconds = timestamp(&serde_json::json!("1700000000")).unwrap();
        assert_eq!(
            timestamp(&serde_json::json!(1_700_000_000_000i64)),
            Some(seconds)
        );
    }
}
