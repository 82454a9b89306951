//! The probe against a scripted IMAP server on loopback that speaks STARTTLS with a
//! certificate of a private CA the probe is told to trust.

use super::*;
use crate::egress::MailTls;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const USER: &str = "inbox@example.com";
const PASSWORD: &str = "correct horse";

/// How the fake answers.
#[derive(Clone, Copy)]
enum Script {
    /// STARTTLS, then LOGIN accepted for [`USER`] and [`PASSWORD`] only.
    Normal,
    /// STARTTLS refused.
    NoStartTls,
    /// STARTTLS accepted, then bytes that are not TLS.
    BrokenTls,
}

/// A certificate for `localhost` and its key, and a probe trusting it.
fn tls_pair() -> (Arc<rustls::ServerConfig>, ImapProbe) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = CertificateDer::from(certified.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let policy = EgressPolicy::from_config(Some("127.0.0.0/8"))
        .unwrap()
        .with_mail_tls(MailTls::trusting_only(vec![cert]));
    (Arc::new(server), ImapProbe::new(policy))
}

/// Serves one session per connection; returns the port.
async fn fake_server(script: Script, tls: Arc<rustls::ServerConfig>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                let _ = serve(stream, script, tls).await;
            });
        }
    });
    port
}

async fn serve(
    stream: TcpStream,
    script: Script,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    let mut plain = BufReader::new(stream);
    plain
        .get_mut()
        .write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
        .await?;
    let mut line = String::new();
    plain.read_line(&mut line).await?;
    assert!(line.ends_with("STARTTLS\r\n"), "{line}");
    let tag = line.split(' ').next().unwrap_or_default().to_owned();
    match script {
        Script::NoStartTls => {
            let refusal = format!("{tag} NO STARTTLS unavailable\r\n");
            return plain.get_mut().write_all(refusal.as_bytes()).await;
        }
        Script::BrokenTls => {
            let go = format!("{tag} OK begin TLS\r\n");
            plain.get_mut().write_all(go.as_bytes()).await?;
            return plain
                .get_mut()
                .write_all(b"this is not a TLS record at all\r\n")
                .await;
        }
        Script::Normal => {
            let go = format!("{tag} OK begin TLS\r\n");
            plain.get_mut().write_all(go.as_bytes()).await?
        }
    }
    let secure = TlsAcceptor::from(tls).accept(plain.into_inner()).await?;
    let mut secure = BufReader::new(secure);
    line.clear();
    secure.read_line(&mut line).await?;
    let (tag, command) = line.split_once(' ').unwrap_or_default();
    let expected = format!("LOGIN \"{USER}\" \"{PASSWORD}\"\r\n");
    let answer = if command == expected {
        format!("{tag} OK LOGIN completed\r\n")
    } else {
        format!("{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")
    };
    secure.get_mut().write_all(answer.as_bytes()).await?;
    secure.get_mut().flush().await
}

fn login(port: u16, password: &str) -> ImapLogin<'_> {
    ImapLogin {
        host: "localhost",
        port,
        username: USER,
        password,
    }
}

fn stage_of(outcome: Result<(), AccountError>) -> MailStage {
    match outcome {
        Err(AccountError::Mail { stage, .. }) => stage,
        other => panic!("not a mail failure: {other:?}"),
    }
}

#[tokio::test]
async fn a_login_is_proven_over_starttls_and_a_wrong_password_is_authentication() {
    let (tls, probe) = tls_pair();
    let port = fake_server(Script::Normal, tls).await;
    probe.login(&login(port, PASSWORD)).await.unwrap();
    let refused = probe.login(&login(port, "wrong password")).await;
    let Err(AccountError::Mail { stage, detail, .. }) = refused else {
        panic!("accepted: {refused:?}");
    };
    assert_eq!(stage, MailStage::Authentication);
    assert!(
        detail.to_lowercase().contains("authenticationfailed")
            && !detail.contains("wrong password"),
        "{detail}"
    );
}

#[tokio::test]
async fn tls_failures_are_named_tls_and_an_untrusted_certificate_is_one() {
    let (tls, probe) = tls_pair();
    for script in [Script::NoStartTls, Script::BrokenTls] {
        let port = fake_server(script, tls.clone()).await;
        assert_eq!(
            stage_of(probe.login(&login(port, PASSWORD)).await),
            MailStage::Tls
        );
    }
    let port = fake_server(Script::Normal, tls).await;
    let (_, stranger) = tls_pair();
    assert_eq!(
        stage_of(stranger.login(&login(port, PASSWORD)).await),
        MailStage::Tls,
        "a certificate of another CA"
    );
}

#[tokio::test]
async fn an_unknown_host_is_dns_and_a_closed_port_is_tcp() {
    let (_, probe) = tls_pair();
    let unknown = ImapLogin {
        host: "imap.nowhere.invalid",
        ..login(143, PASSWORD)
    };
    assert_eq!(stage_of(probe.login(&unknown).await), MailStage::Dns);
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    assert_eq!(
        stage_of(probe.login(&login(port, PASSWORD)).await),
        MailStage::Tcp
    );
}

#[tokio::test]
async fn credentials_with_line_breaks_are_refused_before_any_connection() {
    let (_, probe) = tls_pair();
    let injected = login(1, "pw\r\na2 DELETE INBOX");
    assert!(matches!(
        probe.login(&injected).await,
        Err(AccountError::Refused(_))
    ));
}
