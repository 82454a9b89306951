//! TikTok Business Messaging: its declaration in the channel registry, its inbound webhook and
//! its sender.

mod account;
mod inbound;
pub mod oauth;
mod outbound;
pub mod platform_app;
#[cfg(test)]
mod tests;

pub use crate::channels::webhook::DEFAULT_TOLERANCE;
pub use account::TikTokAccount;
pub use inbound::TikTokWebhook;
pub use outbound::TikTokSender;

use crate::channels::RegisteredChannel;
use std::sync::Arc;
use switchboard_domain::message::ReplyWindow;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "tiktok";

/// Platform credential: the developer app's client secret that signs webhooks.
pub const CLIENT_SECRET: &str = "client_secret";
/// The signature header: `t=<unix seconds>,s=<hex HMAC-SHA256(client secret, t + "." + body)>`.
pub const SIGNATURE_HEADER: &str = "tiktok-signature";
/// Integration auth field: the business account id every delivery must name (`user_openid`).
pub const BUSINESS_ID: &str = "business_id";

/// What TikTok Business Messaging needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "TikTok Business Messaging",
        auth: AuthSpec {
            scheme: AuthScheme::Oauth2,
            fields: vec![
                AuthField::required(
                    BUSINESS_ID,
                    AuthFieldKind::Text,
                    "The TikTok business account id.",
                ),
                AuthField::required("access_token", AuthFieldKind::Secret, "OAuth access token."),
                AuthField::optional(
                    "refresh_token",
                    AuthFieldKind::Secret,
                    "OAuth refresh token.",
                ),
            ]
            .into_iter()
            .chain(crate::refresh::expiry::expiry_fields())
            .collect(),
        },
        needs_platform_credentials: true,
        app_account: Some(BUSINESS_ID),
        reply_window: Some(ReplyWindow {
            hours: 48,
            max_messages: Some(10),
            rule: "TikTok 48-hour window of 10 messages",
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
        webhook: Some(Arc::new(TikTokWebhook::default())),
        sender: Some(Arc::new(TikTokSender::new(egress.clone()))),
    }
}
