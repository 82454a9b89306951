//! The Meta app behind Messenger and WhatsApp: its platform credential fields and their
//! check, an app access token requested with the app id and secret (the client credentials
//! grant of `POST {graph}/oauth/access_token`). Graph refuses a wrong secret with
//! `{"error": {"message": "Error validating client secret.", "type": "OAuthException"}}`.

use crate::channels::graph_api::DEFAULT_API_BASE;
use crate::channels::meta::{APP_SECRET, VERIFY_TOKEN};
use crate::channels::platform_app::{
    exchange, field, setting, PlatformVerifier, VerificationError, API_BASE,
};
use crate::egress::EgressHttp;
use async_trait::async_trait;
use std::collections::BTreeMap;
use switchboard_domain::{AuthField, AuthFieldKind, SecretString};

/// Platform credential: the Meta app id.
pub const APP_ID: &str = "app_id";

/// The fields every Meta app has.
pub fn meta_app_fields() -> Vec<AuthField> {
    vec![
        AuthField::required(APP_ID, AuthFieldKind::Text, "The Meta app id."),
        AuthField::required(APP_SECRET, AuthFieldKind::Secret, "The Meta app secret."),
        AuthField::required(
            VERIFY_TOKEN,
            AuthFieldKind::Secret,
            "The verify token entered in the app's webhook settings.",
        ),
    ]
}

/// Asks Graph for an app access token.
pub struct MetaAppVerifier {
    http: EgressHttp,
}

impl MetaAppVerifier {
    /// A verifier calling Graph through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

#[async_trait]
impl PlatformVerifier for MetaAppVerifier {
    async fn verify(
        &self,
        credentials: &BTreeMap<String, SecretString>,
    ) -> Result<(), VerificationError> {
        let base = setting(credentials, API_BASE, DEFAULT_API_BASE);
        let form = [
            ("client_id", field(credentials, APP_ID)?.expose()),
            ("client_secret", field(credentials, APP_SECRET)?.expose()),
            ("grant_type", "client_credentials"),
        ];
        let request = self
            .http
            .post(format!("{base}/oauth/access_token"))
            .map(|r| r.form(&form));
        let (status, answer) = exchange(request).await?;
        if status.is_success() && answer["access_token"].is_string() {
            return Ok(());
        }
        let words = answer["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}"));
        Err(VerificationError::Refused(words))
    }
}
