//! Sending on the SMTP send action: one plain-text e-mail per command, through the workspace's
//! own SMTP server (its `host`, `port`, `username`, `password`, `from_address` and `starttls`
//! auth fields), one connection per message.
//!
//! The mail goes from `from_address` to the command's `recipient` (an e-mail address, else the
//! command is `Invalid`); its subject is the first line of the text, its body the text followed
//! by the attachments' URLs one per line (quick replies cannot be offered by e-mail: `Invalid`).
//! Its `Message-ID` is `<message id@sender's domain>`, which is also the sent message's id, so
//! replies that quote it can be matched.
//!
//! Transport security and the server: see [`crate::channels::smtp::presets`] (a `provider`
//! preset, overridden by `host`, `port` and `starttls`; 465 is TLS from the first byte,
//! otherwise STARTTLS is required unless `starttls` is `false`).
//!
//! Egress: the server is chosen by the tenant, so `host` is resolved once through the egress
//! policy and every address checked (a loopback, private, link-local… address is refused
//! unless the operator's allow-list permits it, as is the listed `host:port`); the connection
//! then goes to a checked address, never to the name again, while TLS still verifies the
//! certificate for `host`. The attachment URLs written into the body pass the policy too.
//!
//! Classification by the server's reply code: 535, 534 and 530 (credentials refused or
//! required) are auth, other 4xx replies temporary, other 5xx permanent; timeouts and
//! connection failures are temporary, TLS and protocol failures permanent. Details carry the
//! server's code and words, with the credentials blotted out should a server echo them.

use crate::channels::first_contact::{FirstContact, RecipientKind};
use crate::channels::sender::{
    check_attachments, ChannelSender, SendError, SendTarget, SentMessage, SEND_TIMEOUT,
};
use crate::egress::allow_list::normalize_host;
use crate::egress::{EgressPolicy, MailTls};
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::net::SocketAddr;
use switchboard_domain::message::SendMessage;

use crate::channels::smtp::presets::server_settings;
pub use crate::channels::smtp::presets::IMPLICIT_TLS_PORT;
/// The longest subject taken from the text, in characters.
const MAX_SUBJECT_CHARS: usize = 78;

/// Reply codes that mean the credentials were refused or are needed.
const AUTH_CODES: &[u16] = &[530, 534, 535];

/// Sends e-mails over SMTP.
#[derive(Debug, Clone, Default)]
pub struct SmtpSender {
    egress: EgressPolicy,
}

impl SmtpSender {
    /// A sender reaching only the servers `egress` permits (it keeps no connections between
    /// messages).
    pub fn new(egress: EgressPolicy) -> Self {
        Self { egress }
    }
}

#[async_trait]
impl ChannelSender for SmtpSender {
    /// None: each integration names its own server.
    fn default_api_base(&self) -> &'static str {
        ""
    }

    fn first_contact(&self) -> FirstContact {
        FirstContact::Allowed {
            recipient: RecipientKind::EmailAddress,
            template_only: false,
        }
    }

    async fn send(
        &self,
        target: &SendTarget,
        message: &SendMessage,
    ) -> Result<SentMessage, SendError> {
        if !message.content.quick_replies.is_empty() {
            return Err(SendError::Invalid(
                "an e-mail cannot offer quick replies".into(),
            ));
        }
        let to: Mailbox = message
            .recipient
            .trim()
            .parse()
            .map_err(|_| SendError::Invalid("the recipient is not an e-mail address".into()))?;
        let from: Mailbox = target
            .secret("from_address")?
            .expose()
            .parse()
            .map_err(|_| SendError::Permanent("from_address is not an e-mail address".into()))?;
        let message_id = format!("<{}@{}>", message.message_id, from.email.domain());
        let email = Message::builder()
            .from(from)
            .to(to)
            .subject(subject(message))
            .message_id(Some(message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(body(message))
            .map_err(|e| SendError::Invalid(format!("the e-mail cannot be built: {e}")))?;
        check_attachments(&self.egress, &message.content).await?;
        deliver(&self.egress, target, email).await?;
        Ok(SentMessage {
            platform_message_id: message_id,
        })
    }
}

/// Hands `email` to the integration's server (its `provider`, `host`, `port`, `starttls`,
/// `username` and `password`), trying the host's checked addresses in turn while they refuse
/// the connection.
pub(crate) async fn deliver(
    egress: &EgressPolicy,
    target: &SendTarget,
    email: Message,
) -> Result<(), SendError> {
    let username = target.secret("username")?.expose();
    let password = target.secret("password")?.expose();
    let credentials = Credentials::new(username.into(), password.into());
    let server = Server::of(target)?;
    let addresses = egress.resolve(&server.host, server.port).await?;
    let mut refused = None;
    for address in addresses {
        let transport = server.transport(egress.mail_tls(), address, credentials.clone())?;
        match transport.send(email.clone()).await {
            Ok(_) => return Ok(()),
            // Nothing was said yet: the host's next address may take the connection.
            Err(error) if connection_refused(&error) => refused = Some(error),
            Err(error) => return Err(classify(&error, &[username, password])),
        }
    }
    Err(match refused {
        Some(error) => classify(&error, &[username, password]),
        None => SendError::retryable("the SMTP host has no address"),
    })
}

/// The integration's server settings.
struct Server {
    /// As configured, without IPv6 brackets: the name TLS verifies.
    host: String,
    port: u16,
    starttls: bool,
}

impl Server {
    fn of(target: &SendTarget) -> Result<Self, SendError> {
        let settings =
            server_settings(|name| target.secrets.get(name).ok().map(|v| v.expose().to_owned()))
                .map_err(|e| SendError::Permanent(e.to_string()))?;
        Ok(Self {
            host: normalize_host(&settings.host),
            port: settings.port,
            starttls: settings.starttls(),
        })
    }

    /// A one-message transport to the checked `address`, TLS verifying the configured host
    /// against `roots` (the public ones and the operator's mail CAs).
    fn transport(
        &self,
        roots: &MailTls,
        address: SocketAddr,
        credentials: Credentials,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
        let tls = || {
            roots.smtp_parameters(&self.host).map_err(|e| {
                SendError::Permanent(format!("TLS cannot be set up for the host: {e}"))
            })
        };
        let tls = if self.port == IMPLICIT_TLS_PORT {
            Tls::Wrapper(tls()?)
        } else if self.starttls {
            Tls::Required(tls()?)
        } else {
            Tls::None
        };
        Ok(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.ip().to_string())
                .port(address.port())
                .tls(tls)
                .credentials(credentials)
                .timeout(Some(SEND_TIMEOUT))
                .build(),
        )
    }
}

/// Whether the server refused or could not be reached before any SMTP was spoken.
fn connection_refused(error: &lettre::transport::smtp::Error) -> bool {
    use std::io::ErrorKind::{
        AddrNotAvailable, ConnectionRefused, HostUnreachable, NetworkUnreachable,
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable
            );
        }
        source = cause.source();
    }
    false
}

/// The first non-blank line of the text, shortened; a fixed subject for attachments alone.
fn subject(message: &SendMessage) -> String {
    let first = message
        .content
        .text
        .as_deref()
        .and_then(|t| t.lines().map(str::trim).find(|l| !l.is_empty()));
    match first {
        Some(line) => line.chars().take(MAX_SUBJECT_CHARS).collect(),
        None => "Attachment".to_owned(),
    }
}

/// The text, then each attachment's URL on its own line.
fn body(message: &SendMessage) -> String {
    let content = &message.content;
    content
        .text
        .iter()
        .map(String::as_str)
        .chain(content.attachments.iter().map(|a| a.url.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Classifies a failed SMTP exchange; `secrets` are blotted out of the detail.
fn classify(error: &lettre::transport::smtp::Error, secrets: &[&str]) -> SendError {
    let words = std::error::Error::source(error)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let redact = |text: String| {
        secrets
            .iter()
            .filter(|s| s.len() >= 3)
            .fold(text, |t, s| t.replace(s, "[redacted]"))
    };
    if let Some(code) = error.status() {
        let code = u16::from(code);
        let detail = redact(format!("SMTP {code}: {}", words.trim()));
        return if AUTH_CODES.contains(&code) {
            SendError::Auth(detail)
        } else if error.is_transient() {
            SendError::retryable(detail)
        } else {
            SendError::Permanent(detail)
        };
    }
    if error.is_timeout() {
        return SendError::retryable("SMTP server timed out");
    }
    let detail = redact(format!("SMTP {error}"));
    if error.is_tls() || error.is_client() {
        SendError::Permanent(detail)
    } else {
        SendError::retryable(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::fake_platform::{message, target, test_policy};
    use crate::channels::smtp::fake_server::{FakeSmtp, Replies};
    use crate::egress::StaticLookup;
    use std::net::IpAddr;
    use std::sync::Arc;
    use switchboard_domain::message::{OutboundAttachment, OutboundContent, QuickReplyOption};

    const PASSWORD: &str = "smtp-secret-password";

    fn mailbox(port: u16, starttls: &str) -> SendTarget {
        mailbox_at("127.0.0.1", port, starttls)
    }

    fn mailbox_at(host: &str, port: u16, starttls: &str) -> SendTarget {
        let port = port.to_string();
        target(
            "smtp",
            "",
            &[
                ("host", host),
                ("port", &port),
                ("username", "bot@shop.example"),
                ("password", PASSWORD),
                ("from_address", "bot@shop.example"),
                ("starttls", starttls),
            ],
        )
    }

    #[tokio::test]
    async fn an_email_is_delivered_to_the_recipient_with_the_text_as_its_body() {
        let server = FakeSmtp::start(Replies::default()).await;
        let target = mailbox(server.port, "false");
        let mut content = OutboundContent::text("Your order shipped\nTracking below.");
        content.attachments.push(OutboundAttachment {
            kind: switchboard_domain::message::AttachmentKind::File,
            url: "https://cdn.example/label.pdf".into(),
        });
        let command = message(&target, "customer@example.org", content);
        let sent = SmtpSender::new(test_policy())
            .send(&target, &command)
            .await
            .unwrap();
        let expected_id = format!("<{}@shop.example>", command.message_id);
        assert_eq!(sent.platform_message_id, expected_id);
        let session = server.session();
        assert_eq!(
            session.auth_plain.as_deref(),
            Some("\0bot@shop.example\0smtp-secret-password")
        );
        assert_eq!(session.mail_from, "<bot@shop.example>");
        assert_eq!(session.rcpt_to, vec!["<customer@example.org>".to_owned()]);
        let data = session.data.replace("\r\n", "\n");
        assert!(data.contains("To: customer@example.org"), "{data}");
        assert!(data.contains("Subject: Your order shipped"), "{data}");
        assert!(
            data.contains(&format!("Message-ID: {expected_id}")),
            "{data}"
        );
        assert!(
            data.contains("Your order shipped\nTracking below.\nhttps://cdn.example/label.pdf"),
            "{data}"
        );
    }

    #[tokio::test]
    async fn replies_are_classified_by_their_code_without_the_password() {
        let cases = [
            (
                Replies {
                    rcpt: "450 4.2.1 Mailbox busy, try later",
                    ..Replies::default()
                },
                "retryable",
            ),
            (
                Replies {
                    rcpt: "550 5.1.1 No such user here",
                    ..Replies::default()
                },
                "permanent",
            ),
            (
                Replies {
                    auth: "535 5.7.8 Authentication credentials invalid",
                    ..Replies::default()
                },
                "auth",
            ),
            (
                Replies {
                    data_end: "421 4.3.0 Service shutting down",
                    ..Replies::default()
                },
                "retryable",
            ),
        ];
        for (replies, class) in cases {
            let server = FakeSmtp::start(replies).await;
            let target = mailbox(server.port, "false");
            let command = message(&target, "customer@example.org", OutboundContent::text("hi"));
            let error = SmtpSender::new(test_policy())
                .send(&target, &command)
                .await
                .unwrap_err();
            let seen = match &error {
                SendError::Retryable { .. } => "retryable",
                SendError::Permanent(_) => "permanent",
                SendError::Auth(_) => "auth",
                other => panic!("unexpected {other}"),
            };
            assert_eq!(seen, class, "{error}");
            assert!(
                error.to_string().contains("SMTP 4") || error.to_string().contains("SMTP 5"),
                "{error}"
            );
            assert!(!error.to_string().contains(PASSWORD), "{error}");
        }
    }

    #[tokio::test]
    async fn a_non_address_recipient_or_quick_replies_are_invalid_and_never_sent() {
        let server = FakeSmtp::start(Replies::default()).await;
        let target = mailbox(server.port, "false");
        let mut buttons = OutboundContent::text("pick");
        buttons.quick_replies.push(QuickReplyOption {
            title: "Yes".into(),
            payload: "yes".into(),
        });
        for command in [
            message(&target, "not an address", OutboundContent::text("hi")),
            message(&target, "customer@example.org", buttons),
        ] {
            let error = SmtpSender::new(test_policy())
                .send(&target, &command)
                .await
                .unwrap_err();
            assert!(matches!(error, SendError::Invalid(_)), "{error}");
        }
        assert_eq!(server.connections(), 0);
    }

    #[tokio::test]
    async fn a_server_without_starttls_is_refused_when_tls_is_required() {
        let server = FakeSmtp::start(Replies::default()).await;
        let target = mailbox(server.port, "true");
        let command = message(&target, "customer@example.org", OutboundContent::text("hi"));
        let error = SmtpSender::new(test_policy())
            .send(&target, &command)
            .await
            .unwrap_err();
        assert!(!error.is_retryable(), "{error}");
        assert!(
            server.session().data.is_empty(),
            "nothing is sent in the clear"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_temporary_failure() {
        let target = mailbox(1, "false");
        let command = message(&target, "customer@example.org", OutboundContent::text("hi"));
        let error = SmtpSender::new(test_policy())
            .send(&target, &command)
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{error}");
    }

    /// `allow` as the allow-list, with `mail.test` resolving to `addresses`.
    fn policy(allow: &str, addresses: &[&str]) -> EgressPolicy {
        let addresses: Vec<IpAddr> = addresses.iter().map(|a| a.parse().unwrap()).collect();
        EgressPolicy::parse(allow).unwrap().with_lookup(Arc::new(
            StaticLookup::default().with("mail.test", &addresses),
        ))
    }

    #[tokio::test]
    async fn a_loopback_host_is_refused_without_the_allow_list_and_never_connected_to() {
        let server = FakeSmtp::start(Replies::default()).await;
        let hello = |target: &SendTarget| {
            message(target, "customer@example.org", OutboundContent::text("hi"))
        };
        for (host, address) in [
            ("127.0.0.1", "127.0.0.1"),
            ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ] {
            let target = mailbox_at(host, server.port, "false");
            let error = SmtpSender::new(EgressPolicy::default())
                .send(&target, &hello(&target))
                .await
                .unwrap_err();
            assert!(matches!(error, SendError::Permanent(_)), "{error}");
            assert!(!error.is_retryable());
            assert!(
                error
                    .to_string()
                    .contains(&format!("address {address} is loopback")),
                "{error}"
            );
            assert!(
                error.to_string().contains("not in the egress allow-list"),
                "{error}"
            );
        }
        assert_eq!(server.connections(), 0);
        let target = mailbox(server.port, "false");
        let allowed = SmtpSender::new(EgressPolicy::parse("127.0.0.0/8").unwrap())
            .send(&target, &hello(&target))
            .await;
        assert!(allowed.is_ok(), "{allowed:?}");
        assert_eq!(server.connections(), 1);
    }

    #[tokio::test]
    async fn a_host_name_is_resolved_once_and_refused_if_any_address_is() {
        let server = FakeSmtp::start(Replies::default()).await;
        let target = mailbox_at("mail.test", server.port, "false");
        let command = message(&target, "customer@example.org", OutboundContent::text("hi"));
        // The allowed address first: a check of the first answer only would connect to it.
        let mixed = policy("127.0.0.1/32", &["127.0.0.1", "10.20.30.40"]);
        let error = SmtpSender::new(mixed)
            .send(&target, &command)
            .await
            .unwrap_err();
        assert!(matches!(error, SendError::Permanent(_)), "{error}");
        assert!(
            error.to_string().contains("address 10.20.30.40 is private"),
            "{error}"
        );
        assert_eq!(server.connections(), 0);
        let loopback = policy("127.0.0.1/32", &["127.0.0.1"]);
        SmtpSender::new(loopback)
            .send(&target, &command)
            .await
            .unwrap();
        assert_eq!(server.connections(), 1);
        assert_eq!(
            server.session().rcpt_to,
            vec!["<customer@example.org>".to_owned()]
        );
    }

    #[tokio::test]
    async fn a_listed_host_and_port_is_reached_whatever_its_address() {
        let server = FakeSmtp::start(Replies::default()).await;
        let target = mailbox_at("MAIL.test", server.port, "false");
        let command = message(&target, "customer@example.org", OutboundContent::text("hi"));
        let listed = policy(&format!("mail.test:{}", server.port), &["127.0.0.1"]);
        SmtpSender::new(listed)
            .send(&target, &command)
            .await
            .unwrap();
        assert_eq!(server.connections(), 1);
        let other_port = policy(&format!("mail.test:{}", server.port ^ 1), &["127.0.0.1"]);
        let error = SmtpSender::new(other_port)
            .send(&target, &command)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("loopback"), "{error}");
        assert_eq!(server.connections(), 1);
    }

    #[tokio::test]
    async fn an_unresolvable_host_is_a_temporary_failure() {
        let target = mailbox_at("nowhere.test", 2525, "false");
        let command = message(&target, "customer@example.org", OutboundContent::text("hi"));
        let error = SmtpSender::new(policy("", &[]))
            .send(&target, &command)
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains("nowhere.test"), "{error}");
    }

    #[tokio::test]
    async fn an_attachment_url_to_the_metadata_address_is_refused_and_nothing_sent() {
        let server = FakeSmtp::start(Replies::default()).await;
        let target = mailbox(server.port, "false");
        let mut content = OutboundContent::text("Your label");
        content.attachments.push(OutboundAttachment {
            kind: switchboard_domain::message::AttachmentKind::File,
            url: "http://169.254.169.254/latest/meta-data/iam/security-credentials/".into(),
        });
        let command = message(&target, "customer@example.org", content);
        let error = SmtpSender::new(test_policy())
            .send(&target, &command)
            .await
            .unwrap_err();
        assert!(matches!(error, SendError::Permanent(_)), "{error}");
        assert!(
            error
                .to_string()
                .contains("attachment 1: egress policy refused the destination: address 169.254.169.254 is link-local"),
            "{error}"
        );
        assert!(
            !error.to_string().contains("security-credentials"),
            "{error}"
        );
        assert_eq!(server.connections(), 0);
    }
}
