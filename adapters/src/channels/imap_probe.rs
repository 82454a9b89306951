//! Proving an IMAP login without reading anything (RFC 9051): the mailbox readers' own
//! connector ([`ImapConnector`]) opens the session (the host resolved through the egress
//! policy and only the checked addresses dialled, TLS from the start on port 993 or
//! `STARTTLS` otherwise, the certificate verified against the policy's mail roots, `LOGIN`),
//! then `LOGOUT`. A failure names its stage: DNS, TCP, TLS, authentication or protocol.
//!
//! Details carry the server's words, with the credentials blotted out should a server echo
//! them.

use crate::channels::account_lifecycle::{AccountError, MailStage};
use crate::egress::EgressPolicy;
use crate::mailbox::connect::CONNECT_TIMEOUT;
use crate::mailbox::{ImapConnector, MailboxError, MailboxSettings};
use switchboard_domain::SecretString;

/// The port where TLS starts before IMAP does (RFC 8314).
pub const IMAP_IMPLICIT_TLS_PORT: u16 = 993;
const PROTOCOL: &str = "IMAP";

/// An IMAP server and the login to prove on it.
pub struct ImapLogin<'a> {
    /// The host as configured.
    pub host: &'a str,
    /// Its port.
    pub port: u16,
    /// The user name.
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
}

/// Proves IMAP logins under an egress policy (and its mail roots).
#[derive(Debug, Clone)]
pub struct ImapProbe {
    connector: ImapConnector,
}

impl ImapProbe {
    /// Reaching only the servers `policy` permits, trusting its mail roots.
    pub fn new(policy: EgressPolicy) -> Self {
        Self {
            connector: ImapConnector::new(policy),
        }
    }

    /// Opens an IMAP session with `login`, logs in, then logs out.
    pub async fn login(&self, login: &ImapLogin<'_>) -> Result<(), AccountError> {
        let secrets = [login.username, login.password];
        if secrets.iter().any(|s| s.contains(['\r', '\n', '\0'])) {
            return Err(AccountError::Refused(
                "IMAP credentials cannot hold line breaks or NUL".into(),
            ));
        }
        let settings = MailboxSettings {
            host: login.host.to_owned(),
            port: login.port,
            username: login.username.to_owned(),
            password: SecretString::new(login.password),
            folder: crate::mailbox::settings::DEFAULT_FOLDER.to_owned(),
        };
        let mut session = self
            .connector
            .connect(&settings)
            .await
            .map_err(|e| failure(e, &secrets))?;
        let _ = tokio::time::timeout(CONNECT_TIMEOUT, session.logout()).await;
        Ok(())
    }
}

/// The account error of a failed connection, its detail blotted of `secrets`.
fn failure(error: MailboxError, secrets: &[&str]) -> AccountError {
    let stage = match &error {
        MailboxError::Refused(refused) => return refused.clone().into(),
        MailboxError::Unreachable(_) => MailStage::Dns,
        MailboxError::Connect(_) => MailStage::Tcp,
        MailboxError::Tls(_) => MailStage::Tls,
        MailboxError::Authentication(_) => MailStage::Authentication,
        MailboxError::Protocol(_) => MailStage::Protocol,
        MailboxError::Store(_) | MailboxError::Broker(_) => {
            return AccountError::unavailable(error.to_string())
        }
    };
    AccountError::Mail {
        protocol: PROTOCOL,
        stage,
        detail: blot(&error.to_string(), secrets),
    }
}

/// `text` with every secret of three or more characters replaced.
fn blot(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 3)
        .fold(text.to_owned(), |t, s| t.replace(s, "[redacted]"))
}

#[cfg(test)]
mod tests;
