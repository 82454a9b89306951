//! TikTok Business Messaging: its declaration in the channel registry.

use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "tiktok";

/// What TikTok Business Messaging needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "TikTok Business Messaging",
        auth: AuthSpec {
            scheme: AuthScheme::Oauth2,
            fields: vec![
                AuthField::required(
                    "business_id",
                    AuthFieldKind::Text,
                    "The TikTok business account id.",
                ),
                AuthField::required("access_token", AuthFieldKind::Secret, "OAuth access token."),
                AuthField::optional(
                    "refresh_token",
                    AuthFieldKind::Secret,
                    "OAuth refresh token.",
                ),
            ],
        },
        needs_platform_credentials: true,
    }
}
