//! Telegram: its declaration in the channel registry its inbound webhook and its
//! sender.

mod account;
mod inbound;
mod outbound;
#[cfg(test)]
mod tests;

pub use account::TelegramAccount;
pub use inbound::{TelegramWebhook, SECRET_HEADER, WEBHOOK_SECRET};
pub use outbound::TelegramSender;

use crate::channels::RegisteredChannel;
use std::sync::Arc;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "telegram";

/// What Telegram needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "Telegram",
        auth: AuthSpec {
            scheme: AuthScheme::Custom,
            fields: vec![
                AuthField::required(
                    "bot_token",
                    AuthFieldKind::Secret,
                    "The bot token from @BotFather.",
                ),
                AuthField::required(
                    "webhook_secret",
                    AuthFieldKind::Secret,
                    "Sent back by Telegram in X-Telegram-Bot-Api-Secret-Token.",
                ),
                AuthField::optional(
                    "bot_username",
                    AuthFieldKind::Text,
                    "The bot's @username, for display.",
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
        webhook: Some(Arc::new(TelegramWebhook)),
        sender: Some(Arc::new(TelegramSender::new(egress.clone()))),
    }
}
