//! Mail servers whose certificates a private CA issued: trusted once the operator names the
//! CA in `mail_ca_file`, for the connect probe, the mailbox readers' connector and SMTP sends
//! alike, and refused at the TLS stage without it.

use super::servers::{Dovecot, Smtpd, PASSWORD, USER};
use crate::helpers::TEST_EGRESS_ALLOW;
use std::collections::BTreeMap;
use switchboard_adapters::channels::account_lifecycle::{AccountError, MailStage};
use switchboard_adapters::channels::imap_probe::{ImapLogin, ImapProbe};
use switchboard_adapters::channels::sender::{ChannelSender, SendTarget};
use switchboard_adapters::channels::smtp::SmtpSender;
use switchboard_adapters::channels::webhook::WebhookSecrets;
use switchboard_adapters::egress::EgressPolicy;
use switchboard_adapters::mailbox::{ImapConnector, MailboxError};
use switchboard_api::config::{Config, ConfigError};
use switchboard_domain::message::{OutboundContent, SendMessage};
use switchboard_domain::{ChannelKind, IntegrationId, SecretString};

/// The egress policy of a service configured with `mail_ca_file`.
fn configured(mail_ca_file: Option<String>) -> Result<EgressPolicy, ConfigError> {
    Config {
        egress_allow: Some(TEST_EGRESS_ALLOW.into()),
        mail_ca_file,
        ..Config::default()
    }
    .egress_policy()
}

/// An SMTP integration sending through `smtp` with STARTTLS required.
fn smtp_target(smtp: &Smtpd) -> SendTarget {
    let fields: BTreeMap<String, SecretString> = [
        ("host", "localhost".to_owned()),
        ("port", smtp.port.to_string()),
        ("starttls", "true".to_owned()),
        ("username", USER.to_owned()),
        ("password", PASSWORD.to_owned()),
        ("from_address", "support@shop.test".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), SecretString::new(v)))
    .collect();
    SendTarget {
        integration_id: IntegrationId::new(),
        workspace_id: "acme".parse().unwrap(),
        channel: ChannelKind::parse("smtp").unwrap(),
        version: 2,
        api_base: String::new(),
        secrets: WebhookSecrets::new(fields, BTreeMap::new()),
    }
}

fn message(target: &SendTarget) -> SendMessage {
    SendMessage {
        message_id: uuid::Uuid::new_v4(),
        integration_id: target.integration_id,
        workspace_id: target.workspace_id.clone(),
        channel: target.channel.clone(),
        conversation_key: format!("{}:ann@example.com", target.integration_id),
        recipient: "ann@example.com".into(),
        content: OutboundContent::text("Your order left today."),
        idempotency_key: None,
        requested_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn mail_servers_of_a_private_ca_are_trusted_once_mail_ca_file_names_it() {
    let imap = Dovecot::start().await;
    let smtp = Smtpd::start_with_tls(imap.ca()).await;
    let ca_file = std::env::temp_dir().join(format!("sb-mail-ca-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&ca_file, imap.ca().pem()).unwrap();
    let login = ImapLogin {
        host: "localhost",
        port: imap.port,
        username: USER,
        password: PASSWORD,
    };
    let target = smtp_target(&smtp);

    // Without the CA: every mail client refuses the servers' certificates.
    let public_only = configured(None).unwrap();
    let refused = ImapProbe::new(public_only.clone()).login(&login).await;
    assert!(
        matches!(
            refused,
            Err(AccountError::Mail {
                stage: MailStage::Tls,
                ..
            })
        ),
        "{refused:?}"
    );
    let refused = ImapConnector::new(public_only.clone())
        .connect(&imap.settings())
        .await
        .map(|_| ());
    assert!(matches!(refused, Err(MailboxError::Tls(_))), "{refused:?}");
    let refused = SmtpSender::new(public_only)
        .send(&target, &message(&target))
        .await;
    let refusal = format!(
        "{:?}",
        refused.expect_err("the SMTP certificate is refused")
    );
    assert!(refusal.to_lowercase().contains("certificate"), "{refusal}");
    assert!(smtp.received(0).await.is_empty());

    // With it: the probe, the readers' connector and the SMTP sender all connect.
    let trusted = configured(Some(ca_file.display().to_string())).unwrap();
    ImapProbe::new(trusted.clone())
        .login(&login)
        .await
        .expect("the probe trusts the configured CA");
    let mut session = ImapConnector::new(trusted.clone())
        .connect(&imap.settings())
        .await
        .expect("the readers trust the configured CA");
    let _ = session.logout().await;
    SmtpSender::new(trusted)
        .send(&target, &message(&target))
        .await
        .expect("SMTP sends trust the configured CA");
    let received = smtp.received(1).await;
    assert_eq!(received.len(), 1);
    assert!(received[0].contains("Your order left today."));
    std::fs::remove_file(&ca_file).unwrap();
}

#[tokio::test]
async fn a_mail_ca_file_that_is_missing_or_holds_no_certificate_is_a_configuration_error() {
    let missing = configured(Some("/nonexistent/mail-ca.pem".into()));
    assert!(
        matches!(missing, Err(ConfigError::MailCa(_))),
        "{missing:?}"
    );
    let empty = std::env::temp_dir().join(format!("sb-mail-ca-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let invalid = configured(Some(empty.display().to_string()));
    assert!(
        matches!(invalid, Err(ConfigError::MailCa(_))),
        "{invalid:?}"
    );
    std::fs::remove_file(&empty).unwrap();
}
