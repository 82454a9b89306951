//! Google Sheets' platform app: the OAuth client id and secret. Google has no call that checks
//! a web client without a user, so the check is a probe of the token endpoint with a made-up
//! authorization code: Google authenticates the client first and answers `invalid_client` for
//! a wrong one, `invalid_grant` (the code) for a right one (RFC 6749 §5.2).

use crate::channels::google_sheets::outbound::{CLIENT_ID, CLIENT_SECRET, DEFAULT_OAUTH_BASE};
use crate::channels::platform_app::{
    client_accepted, exchange, field, setting, PlatformAppSpec, PlatformVerifier,
    VerificationError, OAUTH_BASE,
};
use crate::egress::EgressHttp;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_domain::{AuthField, AuthFieldKind, SecretString};

/// The made-up authorization code of the probe.
const PROBE_CODE: &str = "switchboard-credential-check";

/// The platform app of Google Sheets, checked through `egress`.
pub fn platform_app(egress: &EgressHttp) -> PlatformAppSpec {
    PlatformAppSpec::new(
        vec![
            AuthField::required(CLIENT_ID, AuthFieldKind::Text, "The OAuth client id."),
            AuthField::required(
                CLIENT_SECRET,
                AuthFieldKind::Secret,
                "The OAuth client secret.",
            ),
        ],
        Some(Arc::new(TokenEndpointProbe(egress.clone()))),
    )
}

struct TokenEndpointProbe(EgressHttp);

#[async_trait]
impl PlatformVerifier for TokenEndpointProbe {
    async fn verify(
        &self,
        credentials: &BTreeMap<String, SecretString>,
    ) -> Result<(), VerificationError> {
        let base = setting(credentials, OAUTH_BASE, DEFAULT_OAUTH_BASE);
        let form = [
            ("client_id", field(credentials, CLIENT_ID)?.expose()),
            ("client_secret", field(credentials, CLIENT_SECRET)?.expose()),
            ("grant_type", "authorization_code"),
            ("code", PROBE_CODE),
        ];
        let request = self.0.post(format!("{base}/token")).map(|r| r.form(&form));
        client_accepted(exchange(request).await?, true)
    }
}
