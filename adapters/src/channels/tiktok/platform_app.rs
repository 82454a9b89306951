//! TikTok's platform app: the client key and secret, checked with the client credentials
//! grant (`POST {oauth}/oauth/token/`), which TikTok answers with a client access token or
//! `{"error": "invalid_client", "error_description": …}`.

use crate::channels::platform_app::{
    client_accepted, exchange, field, setting, PlatformAppSpec, PlatformVerifier,
    VerificationError, OAUTH_BASE,
};
use crate::channels::tiktok::CLIENT_SECRET;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_domain::{AuthField, AuthFieldKind, SecretString};

/// Platform credential: the app's client key.
pub const CLIENT_KEY: &str = "client_key";
/// TikTok's OAuth base.
pub const DEFAULT_OAUTH_BASE: &str = "https://open.tiktokapis.com/v2";

/// The platform app of TikTok, checked through `egress`.
pub fn platform_app(egress: &EgressHttp) -> PlatformAppSpec {
    PlatformAppSpec::new(
        vec![
            AuthField::required(
                CLIENT_KEY,
                AuthFieldKind::Text,
                "The TikTok app client key.",
            ),
            AuthField::required(
                CLIENT_SECRET,
                AuthFieldKind::Secret,
                "The TikTok app client secret (also signs webhooks).",
            ),
        ],
        Some(Arc::new(ClientCredentials(egress.clone()))),
    )
}

struct ClientCredentials(EgressHttp);

#[async_trait]
impl PlatformVerifier for ClientCredentials {
    async fn verify(
        &self,
        credentials: &BTreeMap<String, SecretString>,
    ) -> Result<(), VerificationError> {
        check_app(&self.0, credentials).await
    }
}

/// Whether TikTok accepts the app's client key and secret (`credentials`, with the optional
/// `oauth_base` setting): the platform app check, and how a refused token refresh is told to
/// be the app's fault or the grant's.
pub async fn check_app(
    http: &EgressHttp,
    credentials: &BTreeMap<String, SecretString>,
) -> Result<(), VerificationError> {
    let base = setting(credentials, OAUTH_BASE, DEFAULT_OAUTH_BASE);
    let form = [
        ("client_key", field(credentials, CLIENT_KEY)?.expose()),
        ("client_secret", field(credentials, CLIENT_SECRET)?.expose()),
        ("grant_type", "client_credentials"),
    ];
    let request = http
        .post(format!("{base}/oauth/token/"))
        .map(|r| r.form(&form));
    client_accepted(exchange(request).await?, false)
}
