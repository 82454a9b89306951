//! When an integration's tokens expire: the two plain auth fields every OAuth channel with
//! expiring tokens declares, how a platform's `expires_in` becomes them, and reading them back.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use switchboard_domain::{AuthField, AuthFieldKind};

/// Auth field: when the access token expires (RFC 3339, UTC).
pub const ACCESS_TOKEN_EXPIRES_AT: &str = "access_token_expires_at";
/// Auth field: when the refresh token expires (RFC 3339, UTC), where the platform says.
pub const REFRESH_TOKEN_EXPIRES_AT: &str = "refresh_token_expires_at";
/// The field Zalo integrations recorded the access token's expiry in before
/// [`ACCESS_TOKEN_EXPIRES_AT`]; still read.
pub const LEGACY_EXPIRES_AT: &str = "expires_at";

/// The two optional expiry fields, for a channel's `AuthSpec`.
pub fn expiry_fields() -> [AuthField; 2] {
    [
        AuthField::optional(
            ACCESS_TOKEN_EXPIRES_AT,
            AuthFieldKind::Text,
            "When the access token expires (RFC 3339, UTC); kept up to date by token refreshes.",
        ),
        AuthField::optional(
            REFRESH_TOKEN_EXPIRES_AT,
            AuthFieldKind::Text,
            "When the refresh token expires (RFC 3339, UTC), when the platform says.",
        ),
    ]
}

/// A lifetime in seconds as platforms give it: a JSON number or a numeric string.
pub fn seconds(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str()?.trim().parse().ok())
        .filter(|s| *s > 0)
}

/// The longest lifetime believed (ten years): a platform's larger number is taken as this, so
/// no answer can overflow the clock.
const MAX_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;

/// `now + seconds` (at most ten years) as the RFC 3339 text the expiry fields hold.
pub fn expires_at(now: DateTime<Utc>, seconds: i64) -> String {
    let lifetime = Duration::seconds(seconds.clamp(0, MAX_LIFETIME_SECS));
    (now + lifetime).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The expiry fields a token answer implies: `access` and `refresh` are its lifetimes in
/// seconds (`expires_in`, `refresh_token_expires_in`), each left out when absent.
pub fn expiry_input(now: DateTime<Utc>, access: &Value, refresh: &Value) -> Vec<(String, Value)> {
    [
        (ACCESS_TOKEN_EXPIRES_AT, seconds(access)),
        (REFRESH_TOKEN_EXPIRES_AT, seconds(refresh)),
    ]
    .into_iter()
    .filter_map(|(field, lifetime)| Some((field.to_owned(), json!(expires_at(now, lifetime?)))))
    .collect()
}

/// An expiry field's text as a time; `None` when it is not RFC 3339.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_become_rfc3339_times_from_numbers_or_strings() {
        let now = parse("2026-01-01T00:00:00Z").unwrap();
        let fields = expiry_input(now, &json!("90000"), &Value::Null);
        assert_eq!(
            fields,
            vec![(
                ACCESS_TOKEN_EXPIRES_AT.to_owned(),
                json!("2026-01-02T01:00:00Z")
            )]
        );
        let both = expiry_input(now, &json!(3599), &json!(86400));
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].1, json!("2026-01-02T00:00:00Z"));
        assert!(expiry_input(now, &json!("soon"), &json!(0)).is_empty());
    }

    #[test]
    fn only_rfc3339_parses() {
        assert!(parse("2026-01-01T00:00:00+07:00").is_some());
        assert!(parse("tomorrow").is_none());
    }
}
