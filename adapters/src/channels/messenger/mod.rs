//! Facebook Messenger: its declaration in the channel registry, its inbound webhook and its
//! sender.

mod account;
mod inbound;
pub mod oauth;
mod outbound;
pub mod platform_app;
pub mod tags;
#[cfg(test)]
mod tests;

pub use account::MessengerAccount;
pub use inbound::MessengerWebhook;
pub use outbound::MessengerSender;

use crate::channels::RegisteredChannel;
use std::sync::Arc;
use switchboard_domain::message::ReplyWindow;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "messenger";
/// Integration auth field: the page every delivery must name (`entry[].id`).
pub const PAGE_ID: &str = "page_id";

/// What Facebook Messenger needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "Facebook Messenger",
        auth: AuthSpec {
            scheme: AuthScheme::Oauth2,
            fields: vec![
                AuthField::required(PAGE_ID, AuthFieldKind::Text, "The Facebook page id."),
                AuthField::required(
                    "page_access_token",
                    AuthFieldKind::Secret,
                    "Page access token from the OAuth flow.",
                ),
                AuthField::optional(
                    "page_name",
                    AuthFieldKind::Text,
                    "The page name, for display.",
                ),
            ],
        },
        needs_platform_credentials: true,
        app_account: Some(PAGE_ID),
        reply_window: Some(ReplyWindow {
            hours: 24,
            max_messages: None,
            rule: "Messenger 24-hour standard messaging window",
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
        webhook: Some(Arc::new(MessengerWebhook)),
        sender: Some(Arc::new(MessengerSender::new(egress.clone()))),
    }
}
