//! SMTP send action: its declaration in the channel registry and its sender, which e-mails each
//! outbound message through the workspace's SMTP server.

mod account;
#[cfg(test)]
mod fake_server;
mod outbound;

pub use account::SmtpAccount;
pub use outbound::SmtpSender;

use crate::channels::RegisteredChannel;
use std::sync::Arc;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "smtp";

/// What SMTP send action needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "SMTP send action",
        auth: AuthSpec {
            scheme: AuthScheme::Custom,
            fields: vec![
                AuthField::required("host", AuthFieldKind::Text, "SMTP server host."),
                AuthField::required("port", AuthFieldKind::Port, "SMTP server port."),
                AuthField::required("username", AuthFieldKind::Text, "SMTP user name."),
                AuthField::required("password", AuthFieldKind::Secret, "SMTP password."),
                AuthField::required("from_address", AuthFieldKind::Email, "Sender address."),
                AuthField::optional(
                    "starttls",
                    AuthFieldKind::Boolean,
                    "Upgrade the connection with STARTTLS.",
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
        webhook: None,
        sender: Some(Arc::new(SmtpSender::new(egress.policy().clone()))),
    }
}
