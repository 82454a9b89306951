//! SMTP send action: its declaration in the channel registry and its sender, which e-mails each
//! outbound message through the workspace's SMTP server.

mod account;
#[cfg(any(test, feature = "fakes"))]
pub mod fake_server;
mod outbound;
pub mod presets;
pub mod send_email;

pub use account::SmtpAccount;
pub use outbound::SmtpSender;
// Shared with the e-mail channel's threaded replies.
pub(crate) use outbound::deliver;

use crate::channels::action::{typed, ChannelAction};
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
                AuthField::optional(
                    "provider",
                    AuthFieldKind::Text,
                    "A provider preset choosing host, port and TLS: gmail, outlook, office365, sendgrid, mailgun, ses, zoho.",
                ),
                AuthField::optional(
                    "host",
                    AuthFieldKind::Text,
                    "SMTP server host (needed without a provider; overrides its host).",
                ),
                AuthField::optional(
                    "port",
                    AuthFieldKind::Port,
                    "SMTP server port (default the provider's, else 587; 465 is TLS from the start).",
                ),
                AuthField::required("username", AuthFieldKind::Text, "SMTP user name."),
                AuthField::required("password", AuthFieldKind::Secret, "SMTP password."),
                AuthField::required("from_address", AuthFieldKind::Email, "Sender address."),
                AuthField::optional(
                    "starttls",
                    AuthFieldKind::Boolean,
                    "Upgrade the connection with STARTTLS (default true; false sends in plain text).",
                ),
            ],
        },
        needs_platform_credentials: false,
        app_account: None,
        reply_window: None,
    }
}

/// The actions of this channel: `send_email`.
pub fn actions(egress: &crate::egress::EgressHttp) -> Vec<Arc<dyn ChannelAction>> {
    vec![typed(send_email::SendEmail::new(egress.clone()))]
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
