//! Web chat widget: its declaration in the channel registry.

use crate::channels::RegisteredChannel;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "webchat";

/// What Web chat widget needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "Web chat widget",
        auth: AuthSpec {
            scheme: AuthScheme::Custom,
            fields: vec![
                AuthField::required(
                    "allowed_origin",
                    AuthFieldKind::Url,
                    "The site that embeds the widget.",
                ),
                AuthField::optional(
                    "widget_title",
                    AuthFieldKind::Text,
                    "Title shown in the widget.",
                ),
            ],
        },
        needs_platform_credentials: false,
        app_account: None,
        reply_window: None,
    }
}

/// The registry entry.
pub fn channel() -> RegisteredChannel {
    RegisteredChannel {
        spec: spec(),
        webhook: None,
        sender: None,
    }
}
