//! E-mail (IMAP + SMTP): its declaration in the channel registry.

mod account;

pub use account::EmailAccount;

use crate::channels::RegisteredChannel;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "email";

/// What E-mail (IMAP + SMTP) needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "E-mail (IMAP + SMTP)",
        auth: AuthSpec {
            scheme: AuthScheme::Custom,
            fields: vec![
                AuthField::required("imap_host", AuthFieldKind::Text, "IMAP server host."),
                AuthField::required("imap_port", AuthFieldKind::Port, "IMAP server port."),
                AuthField::required("smtp_host", AuthFieldKind::Text, "SMTP server host."),
                AuthField::required("smtp_port", AuthFieldKind::Port, "SMTP server port."),
                AuthField::required("username", AuthFieldKind::Text, "Mailbox user name."),
                AuthField::required(
                    "password",
                    AuthFieldKind::Secret,
                    "Mailbox password or app password.",
                ),
                AuthField::required("address", AuthFieldKind::Email, "The inbox address."),
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
