//! Why a mailbox session ended: each variant says what happened, and whether trying again
//! later can help ([`MailboxError::is_retryable`]). Details never carry the password.

use crate::inbound::IngestError;
use crate::store::StoreError;

/// Why a mailbox reader's session ended.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// The host did not resolve, or has no address.
    #[error("the IMAP host cannot be reached: {0}")]
    Unreachable(String),
    /// The egress policy refuses the host (a tenant's mail server on a private address).
    #[error("the IMAP host is refused: {0}")]
    Refused(crate::egress::EgressError),
    /// TCP failed or timed out.
    #[error("connecting to the IMAP server failed: {0}")]
    Connect(String),
    /// The TLS handshake (or STARTTLS) failed.
    #[error("TLS with the IMAP server failed: {0}")]
    Tls(String),
    /// The server refused the login.
    #[error("the IMAP server refused the login: {0}")]
    Authentication(String),
    /// The server answered something unusable, closed the connection or stopped answering.
    #[error("the IMAP session failed: {0}")]
    Protocol(String),
    /// The folder's position could not be read or stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker did not acknowledge a mail's event.
    #[error(transparent)]
    Broker(#[from] IngestError),
}

impl MailboxError {
    /// Whether a later attempt can succeed without anyone changing the integration: every
    /// failure but a refused login or a host the egress policy refuses (which wait for new
    /// settings, retried only slowly).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Authentication(_) | Self::Refused(_))
    }

    /// The metric label of the failure.
    pub fn stage(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "dns",
            Self::Refused(_) => "egress",
            Self::Connect(_) => "tcp",
            Self::Tls(_) => "tls",
            Self::Authentication(_) => "authentication",
            Self::Protocol(_) => "protocol",
            Self::Store(_) => "store",
            Self::Broker(_) => "broker",
        }
    }
}

impl From<async_imap::error::Error> for MailboxError {
    fn from(error: async_imap::error::Error) -> Self {
        Self::Protocol(error.to_string())
    }
}
