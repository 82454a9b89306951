//! Zalo Official Account: its declaration in the channel registry.

use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "zalo";

/// What Zalo Official Account needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "Zalo Official Account",
        auth: AuthSpec {
            scheme: AuthScheme::Oauth2,
            fields: vec![
                AuthField::required("oa_id", AuthFieldKind::Text, "The Official Account id."),
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
                    "When the access token expires (RFC 3339).",
                ),
            ],
        },
        needs_platform_credentials: true,
    }
}
