//! Proving an IMAP login without reading anything (RFC 9051): connect, TLS from the start on
//! port 993 or `STARTTLS` otherwise (a password never crosses the network in the clear),
//! `LOGIN`, `LOGOUT`; a failure names its stage: DNS, TCP, TLS or authentication.
//!
//! The server is the tenant's choice, so its host is resolved once through the egress policy
//! and only the checked addresses are connected to; TLS verifies the certificate for the
//! configured host against the public roots. Details carry the server's words, with the
//! credentials blotted out should a server echo them.

use crate::channels::account_lifecycle::{AccountError, MailStage};
use crate::channels::mail_probe::resolve;
use crate::channels::sender::SEND_TIMEOUT;
use crate::egress::allow_list::normalize_host;
use crate::egress::EgressPolicy;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The port where TLS starts before IMAP does (RFC 8314).
pub const IMAP_IMPLICIT_TLS_PORT: u16 = 993;
/// Longest server line read.
const MAX_LINE_BYTES: usize = 8 * 1024;
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

/// Proves IMAP logins under an egress policy, trusting a set of certificate roots.
#[derive(Clone)]
pub struct ImapProbe {
    policy: EgressPolicy,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ImapProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapProbe").finish_non_exhaustive()
    }
}

impl ImapProbe {
    /// Reaching only the servers `policy` permits, trusting the public (web PKI) roots.
    pub fn new(policy: EgressPolicy) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::trusting(policy, roots)
    }

    /// Reaching only the servers `policy` permits, trusting `roots` (a private CA).
    pub fn trusting(policy: EgressPolicy, roots: rustls::RootCertStore) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            policy,
            tls: Arc::new(tls),
        }
    }

    /// Opens an IMAP session with `login`, logs in, then logs out.
    pub async fn login(&self, login: &ImapLogin<'_>) -> Result<(), AccountError> {
        let host = normalize_host(login.host);
        let secrets = [login.username, login.password];
        let fail = |stage, detail: String| AccountError::Mail {
            protocol: PROTOCOL,
            stage,
            detail: blot(&detail, &secrets),
        };
        if [login.username, login.password]
            .iter()
            .any(|s| s.contains(['\r', '\n', '\0']))
        {
            return Err(AccountError::Refused(
                "IMAP credentials cannot hold line breaks or NUL".into(),
            ));
        }
        let name = ServerName::try_from(host.clone())
            .map_err(|_| fail(MailStage::Tls, "the host is not a TLS server name".into()))?;
        let addresses = resolve(&self.policy, PROTOCOL, &host, login.port).await?;
        let mut last = None;
        for address in addresses {
            match tokio::time::timeout(SEND_TIMEOUT, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => {
                    let session = self.session(stream, name.clone(), login);
                    return match tokio::time::timeout(SEND_TIMEOUT, session).await {
                        Ok(outcome) => outcome.map_err(|(stage, detail)| fail(stage, detail)),
                        Err(_) => Err(fail(MailStage::Tcp, "the server stopped answering".into())),
                    };
                }
                Ok(Err(error)) => last = Some(fail(MailStage::Tcp, error.to_string())),
                Err(_) => last = Some(fail(MailStage::Tcp, "connecting timed out".into())),
            }
        }
        Err(last.unwrap_or_else(|| AccountError::unavailable("the IMAP host has no address")))
    }

    /// The exchange on a connected `stream`: TLS, greeting, LOGIN, LOGOUT.
    async fn session(
        &self,
        stream: TcpStream,
        name: ServerName<'static>,
        login: &ImapLogin<'_>,
    ) -> Result<(), (MailStage, String)> {
        let connector = TlsConnector::from(self.tls.clone());
        let tls_failed = |e: std::io::Error| (MailStage::Tls, e.to_string());
        if login.port == IMAP_IMPLICIT_TLS_PORT {
            let tls = connector.connect(name, stream).await.map_err(tls_failed)?;
            let mut tls = BufReader::new(tls);
            greeting(&mut tls).await?;
            return authenticate(&mut tls, login).await;
        }
        let mut plain = BufReader::new(stream);
        greeting(&mut plain).await?;
        send(&mut plain, "s1 STARTTLS").await?;
        let answer = tagged(&mut plain, "s1").await?;
        if !answer.starts_with("s1 OK") {
            return Err((
                MailStage::Tls,
                format!("the server refused STARTTLS: {answer}"),
            ));
        }
        let tls = connector
            .connect(name, plain.into_inner())
            .await
            .map_err(tls_failed)?;
        authenticate(&mut BufReader::new(tls), login).await
    }
}

/// `LOGIN` then `LOGOUT` on an encrypted session.
async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    session: &mut BufReader<S>,
    login: &ImapLogin<'_>,
) -> Result<(), (MailStage, String)> {
    let command = format!(
        "a1 LOGIN {} {}",
        quoted(login.username),
        quoted(login.password)
    );
    send(session, &command).await?;
    let answer = tagged(session, "a1").await?;
    if !answer.starts_with("a1 OK") {
        return Err((MailStage::Authentication, answer));
    }
    let _ = send(session, "a2 LOGOUT").await;
    Ok(())
}

/// The server's greeting must be `* OK` (or `* PREAUTH`).
async fn greeting<S: AsyncRead + Unpin>(
    session: &mut BufReader<S>,
) -> Result<(), (MailStage, String)> {
    let line = read_line(session).await?;
    if line.starts_with("* OK") || line.starts_with("* PREAUTH") {
        Ok(())
    } else {
        Err((MailStage::Protocol, format!("not an IMAP greeting: {line}")))
    }
}

/// Reads lines until the one tagged `tag` (untagged data before it is skipped).
async fn tagged<S: AsyncRead + Unpin>(
    session: &mut BufReader<S>,
    tag: &str,
) -> Result<String, (MailStage, String)> {
    loop {
        let line = read_line(session).await?;
        if line.starts_with(&format!("{tag} ")) {
            return Ok(line);
        }
    }
}

async fn read_line<S: AsyncRead + Unpin>(
    session: &mut BufReader<S>,
) -> Result<String, (MailStage, String)> {
    let mut line = Vec::new();
    let read = (&mut *session)
        .take(MAX_LINE_BYTES as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| (MailStage::Tcp, e.to_string()))?;
    if read == 0 {
        return Err((MailStage::Tcp, "the server closed the connection".into()));
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    session: &mut BufReader<S>,
    command: &str,
) -> Result<(), (MailStage, String)> {
    let stream = session.get_mut();
    let written = async {
        stream.write_all(command.as_bytes()).await?;
        stream.write_all(b"\r\n").await?;
        stream.flush().await
    };
    written.await.map_err(|e| (MailStage::Tcp, e.to_string()))
}

/// An IMAP quoted string: backslash and double quote escaped.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
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
