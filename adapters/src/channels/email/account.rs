//! Connecting an e-mail inbox: a real IMAP session with its `imap_host` and `imap_port` (TLS
//! from the start on port 993, STARTTLS required otherwise) and then a real SMTP session with
//! its `smtp_host` and `smtp_port` (465, or STARTTLS) prove its `username` and `password` on
//! both servers (see [`crate::channels::imap_probe`] and [`crate::channels::mail_probe`]); the
//! account is the inbox `address`.

use crate::channels::account_lifecycle::{
    AccountError, AccountLifecycle, AccountTarget, VerifiedAccount,
};
use crate::channels::imap_probe::{ImapLogin, ImapProbe};
use crate::channels::mail_probe::{smtp_login, SmtpLogin};
use crate::egress::EgressPolicy;
use async_trait::async_trait;

/// The e-mail channel's account lifecycle.
#[derive(Debug, Clone)]
pub struct EmailAccount {
    egress: EgressPolicy,
    imap: ImapProbe,
}

impl EmailAccount {
    /// Reaching only the servers `egress` permits.
    pub fn new(egress: EgressPolicy) -> Self {
        Self {
            imap: ImapProbe::new(egress.clone()),
            egress,
        }
    }
}

/// The port in field `name`, or a refusal naming it.
fn port(target: &AccountTarget, name: &'static str) -> Result<u16, AccountError> {
    target
        .secret(name)?
        .expose()
        .trim()
        .parse::<u16>()
        .map_err(|_| AccountError::Refused(format!("{name} is not a port number")))
}

#[async_trait]
impl AccountLifecycle for EmailAccount {
    /// None: each integration names its own servers.
    fn default_api_base(&self) -> &'static str {
        ""
    }

    async fn verify(&self, target: &AccountTarget) -> Result<VerifiedAccount, AccountError> {
        let username = target.secret("username")?.expose();
        let password = target.secret("password")?.expose();
        let imap = ImapLogin {
            host: target.secret("imap_host")?.expose(),
            port: port(target, "imap_port")?,
            username,
            password,
        };
        self.imap.login(&imap).await?;
        let login = SmtpLogin {
            host: target.secret("smtp_host")?.expose(),
            port: port(target, "smtp_port")?,
            // As `send_email` reads it: STARTTLS unless `smtp_starttls` is false.
            starttls: target
                .secrets
                .get("smtp_starttls")
                .map(|s| s.expose().trim() != "false")
                .unwrap_or(true),
            username: target.secret("username")?.expose(),
            password: target.secret("password")?.expose(),
        };
        smtp_login(&self.egress, &login).await?;
        let address = target.field("address")?;
        Ok(VerifiedAccount {
            external_id: address.clone(),
            display_name: Some(address),
        })
    }
}
