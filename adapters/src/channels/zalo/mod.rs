//! Zalo Official Account: its declaration in the channel registry, its inbound webhook and its
//! sender (with token refresh).

mod account;
mod inbound;
pub mod oauth;
mod outbound;
pub mod platform_app;
#[cfg(test)]
mod tests;

pub use account::ZaloAccount;
pub use inbound::ZaloWebhook;
pub use outbound::ZaloSender;

use crate::channels::RegisteredChannel;
use std::sync::Arc;
use switchboard_domain::message::ReplyWindow;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "zalo";

/// Platform credential: the id of our Zalo app, the first part of every signed string.
pub const APP_ID: &str = "app_id";
/// Platform credential: the OA secret key (not the app secret) that signs webhooks.
pub const OA_SECRET_KEY: &str = "oa_secret_key";
/// The signature header: `mac=<hex SHA-256(app_id + body + timestamp + OA secret key)>`.
pub const SIGNATURE_HEADER: &str = "x-zevent-signature";
/// Integration auth field: the Official Account every delivery must name.
pub const OA_ID: &str = "oa_id";

/// What Zalo Official Account needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "Zalo Official Account",
        auth: AuthSpec {
            scheme: AuthScheme::Oauth2,
            fields: vec![
                AuthField::required(OA_ID, AuthFieldKind::Text, "The Official Account id."),
                AuthField::required(
                    "access_token",
                    AuthFieldKind::Secret,
                    "OA access token (OAuth v4).",
                ),
                AuthField::required(
                    "refresh_token",
                    AuthFieldKind::Secret,
                    "OA refresh token; single-use, rotated on refresh.",
                ),
                AuthField::optional(
                    "expires_at",
                    AuthFieldKind::Text,
                    "When the access token expires (RFC 3339); superseded by \
                     access_token_expires_at, still read.",
                ),
            ]
            .into_iter()
            .chain(crate::refresh::expiry::expiry_fields())
            .collect(),
        },
        needs_platform_credentials: true,
        app_account: Some(OA_ID),
        reply_window: Some(ReplyWindow {
            hours: 48,
            max_messages: Some(8),
            rule: "Zalo free consultation quota (8 messages within 48 hours)",
        }),
    }
}

/// The registry entry, sending under the default egress policy.
pub fn channel() -> RegisteredChannel {
    channel_with(&crate::egress::EgressHttp::shared_default())
}

/// The registry entry, sending through `egress` (and its policy).
pub fn channel_with(egress: &crate::egress::EgressHttp) -> RegisteredChannel {
    RegisteredChannel {
        spec: spec(),
        webhook: Some(Arc::new(ZaloWebhook::default())),
        sender: Some(Arc::new(ZaloSender::new(egress.clone()))),
    }
}
