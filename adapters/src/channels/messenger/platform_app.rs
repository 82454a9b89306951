//! Messenger's platform app: a Meta app (id, secret, webhook verify token), checked by
//! asking Graph for an app access token.

use crate::channels::meta_app::{meta_app_fields, MetaAppVerifier};
use crate::channels::platform_app::PlatformAppSpec;
use crate::egress::EgressHttp;
use std::sync::Arc;

/// The platform app of Messenger, checked through `egress`.
pub fn platform_app(egress: &EgressHttp) -> PlatformAppSpec {
    let verifier = MetaAppVerifier::new(egress.clone());
    PlatformAppSpec::new(meta_app_fields(), Some(Arc::new(verifier)))
}
