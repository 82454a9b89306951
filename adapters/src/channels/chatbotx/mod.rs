//! Chatbot (internal): its declaration in the channel registry, its inbound webhook, through
//! which the platform's own bots and the test console post messages (the body format is
//! documented in its `inbound` module), and its sender, which hands outbound messages to the
//! platform's internal bot API (see its `outbound` module).

mod inbound;
mod outbound;
#[cfg(test)]
mod tests;

pub use inbound::{ChatbotxWebhook, API_KEY, AUTHORIZATION_HEADER};
pub use outbound::ChatbotxSender;

use crate::channels::RegisteredChannel;
use std::sync::Arc;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "chatbotx";

/// What Chatbot (internal) needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "Chatbot (internal)",
        auth: AuthSpec {
            scheme: AuthScheme::Custom,
            fields: vec![
                AuthField::required(
                    "bot_id",
                    AuthFieldKind::Text,
                    "The platform bot that answers this inbox.",
                ),
                AuthField::required(
                    "api_key",
                    AuthFieldKind::Secret,
                    "Key the internal API presents when it posts messages.",
                ),
            ],
        },
        needs_platform_credentials: false,
        app_account: None,
        reply_window: None,
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
        webhook: Some(Arc::new(ChatbotxWebhook)),
        sender: Some(Arc::new(ChatbotxSender::new(egress.clone()))),
    }
}
