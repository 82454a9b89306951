//! Chatbot (internal): its declaration in the channel registry.

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
    }
}
