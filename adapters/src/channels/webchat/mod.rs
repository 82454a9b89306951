//! Web chat widget: its declaration in the channel registry, the visitor sessions its widget
//! holds ([`session`]), the sites allowed to embed it ([`origin`]), the frames widget and
//! service exchange ([`wire`]), what a visitor's frames become ([`inbound`]) and the sender
//! that pushes replies to the visitor's open sockets on every replica ([`outbound`]). The
//! routes and the sockets live in the API crate.

pub mod inbound;
pub mod origin;
pub mod outbound;
pub mod session;
pub mod wire;

pub use outbound::WebchatSender;

use crate::channels::RegisteredChannel;
use std::sync::Arc;
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

/// The registry entry. Its sender is unbound: the outbound engine replaces it with one on
/// its database ([`WebchatSender::new`]).
pub fn channel() -> RegisteredChannel {
    RegisteredChannel {
        spec: spec(),
        webhook: None,
        sender: Some(Arc::new(WebchatSender::unbound())),
    }
}
