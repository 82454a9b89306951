//! WhatsApp Cloud API: its declaration in the channel registry its inbound webhook and its
//! sender.

mod inbound;
mod outbound;
#[cfg(test)]
mod tests;

pub use inbound::WhatsappWebhook;
pub use outbound::WhatsappSender;

use crate::channels::RegisteredChannel;
use std::sync::Arc;
use switchboard_domain::message::ReplyWindow;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "whatsapp";

/// What WhatsApp Cloud API needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "WhatsApp Cloud API",
        auth: AuthSpec {
            scheme: AuthScheme::Oauth2,
            fields: vec![
                AuthField::required(
                    "phone_number_id",
                    AuthFieldKind::Text,
                    "The business phone number id.",
                ),
                AuthField::required(
                    "business_account_id",
                    AuthFieldKind::Text,
                    "The WhatsApp business account id.",
                ),
                AuthField::required(
                    "access_token",
                    AuthFieldKind::Secret,
                    "System-user or OAuth access token.",
                ),
                AuthField::optional(
                    "display_phone_number",
                    AuthFieldKind::Text,
                    "The number as shown to customers.",
                ),
            ],
        },
        needs_platform_credentials: true,
        reply_window: Some(ReplyWindow {
            hours: 24,
            max_messages: None,
            rule: "WhatsApp 24-hour customer service window",
        }),
    }
}

/// The registry entry.
pub fn channel() -> RegisteredChannel {
    RegisteredChannel {
        spec: spec(),
        webhook: Some(Arc::new(WhatsappWebhook)),
        sender: Some(Arc::new(WhatsappSender::new())),
    }
}
