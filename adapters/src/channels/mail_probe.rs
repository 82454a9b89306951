//! Proving a mail login without sending anything: an SMTP session (connect, EHLO, STARTTLS or
//! TLS per the settings, AUTH, QUIT) that names the stage that failed: DNS, TCP, TLS or
//! authentication.
//!
//! The server is the tenant's choice, so its host is resolved once through the egress policy
//! and only the checked addresses are connected to (TLS still verifies the certificate for the
//! configured host, against the policy's mail roots: the public ones and the operator's CAs). Details carry the server's code and words, with the credentials blotted
//! out should a server echo them.

use crate::channels::account_lifecycle::{AccountError, MailStage};
use crate::channels::sender::SEND_TIMEOUT;
use crate::egress::allow_list::normalize_host;
use crate::egress::{EgressError, EgressPolicy};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

/// The port where TLS starts before SMTP does (RFC 8314).
pub const SMTP_IMPLICIT_TLS_PORT: u16 = 465;

/// An SMTP server and the login to prove on it.
pub struct SmtpLogin<'a> {
    /// The host as configured.
    pub host: &'a str,
    /// Its port.
    pub port: u16,
    /// Whether STARTTLS is required on a port other than 465.
    pub starttls: bool,
    /// The user name.
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
}

/// Resolves `host:port` through `policy`: a name that does not resolve fails at the DNS stage.
pub async fn resolve(
    policy: &EgressPolicy,
    protocol: &'static str,
    host: &str,
    port: u16,
) -> Result<Vec<std::net::SocketAddr>, AccountError> {
    match policy.resolve(host, port).await {
        Ok(addresses) if !addresses.is_empty() => Ok(addresses),
        Ok(_) => Err(AccountError::Mail {
            protocol,
            stage: MailStage::Dns,
            detail: "the host has no address".into(),
        }),
        Err(EgressError::Unresolved { detail, .. }) => Err(AccountError::Mail {
            protocol,
            stage: MailStage::Dns,
            detail,
        }),
        Err(other) => Err(other.into()),
    }
}

/// Opens an SMTP session with `login` and authenticates, then quits.
pub async fn smtp_login(policy: &EgressPolicy, login: &SmtpLogin<'_>) -> Result<(), AccountError> {
    let host = normalize_host(login.host);
    let addresses = resolve(policy, "SMTP", &host, login.port).await?;
    let tls_parameters = || {
        policy
            .mail_tls()
            .smtp_parameters(&host)
            .map_err(|e| AccountError::Mail {
                protocol: "SMTP",
                stage: MailStage::Tls,
                detail: e.to_string(),
            })
    };
    let tls = if login.port == SMTP_IMPLICIT_TLS_PORT {
        Tls::Wrapper(tls_parameters()?)
    } else if login.starttls {
        Tls::Required(tls_parameters()?)
    } else {
        Tls::None
    };
    let credentials = Credentials::new(login.username.into(), login.password.into());
    let mut last = None;
    for address in addresses {
        let transport: AsyncSmtpTransport<Tokio1Executor> =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.ip().to_string())
                .port(address.port())
                .tls(tls.clone())
                .credentials(credentials.clone())
                .timeout(Some(SEND_TIMEOUT))
                .build();
        match transport.test_connection().await {
            Ok(_) => return Ok(()),
            Err(error) => {
                let failure = classify(&error, &[login.username, login.password]);
                // Nothing was said yet: the host's next address may take the connection.
                if !matches!(
                    failure,
                    AccountError::Mail {
                        stage: MailStage::Tcp,
                        ..
                    }
                ) {
                    return Err(failure);
                }
                last = Some(failure);
            }
        }
    }
    Err(last.unwrap_or_else(|| AccountError::unavailable("the SMTP host has no address")))
}

/// The stage a failed SMTP exchange stopped at; `secrets` are blotted out of the detail.
fn classify(error: &lettre::transport::smtp::Error, secrets: &[&str]) -> AccountError {
    let words = std::error::Error::source(error)
        .map(|s| s.to_string())
        .unwrap_or_else(|| error.to_string());
    let detail = secrets
        .iter()
        .filter(|s| s.len() >= 3)
        .fold(words.trim().to_owned(), |t, s| t.replace(s, "[redacted]"));
    let stage = if let Some(code) = error.status() {
        let code = u16::from(code);
        return AccountError::Mail {
            protocol: "SMTP",
            stage: if matches!(code, 530 | 534 | 535 | 454) {
                MailStage::Authentication
            } else {
                MailStage::Protocol
            },
            detail: format!("{code}: {detail}"),
        };
    } else if error.is_tls() || detail.to_ascii_uppercase().contains("STARTTLS") {
        MailStage::Tls
    } else if error.is_timeout() || is_io(error) {
        MailStage::Tcp
    } else if detail.contains("authentication") || detail.contains("mechanism") {
        MailStage::Authentication
    } else {
        MailStage::Protocol
    };
    AccountError::Mail {
        protocol: "SMTP",
        stage,
        detail,
    }
}

/// Whether an I/O error (the connection refused, reset, unreachable) is in `error`'s chain.
fn is_io(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}
