//! Connecting an e-mail inbox: a real SMTP session with its `smtp_host` and `smtp_port`
//! (TLS from the start on port 465, STARTTLS required otherwise) and its `username` and
//! `password` proves the login (see [`crate::channels::mail_probe`]); the account is the inbox
//! `address`. The IMAP side is not probed yet: its login is first tried when mail is read.

use crate::channels::account_lifecycle::{
    AccountError, AccountLifecycle, AccountTarget, VerifiedAccount,
};
use crate::channels::mail_probe::{smtp_login, SmtpLogin};
use crate::egress::EgressPolicy;
use async_trait::async_trait;

/// The e-mail channel's account lifecycle.
#[derive(Debug, Clone, Default)]
pub struct EmailAccount {
    egress: EgressPolicy,
}

impl EmailAccount {
    /// Reaching only the servers `egress` permits.
    pub fn new(egress: EgressPolicy) -> Self {
        Self { egress }
    }
}

#[async_trait]
impl AccountLifecycle for EmailAccount {
    /// None: each integration names its own servers.
    fn default_api_base(&self) -> &'static str {
        ""
    }

    async fn verify(&self, target: &AccountTarget) -> Result<VerifiedAccount, AccountError> {
        let port = target
            .secret("smtp_port")?
            .expose()
            .trim()
            .parse::<u16>()
            .map_err(|_| AccountError::Refused("smtp_port is not a port number".into()))?;
        let login = SmtpLogin {
            host: target.secret("smtp_host")?.expose(),
            port,
            starttls: true,
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
