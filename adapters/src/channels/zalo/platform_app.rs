//! Zalo's platform app: the app id and secret (authorization and token calls) and the OA
//! secret key (webhook signatures). Zalo has no call that checks them without an Official
//! Account's consent, so a verification finds them complete and well formed only.

use crate::channels::platform_app::PlatformAppSpec;
use crate::channels::zalo::outbound::APP_SECRET;
use crate::channels::zalo::{APP_ID, OA_SECRET_KEY};
use switchboard_domain::{AuthField, AuthFieldKind};

/// The platform app of Zalo.
pub fn platform_app() -> PlatformAppSpec {
    PlatformAppSpec::new(
        vec![
            AuthField::required(APP_ID, AuthFieldKind::Text, "The Zalo app id."),
            AuthField::required(
                APP_SECRET,
                AuthFieldKind::Secret,
                "The Zalo app secret key.",
            ),
            AuthField::required(
                OA_SECRET_KEY,
                AuthFieldKind::Secret,
                "The OA secret key that signs webhooks.",
            ),
        ],
        None,
    )
}
