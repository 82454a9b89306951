//! Connecting the SMTP send action: a real SMTP session with the server its `provider`, `host`,
//! `port` and `starttls` name (see [`crate::channels::smtp::presets`]), `username` and `password` (see [`crate::channels::mail_probe`]) proves the
//! login; the account is the `from_address`. Nothing is subscribed or revoked.

use crate::channels::account_lifecycle::{
    AccountError, AccountLifecycle, AccountTarget, VerifiedAccount,
};
use crate::channels::mail_probe::{smtp_login, SmtpLogin};
use crate::channels::smtp::presets::server_settings;
use crate::egress::EgressPolicy;
use async_trait::async_trait;

/// The SMTP send action's account lifecycle.
#[derive(Debug, Clone, Default)]
pub struct SmtpAccount {
    egress: EgressPolicy,
}

impl SmtpAccount {
    /// Reaching only the servers `egress` permits.
    pub fn new(egress: EgressPolicy) -> Self {
        Self { egress }
    }
}

#[async_trait]
impl AccountLifecycle for SmtpAccount {
    /// None: each integration names its own server.
    fn default_api_base(&self) -> &'static str {
        ""
    }

    async fn verify(&self, target: &AccountTarget) -> Result<VerifiedAccount, AccountError> {
        let server =
            server_settings(|name| target.secrets.get(name).ok().map(|v| v.expose().to_owned()))
                .map_err(|e| AccountError::Refused(e.to_string()))?;
        let login = SmtpLogin {
            host: &server.host,
            port: server.port,
            starttls: server.starttls(),
            username: target.secret("username")?.expose(),
            password: target.secret("password")?.expose(),
        };
        smtp_login(&self.egress, &login).await?;
        let from = target.field("from_address")?;
        Ok(VerifiedAccount {
            external_id: from.clone(),
            display_name: Some(from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::account_lifecycle::{testing::target, MailStage};
    use crate::channels::fake_platform::test_policy;
    use crate::channels::smtp::fake_server::{FakeSmtp, Replies};

    fn mailbox(host: &str, port: u16, starttls: &str) -> AccountTarget {
        let port = port.to_string();
        target(
            "smtp",
            "",
            &[
                ("host", host),
                ("port", &port),
                ("starttls", starttls),
                ("username", "mailer"),
                ("password", "smtp-password"),
                ("from_address", "support@acme.example"),
            ],
        )
    }

    fn stage(result: Result<VerifiedAccount, AccountError>) -> MailStage {
        match result {
            Err(AccountError::Mail { stage, detail, .. }) => {
                assert!(!detail.contains("smtp-password"), "{detail}");
                stage
            }
            other => panic!("expected a mail failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_login_the_server_accepts_proves_the_from_address() {
        let server = FakeSmtp::start(Replies::default()).await;
        let account = SmtpAccount::new(test_policy())
            .verify(&mailbox("127.0.0.1", server.port, "false"))
            .await
            .unwrap();
        assert_eq!(account.external_id, "support@acme.example");
        assert_eq!(
            server.session().auth_plain.as_deref(),
            Some("\0mailer\0smtp-password")
        );
    }

    #[tokio::test]
    async fn each_failure_names_its_stage() {
        let lifecycle = SmtpAccount::new(test_policy());
        let refused = FakeSmtp::start(Replies {
            auth: "535 5.7.8 Authentication credentials invalid",
            ..Replies::default()
        })
        .await;
        assert_eq!(
            stage(
                lifecycle
                    .verify(&mailbox("127.0.0.1", refused.port, "false"))
                    .await
            ),
            MailStage::Authentication
        );
        let plain_only = FakeSmtp::start(Replies::default()).await;
        assert_eq!(
            stage(
                lifecycle
                    .verify(&mailbox("127.0.0.1", plain_only.port, "true"))
                    .await
            ),
            MailStage::Tls,
            "STARTTLS required but not offered"
        );
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert_eq!(
            stage(lifecycle.verify(&mailbox("127.0.0.1", port, "false")).await),
            MailStage::Tcp
        );
        assert_eq!(
            stage(
                lifecycle
                    .verify(&mailbox("mail.unknown.example", 587, "true"))
                    .await
            ),
            MailStage::Dns
        );
    }

    #[tokio::test]
    async fn a_server_the_egress_policy_refuses_is_not_contacted() {
        let refused = SmtpAccount::default()
            .verify(&mailbox("127.0.0.1", 2525, "false"))
            .await;
        assert!(
            matches!(refused, Err(AccountError::EgressRefused(_))),
            "{refused:?}"
        );
    }
}
