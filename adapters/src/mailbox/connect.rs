//! Opening an authenticated IMAP session, for a mailbox reader and for the connect probe: the
//! host resolved through the egress policy (only the checked addresses are dialled), TLS from
//! the start on port 993 or after `STARTTLS` otherwise, certificates verified for the
//! configured host against the policy's mail roots, then `LOGIN`.
//!
//! Every step is bounded by [`CONNECT_TIMEOUT`]; a refusal says which step failed, with the
//! server's words and never the password.

use crate::channels::imap_probe::IMAP_IMPLICIT_TLS_PORT;
use crate::egress::allow_list::normalize_host;
use crate::egress::{EgressError, EgressPolicy};
use crate::mailbox::error::MailboxError;
use crate::mailbox::settings::MailboxSettings;
use async_imap::{Client, Session};
use rustls::pki_types::ServerName;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The longest one connecting step (TCP, TLS, greeting, STARTTLS, LOGIN) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// An authenticated IMAP session.
pub type ImapSession = Session<TlsStream<TcpStream>>;

/// Opens IMAP sessions under an egress policy, verifying certificates against its mail roots.
#[derive(Clone)]
pub struct ImapConnector {
    policy: EgressPolicy,
    tls: TlsConnector,
}

impl std::fmt::Debug for ImapConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapConnector").finish_non_exhaustive()
    }
}

impl ImapConnector {
    /// Reaching only the servers `policy` permits, trusting its mail roots
    /// ([`EgressPolicy::mail_tls`]: the public roots and the operator's mail CAs).
    pub fn new(policy: EgressPolicy) -> Self {
        let tls = TlsConnector::from(policy.mail_tls().client_config());
        Self { policy, tls }
    }

    /// An authenticated session on `settings`' server.
    pub async fn connect(&self, settings: &MailboxSettings) -> Result<ImapSession, MailboxError> {
        let password = settings.password.expose();
        if [settings.username.as_str(), password]
            .iter()
            .any(|s| s.contains(['\r', '\n', '\0']))
        {
            return Err(MailboxError::Authentication(
                "the credentials hold a line break or NUL".into(),
            ));
        }
        let host = normalize_host(&settings.host);
        let name = ServerName::try_from(host.clone())
            .map_err(|_| MailboxError::Tls("the host is not a TLS server name".into()))?;
        let tcp = self.dial(&host, settings.port).await?;
        let tls = if settings.port == IMAP_IMPLICIT_TLS_PORT {
            let tls = step(self.tls.connect(name, tcp), MailboxError::Tls).await?;
            let mut client = Client::new(tls);
            greeting(&mut client).await?;
            client
        } else {
            let mut plain = Client::new(tcp);
            greeting(&mut plain).await?;
            step(plain.run_command_and_check_ok("STARTTLS", None), |e| {
                MailboxError::Tls(format!("the server refused STARTTLS: {e}"))
            })
            .await?;
            let tls = step(
                self.tls.connect(name, plain.into_inner()),
                MailboxError::Tls,
            )
            .await?;
            Client::new(tls)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, tls.login(&settings.username, password)).await {
            Ok(Ok(session)) => Ok(session),
            Ok(Err((error, _))) => Err(MailboxError::Authentication(blot(
                &error.to_string(),
                &[password],
            ))),
            Err(_) => Err(MailboxError::Protocol("the login was not answered".into())),
        }
    }

    /// A TCP connection to the first permitted address of `host` that answers.
    async fn dial(&self, host: &str, port: u16) -> Result<TcpStream, MailboxError> {
        let addresses = self.policy.resolve(host, port).await.map_err(|e| match e {
            EgressError::Unresolved { .. } => MailboxError::Unreachable(e.to_string()),
            refused => MailboxError::Refused(refused),
        })?;
        let mut last = MailboxError::Unreachable("the host has no address".into());
        for address in addresses {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(error)) => last = MailboxError::Connect(error.to_string()),
                Err(_) => last = MailboxError::Connect("connecting timed out".into()),
            }
        }
        Err(last)
    }
}

/// `future` within [`CONNECT_TIMEOUT`], its failure made an error by `fail`.
async fn step<T, E: std::fmt::Display>(
    future: impl Future<Output = Result<T, E>>,
    fail: impl Fn(String) -> MailboxError,
) -> Result<T, MailboxError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(fail(error.to_string())),
        Err(_) => Err(fail("the server stopped answering".into())),
    }
}

/// Reads the server's greeting.
async fn greeting<S>(client: &mut Client<S>) -> Result<(), MailboxError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    match tokio::time::timeout(CONNECT_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(MailboxError::Protocol(
            "the server closed the connection before greeting".into(),
        )),
        Ok(Err(error)) => Err(MailboxError::Protocol(error.to_string())),
        Err(_) => Err(MailboxError::Protocol("no greeting".into())),
    }
}

/// `text` with every non-empty secret replaced, should a server echo one.
fn blot(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |t, s| t.replace(s, "[redacted]"))
}
