//! E-mail (IMAP + SMTP): its declaration in the channel registry, its `send_email` action
//! (the SMTP channel's, on this channel's SMTP fields) and its threaded replies (`reply`);
//! incoming mail is read by the mailbox readers (`crate::mailbox`).

mod account;
pub mod reply;

pub use account::EmailAccount;
pub use reply::EmailReplySender;

use crate::channels::action::{typed, ChannelAction};
use crate::channels::smtp::send_email::SendEmail;
use crate::channels::RegisteredChannel;
use std::sync::Arc;
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
                AuthField::optional(
                    "imap_folder",
                    AuthFieldKind::Text,
                    "The IMAP folder read for incoming mail (default INBOX).",
                ),
                AuthField::optional(
                    "smtp_starttls",
                    AuthFieldKind::Boolean,
                    "Require STARTTLS on an SMTP port other than 465 (default true).",
                ),
            ],
        },
        needs_platform_credentials: false,
        app_account: None,
        reply_window: None,
    }
}

/// The SMTP side's fields, by the names the SMTP `send_email` reads them as.
const SMTP_FIELDS: &[(&str, &str)] = &[
    ("host", "smtp_host"),
    ("port", "smtp_port"),
    ("starttls", "smtp_starttls"),
    ("username", "username"),
    ("password", "password"),
    ("from_address", "address"),
];

/// The actions of this channel: `send_email` from its SMTP side.
pub fn actions(egress: &crate::egress::EgressHttp) -> Vec<Arc<dyn ChannelAction>> {
    vec![typed(SendEmail::with_fields(egress.clone(), SMTP_FIELDS))]
}

/// `registry` with this channel's threaded replies (their threads on `pool`), sent to the
/// SMTP servers `egress` permits.
pub fn with_replies(
    registry: crate::channels::ChannelRegistry,
    egress: &crate::egress::EgressPolicy,
    pool: sqlx::PgPool,
) -> crate::channels::ChannelRegistry {
    let sender = EmailReplySender::new(egress.clone(), crate::mailbox::MailboxThreads::new(pool));
    let kind = ChannelKind::parse(KIND).expect("valid channel name");
    registry.with_sender(&kind, Arc::new(sender))
}

/// The registry entry (its sender is added where the database is known: [`with_replies`]).
pub fn channel() -> RegisteredChannel {
    RegisteredChannel {
        spec: spec(),
        webhook: None,
        sender: None,
    }
}
