//! A channel's platform app, as the registry knows it: the fields of its platform credentials
//! (declared in the channel's folder) and, where the platform has one, the call that checks
//! them without any user's consent.

use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_domain::{AuthField, AuthFieldKind, AuthScheme, AuthSpec, SecretString};

/// Platform credential: the platform's API base URL, for tests and regional endpoints.
pub const API_BASE: &str = crate::channels::sender::API_BASE;
/// Platform credential: the platform's OAuth base URL (authorization and token endpoints).
pub const OAUTH_BASE: &str = "oauth_base";
/// Platform credential: the platform's OAuth authorization page (the OAuth connect flows).
pub const AUTHORIZE_URL: &str = "authorize_url";
/// Platform credential: the signature replay tolerance of its webhooks, in seconds.
pub const TOLERANCE: &str = crate::channels::webhook::TOLERANCE_SETTING;
/// Largest verification answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A channel's platform app.
#[derive(Clone)]
pub struct PlatformAppSpec {
    /// Its credential fields.
    pub fields: AuthSpec,
    /// The check of those fields, when the platform has one.
    pub verifier: Option<Arc<dyn PlatformVerifier>>,
}

impl PlatformAppSpec {
    /// An app of `fields` (the override fields every platform app accepts are added).
    pub fn new(mut fields: Vec<AuthField>, verifier: Option<Arc<dyn PlatformVerifier>>) -> Self {
        fields.extend([
            AuthField::optional(
                API_BASE,
                AuthFieldKind::Url,
                "The platform API base URL, when not the public one.",
            ),
            AuthField::optional(
                OAUTH_BASE,
                AuthFieldKind::Url,
                "The platform OAuth base URL, when not the public one.",
            ),
            AuthField::optional(
                AUTHORIZE_URL,
                AuthFieldKind::Url,
                "The platform's OAuth authorization page, when not the public one.",
            ),
            AuthField::optional(
                TOLERANCE,
                AuthFieldKind::Text,
                "How old (seconds) a signed webhook may be, where the platform signs times.",
            ),
        ]);
        Self {
            fields: AuthSpec {
                scheme: AuthScheme::Custom,
                fields,
            },
            verifier,
        }
    }
}

/// Why credentials could not be found good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerificationError {
    /// The platform refused them, in these words.
    #[error("the platform refused the credentials: {0}")]
    Refused(String),
    /// The platform could not be asked (network, timeout, 5xx, egress policy).
    #[error("the platform could not be reached: {0}")]
    Unavailable(String),
}

/// Checks a platform app's credentials with the platform.
#[async_trait]
pub trait PlatformVerifier: Send + Sync {
    /// `Ok` when the platform accepts `credentials` (opened, by field name).
    async fn verify(
        &self,
        credentials: &BTreeMap<String, SecretString>,
    ) -> Result<(), VerificationError>;
}

/// A credential field, or a refusal naming it (the put checks completeness; this is a guard).
pub fn field<'c>(
    credentials: &'c BTreeMap<String, SecretString>,
    name: &str,
) -> Result<&'c SecretString, VerificationError> {
    credentials
        .get(name)
        .ok_or_else(|| VerificationError::Refused(format!("'{name}' is not set")))
}

/// The platform setting `name` of `credentials` (a base URL), else `default`, trimmed and
/// without a trailing slash; a blank setting is no setting.
pub fn setting(credentials: &BTreeMap<String, SecretString>, name: &str, default: &str) -> String {
    credentials
        .get(name)
        .map(|v| v.expose().trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// Sends `request` and reads its status and JSON answer (`Null` when it is not JSON). The
/// details of a failure never quote the request, which carries the secrets.
pub async fn exchange(
    request: Result<reqwest::RequestBuilder, crate::egress::EgressError>,
) -> Result<(reqwest::StatusCode, Value), VerificationError> {
    let request = request.map_err(|e| VerificationError::Unavailable(e.to_string()))?;
    let response = request.send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "timed out"
        } else {
            "connection failed"
        };
        VerificationError::Unavailable(kind.to_owned())
    })?;
    let status = response.status();
    let body = crate::egress::body::read_capped(response, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| VerificationError::Unavailable(e.to_string()))?;
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(VerificationError::Unavailable(format!("HTTP {status}")));
    }
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// What an OAuth 2.0 token endpoint's answer (RFC 6749 §5) says of the client's credentials.
/// `client_error_only`: the request was a probe (a made-up code), so any error but the
/// client's own (`invalid_client`, `unauthorized_client`) means the client was authenticated.
pub fn client_accepted(
    (status, answer): (reqwest::StatusCode, Value),
    client_error_only: bool,
) -> Result<(), VerificationError> {
    if status.is_success() && answer["access_token"].is_string() {
        return Ok(());
    }
    let error = answer["error"].as_str();
    let refused_client = matches!(error, Some("invalid_client" | "unauthorized_client"));
    if client_error_only && error.is_some() && !refused_client {
        return Ok(());
    }
    let words = answer["error_description"]
        .as_str()
        .or(error)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("HTTP {status} without an OAuth error"));
    Err(VerificationError::Refused(words))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use serde_json::json;

    #[test]
    fn a_token_endpoint_answer_tells_whether_the_client_was_accepted() {
        let ok = (StatusCode::OK, json!({"access_token": "t"}));
        assert_eq!(client_accepted(ok, false), Ok(()));
        let bad_client = (
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "The OAuth client was not found."}),
        );
        assert_eq!(
            client_accepted(bad_client.clone(), true),
            Err(VerificationError::Refused(
                "The OAuth client was not found.".into()
            ))
        );
        let bad_code = (StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
        assert_eq!(
            client_accepted(bad_code.clone(), true),
            Ok(()),
            "a probe's made-up code"
        );
        assert!(client_accepted(bad_code, false).is_err());
        let html = (StatusCode::FORBIDDEN, Value::Null);
        assert_eq!(
            client_accepted(html, true),
            Err(VerificationError::Refused(
                "HTTP 403 Forbidden without an OAuth error".into()
            ))
        );
    }
}
