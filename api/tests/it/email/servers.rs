//! The real mail servers of the e-mail tests: a dovecot IMAP server of the test's own
//! (through `deploy/dovecot/node.sh`: own folder, port, user and certificate, STARTTLS
//! required), which a test may stop and start again on the same mail; an aiosmtpd SMTP server
//! (`deploy/smtp/node.py`, plain or STARTTLS); the private CA issuing their certificates
//! ([`TestCa`]); and the readers' shared parts on a fresh database and the mock Kafka cluster.
//!
//! dovecot is installed by `deploy/test.sh` (`ensure_dovecot`, which exports
//! `SWITCHBOARD_TEST_DOVECOT`); a machine without it fails these tests, naming the step.

use crate::helpers::{TestApp, TestKafka, TEST_EGRESS_ALLOW};
use crate::processes::{free_port, tail, Running};
use serde_json::json;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use switchboard_adapters::egress::{EgressPolicy, MailTls};
use switchboard_adapters::inbound::InboundPublisher;
use switchboard_adapters::kafka::{EventProducer, KafkaSettings, Topics};
use switchboard_adapters::mailbox::cursor::MailboxCursors;
use switchboard_adapters::mailbox::reader::DEFAULT_MAX_MAIL_BYTES;
use switchboard_adapters::mailbox::{
    ImapConnector, MailboxSettings, MailboxThreads, ReaderParts, ReaderTiming,
};
use switchboard_adapters::store::{CommandMetadata, IntegrationStore};
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::{AccountInfo, IntegrationCommand};
use switchboard_domain::{ChannelKind, IntegrationId, SecretString};

/// The mailbox user every test server has.
pub const USER: &str = "support";
/// Its password.
pub const PASSWORD: &str = "imap-secret-4711";

/// How long a dovecot may take to start.
const START_LIMIT: Duration = Duration::from_secs(30);

/// The dovecot binary the test set-up provided, or a failure saying how to provide it.
fn dovecot_installed() {
    let binary =
        std::env::var("SWITCHBOARD_TEST_DOVECOT").unwrap_or_else(|_| "/usr/sbin/dovecot".into());
    assert!(
        std::path::Path::new(&binary).exists(),
        "dovecot is not installed ({binary}): deploy/test.sh installs it (ensure_dovecot), \
         or run `apt-get install -y dovecot-imapd`"
    );
}

/// A private certificate authority of the test's own, issuing the mail servers' certificates.
pub struct TestCa {
    key: rcgen::KeyPair,
    certificate: rcgen::Certificate,
}

impl TestCa {
    /// A new CA.
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Switchboard test mail CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        Self { key, certificate }
    }

    /// A certificate for `host` signed by this CA, and its key, both PEM.
    pub fn issue(&self, host: &str) -> (String, String) {
        let params = rcgen::CertificateParams::new(vec![host.to_owned()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .unwrap();
        (certificate.pem(), key.serialize_pem())
    }

    /// The CA's certificate, PEM (what an operator's `mail_ca_file` holds).
    pub fn pem(&self) -> String {
        self.certificate.pem()
    }

    /// The CA's certificate, DER.
    pub fn der(&self) -> rustls::pki_types::CertificateDer<'static> {
        self.certificate.der().clone()
    }
}

/// A dovecot IMAP server of the test's own.
pub struct Dovecot {
    dir: PathBuf,
    /// Its STARTTLS port on 127.0.0.1.
    pub port: u16,
    idle: bool,
    ca: TestCa,
    process: Option<Running>,
}

impl Dovecot {
    /// A server offering IDLE.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// A server that does not offer IDLE, so readers poll it.
    pub async fn start_without_idle() -> Self {
        Self::start_with(false).await
    }

    async fn start_with(idle: bool) -> Self {
        dovecot_installed();
        let dir = std::env::temp_dir().join(format!("sb-imap-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = TestCa::new();
        let (cert, key) = ca.issue("localhost");
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        let mut server = Self {
            dir,
            port: free_port(),
            idle,
            ca,
            process: None,
        };
        server.launch().await;
        server
    }

    /// The mailbox of [`USER`] on this server.
    pub fn settings(&self) -> MailboxSettings {
        self.settings_with_password(PASSWORD)
    }

    /// The same mailbox, logging in with `password`.
    pub fn settings_with_password(&self, password: &str) -> MailboxSettings {
        MailboxSettings {
            host: "localhost".into(),
            port: self.port,
            username: USER.into(),
            password: SecretString::new(password),
            folder: "INBOX".into(),
        }
    }

    /// A connector trusting this server's CA, on the tests' egress policy.
    pub fn connector(&self) -> ImapConnector {
        ImapConnector::new(self.policy())
    }

    /// The tests' egress policy, trusting only this server's CA for mail servers.
    pub fn policy(&self) -> EgressPolicy {
        EgressPolicy::from_config(Some(TEST_EGRESS_ALLOW))
            .unwrap()
            .with_mail_tls(MailTls::trusting_only(vec![self.ca.der()]))
    }

    /// The private CA that issued this server's certificate.
    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// Delivers `raw` into the inbox with IMAP APPEND, as a mail client would.
    pub async fn append(&self, raw: &str) {
        let mut session = self
            .connector()
            .connect(&self.settings())
            .await
            .expect("the test server accepts its user");
        session
            .append("INBOX", None, None, raw.replace('\n', "\r\n"))
            .await
            .expect("APPEND");
        let _ = session.logout().await;
    }

    /// Delivers `raw` straight into the user's Maildir (written in `tmp/`, then renamed into
    /// `new/`), as a mail transfer agent does, which works while the server is stopped.
    pub fn deliver(&self, raw: &str) {
        let maildir = self.dir.join("home").join(USER).join("Maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let name = format!("{}.test.localhost", uuid::Uuid::new_v4().simple());
        let written = maildir.join("tmp").join(&name);
        std::fs::write(&written, raw.replace('\n', "\r\n")).unwrap();
        std::fs::rename(&written, maildir.join("new").join(&name)).unwrap();
    }

    /// Stops the server (SIGTERM: it closes every session).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate();
            if process.wait_exit(Duration::from_secs(15)).is_none() {
                process.kill();
            }
        }
    }

    /// Starts the server again on the same mail and port.
    pub async fn start_again(&mut self) {
        self.stop();
        self.launch().await;
    }

    async fn launch(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/dovecot/node.sh");
        let log_path = self.dir.with_extension("log");
        let log = File::create(&log_path).unwrap();
        let child = Command::new("bash")
            .arg(script)
            .arg(&self.dir)
            .arg(self.port.to_string())
            .arg(USER)
            .arg(PASSWORD)
            .env("NO_IDLE", if self.idle { "0" } else { "1" })
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("deploy/dovecot/node.sh starts");
        self.process = Some(Running(child));
        let deadline = Instant::now() + START_LIMIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "dovecot did not start:\n{}",
                tail(&log)
            );
            if let Some(process) = self.process.as_mut() {
                if let Some(status) = process.0.try_wait().unwrap() {
                    panic!("dovecot exited ({status}):\n{}", tail(&log));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("log"));
    }
}

/// What a test's readers publish to and store in: the mock cluster and an app on a fresh
/// database (its integration store holds the e-mail integrations).
pub struct ReaderRig {
    /// The mock Kafka cluster.
    pub kafka: TestKafka,
    /// The app whose database and integrations the readers use.
    pub app: TestApp,
    /// Its database.
    pub pool: sqlx::PgPool,
    /// The topic mail is published to.
    pub received_topic: String,
}

impl ReaderRig {
    /// A fresh app (database migrated) and cluster.
    pub async fn new() -> Self {
        let kafka = TestKafka::new();
        let app = TestApp::new(&kafka).await;
        let pool = app.pool();
        let received_topic = Topics::with_prefix(&kafka.prefix).received;
        Self {
            kafka,
            app,
            pool,
            received_topic,
        }
    }

    /// The app's integration store.
    pub fn integrations(&self) -> IntegrationStore {
        self.app.app.as_ref().unwrap().state.integrations.clone()
    }

    /// A connected e-mail integration of workspace `acme` whose mailbox is [`USER`]'s on
    /// `server` (recorded as connecting records it; the connect probe itself is tested
    /// against the same server in `inbound`).
    pub async fn connected_mailbox(&self, server: &Dovecot) -> IntegrationId {
        self.connected_mailbox_sending_to(server, 2525).await
    }

    /// The same, its replies sent to the SMTP server on loopback port `smtp_port` (without
    /// STARTTLS, as [`Smtpd`] speaks it).
    pub async fn connected_mailbox_sending_to(
        &self,
        server: &Dovecot,
        smtp_port: u16,
    ) -> IntegrationId {
        let id = IntegrationId::new();
        let fields = json!({
            "imap_host": "localhost", "imap_port": server.port,
            "smtp_host": "localhost", "smtp_port": smtp_port, "smtp_starttls": false,
            "username": USER, "password": PASSWORD, "address": "support@shop.test",
        });
        let auth = AuthInput(serde_json::from_value(fields).unwrap());
        let store = self.integrations();
        let create = IntegrationCommand::Create {
            integration_id: id,
            workspace_id: "acme".parse().unwrap(),
            channel: ChannelKind::parse("email").unwrap(),
            name: "Support".into(),
            auth: Some(auth),
        };
        let metadata = CommandMetadata::default;
        store.execute(id, create, metadata()).await.unwrap();
        let connect = IntegrationCommand::Connect {
            auth: None,
            account: Some(AccountInfo {
                external_id: Some("support@shop.test".into()),
                display_name: None,
            }),
            account_verified: true,
        };
        store.execute(id, connect, metadata()).await.unwrap();
        id
    }

    /// Readers' parts connecting to `server`, polling and reconnecting quickly.
    pub fn parts(&self, server: &Dovecot) -> ReaderParts {
        let producer = EventProducer::new(&KafkaSettings::new(self.kafka.brokers())).unwrap();
        ReaderParts {
            connector: server.connector(),
            publisher: InboundPublisher::new(
                producer,
                self.received_topic.clone(),
                Duration::from_secs(5),
            ),
            cursors: MailboxCursors::new(self.pool.clone()),
            threads: MailboxThreads::new(self.pool.clone()),
            timing: ReaderTiming {
                poll_interval: Duration::from_millis(200),
                idle_timeout: Duration::from_secs(20),
                backoff: vec![Duration::from_millis(200), Duration::from_millis(500)],
                refused_login_backoff: Duration::from_secs(1),
            },
            max_mail_bytes: DEFAULT_MAX_MAIL_BYTES,
        }
    }
}

/// An SMTP server of the test's own (aiosmtpd through `deploy/smtp/node.py`), keeping every
/// message it accepts.
pub struct Smtpd {
    dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    _process: Running,
}

impl Smtpd {
    /// Starts the server for [`USER`] and [`PASSWORD`], without TLS, and waits until it
    /// listens.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// The same, requiring STARTTLS with a certificate for `localhost` issued by `ca`.
    pub async fn start_with_tls(ca: &TestCa) -> Self {
        Self::start_with(Some(ca)).await
    }

    async fn start_with(ca: Option<&TestCa>) -> Self {
        let python = std::env::var("SWITCHBOARD_TEST_SMTPD_PYTHON").expect(
            "SWITCHBOARD_TEST_SMTPD_PYTHON names the python with aiosmtpd: deploy/test.sh \
             sets it (ensure_aiosmtpd in deploy/common.sh)",
        );
        let dir = std::env::temp_dir().join(format!("sb-smtp-{}", uuid::Uuid::new_v4().simple()));
        let port = free_port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/smtp/node.py");
        let log_path = dir.with_extension("log");
        let log = File::create(&log_path).unwrap();
        let mut command = Command::new(python);
        command
            .arg(script)
            .arg(&dir)
            .arg(port.to_string())
            .arg(USER)
            .arg(PASSWORD);
        if let Some(ca) = ca {
            std::fs::create_dir_all(&dir).unwrap();
            let (cert, key) = ca.issue("localhost");
            std::fs::write(dir.join("cert.pem"), cert).unwrap();
            std::fs::write(dir.join("key.pem"), key).unwrap();
            command.arg(dir.join("cert.pem")).arg(dir.join("key.pem"));
        }
        let child = command
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("deploy/smtp/node.py starts");
        let mut process = Running(child);
        let deadline = Instant::now() + START_LIMIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start:\n{}",
                tail(&log)
            );
            if let Some(status) = process.0.try_wait().unwrap() {
                panic!("aiosmtpd exited ({status}):\n{}", tail(&log));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            dir,
            port,
            _process: process,
        }
    }

    /// The messages received so far, in order, waiting up to 10 s for at least `count`.
    pub async fn received(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            names.retain(|p| p.extension().is_some_and(|e| e == "eml"));
            names.sort();
            if names.len() >= count || Instant::now() > deadline {
                return names
                    .iter()
                    .map(|p| std::fs::read_to_string(p).unwrap())
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("log"));
    }
}
