//! WhatsApp's platform app: a Meta app (id, secret, webhook verify token) with the embedded
//! signup configuration and, optionally, a system user's token; checked by asking Graph for
//! an app access token.

use crate::channels::meta_app::{meta_app_fields, MetaAppVerifier};
use crate::channels::platform_app::PlatformAppSpec;
use crate::egress::EgressHttp;
use std::sync::Arc;
use switchboard_domain::{AuthField, AuthFieldKind};

/// Platform credential: the embedded signup configuration id.
pub const CONFIGURATION_ID: &str = "configuration_id";
/// Platform credential: a system user's token of the business owning the app.
pub const SYSTEM_USER_TOKEN: &str = "system_user_token";

/// The platform app of WhatsApp, checked through `egress`.
pub fn platform_app(egress: &EgressHttp) -> PlatformAppSpec {
    let mut fields = meta_app_fields();
    fields.extend([
        AuthField::optional(
            CONFIGURATION_ID,
            AuthFieldKind::Text,
            "The embedded signup configuration id (Facebook Login for Business).",
        ),
        AuthField::optional(
            SYSTEM_USER_TOKEN,
            AuthFieldKind::Secret,
            "A system user's token of the business that owns the app.",
        ),
    ]);
    let verifier = MetaAppVerifier::new(egress.clone());
    PlatformAppSpec::new(fields, Some(Arc::new(verifier)))
}
