//! The account half of the channel contract: what connecting, disconnecting and deleting an
//! integration ask of its platform.
//!
//! - [`AccountLifecycle::verify`] proves the account the tenant claims with the integration's
//!   own credentials (Messenger's page, WhatsApp's phone number, Zalo's OA, TikTok's business
//!   account, Telegram's bot, a Google spreadsheet, an SMTP login) and answers the platform's id and display name;
//!   [`prove`] then checks that id against every id the tenant typed.
//! - [`AccountLifecycle::subscribe`] asks the platform to deliver the account's webhooks here
//!   (Meta's `subscribed_apps`, Telegram's `setWebhook`).
//! - [`AccountLifecycle::unsubscribe`] undoes that, or revokes, where the platform has a call
//!   for it; callers treat it as best-effort and record its outcome.
//!
//! Every HTTP call goes through the egress policy ([`EgressHttp`]), to the channel's `api_base`
//! platform setting or its real default. Error details are built from the platform's answer
//! (its code and words), never from the request: some platforms carry the token in the URL.

use crate::channels::webhook::WebhookSecrets;
use crate::egress::{denial_in, read_capped, EgressError, EgressHttp, MAX_RESPONSE_BYTES};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::{ChannelKind, IntegrationId, SecretString};

/// An integration as its platform's account calls see it.
#[derive(Clone)]
pub struct AccountTarget {
    /// Its id.
    pub integration_id: IntegrationId,
    /// Its channel.
    pub channel: ChannelKind,
    /// The platform API base URL, without a trailing slash.
    pub api_base: String,
    /// Its auth fields (stored ones opened, submitted ones over them), then its platform's
    /// credentials.
    pub secrets: WebhookSecrets,
    /// The public URL of its own webhook (`…/webhooks/{channel}/{id}`), when this service's
    /// public base URL is configured.
    pub webhook_url: Option<String>,
}

impl AccountTarget {
    /// The auth field or platform credential `name`, or [`AccountError::MissingField`].
    pub fn secret(&self, name: &'static str) -> Result<&SecretString, AccountError> {
        self.secrets
            .get(name)
            .map_err(|_| AccountError::MissingField(name))
    }

    /// The integration's own non-blank field `name` (never a platform credential), trimmed.
    pub fn field(&self, name: &'static str) -> Result<String, AccountError> {
        self.secrets
            .integration_field(name)
            .map(|value| value.expose().trim().to_owned())
            .map_err(|_| AccountError::MissingField(name))
    }

    /// `api_base` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base)
    }
}

impl std::fmt::Debug for AccountTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountTarget")
            .field("integration_id", &self.integration_id)
            .field("channel", &self.channel)
            .field("api_base", &self.api_base)
            .field("webhook_url", &self.webhook_url)
            .finish_non_exhaustive()
    }
}

/// The account as the platform reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccount {
    /// The platform's id for it (page id, phone number id, OA id, business id, bot id…).
    pub external_id: String,
    /// Its display name, when the platform gave one.
    pub display_name: Option<String>,
}

/// Where talking to a mail server failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStage {
    /// The host name did not resolve.
    Dns,
    /// No TCP connection (refused, unreachable, timed out).
    Tcp,
    /// The TLS handshake or STARTTLS failed.
    Tls,
    /// The server refused the login.
    Authentication,
    /// The server spoke, but not the protocol expected.
    Protocol,
}

impl MailStage {
    /// Its name, as problem types and outcomes spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Authentication => "authentication",
            Self::Protocol => "protocol",
        }
    }
}

/// What went wrong asking the platform; the text is the platform's, never the request's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The platform refused the credentials (invalid, expired or revoked token, or one
    /// without access to the account).
    #[error("the platform refused the credentials: {0}")]
    RefusedCredentials(String),
    /// The platform's account is not the one the tenant named.
    #[error("the platform reports account '{actual}', not the claimed '{claimed}'")]
    Mismatch {
        /// What the tenant typed.
        claimed: String,
        /// What the platform answered.
        actual: String,
    },
    /// The platform refused the request for another reason (a bad parameter, a permission).
    #[error("the platform refused the request: {0}")]
    Refused(String),
    /// The platform did not answer usefully (unreachable, timeout, 5xx, throttled): try later.
    #[error("the platform is unavailable: {detail}")]
    Unavailable {
        /// How long the platform asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// What went wrong.
        detail: String,
    },
    /// The egress policy refused the destination.
    #[error("egress policy refused the destination: {0}")]
    EgressRefused(String),
    /// A mail server (SMTP or IMAP) failed at `stage`.
    #[error("{protocol} {} failed: {detail}", stage.as_str())]
    Mail {
        /// `SMTP` or `IMAP`.
        protocol: &'static str,
        /// Where it failed.
        stage: MailStage,
        /// The server's or the network's words.
        detail: String,
    },
    /// A field the call needs is not set.
    #[error("credential '{0}' is not configured")]
    MissingField(&'static str),
    /// The webhook URL cannot be registered: this service's public base URL is not configured.
    #[error("the public base URL of this service is not configured, so the platform cannot be given a webhook URL")]
    NoPublicUrl,
}

impl AccountError {
    /// A temporary failure without a platform-given delay.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable {
            retry_after: None,
            detail: detail.into(),
        }
    }

    /// A transport failure: the egress policy's refusal, or the platform unreachable. The
    /// request URL is dropped from the text because some platforms put the token in it.
    pub fn from_transport(error: reqwest::Error) -> Self {
        if let Some(denied) = denial_in(&error) {
            return Self::EgressRefused(denied.to_string());
        }
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "connection failed"
        } else {
            "transport error"
        };
        Self::unavailable(format!("{kind}: {}", error.without_url()))
    }
}

impl From<EgressError> for AccountError {
    fn from(error: EgressError) -> Self {
        match error {
            EgressError::Denied(denied) => Self::EgressRefused(denied.to_string()),
            EgressError::Unresolved { .. } => Self::unavailable(error.to_string()),
            EgressError::Setup(_) => Self::unavailable(error.to_string()),
        }
    }
}

/// What a channel asks of its platform when an integration connects and goes away.
#[async_trait]
pub trait AccountLifecycle: Send + Sync {
    /// The platform's real API base URL, used unless the `api_base` platform setting overrides
    /// it (empty where the integration names its own server).
    fn default_api_base(&self) -> &'static str;

    /// Proves the integration's credentials with the platform and reports its account.
    async fn verify(&self, target: &AccountTarget) -> Result<VerifiedAccount, AccountError>;

    /// Asks the platform to deliver the account's webhooks here; nothing by default.
    async fn subscribe(&self, _target: &AccountTarget) -> Result<(), AccountError> {
        Ok(())
    }

    /// Whether [`Self::subscribe`] registers something with the platform that
    /// [`Self::unsubscribe`] undoes (and nothing more: no revoke), so that a connect whose
    /// recording failed can be undone, and a failed disconnect redone; `false` by default.
    fn subscribes(&self) -> bool {
        false
    }

    /// The auth field naming what [`Self::subscribe`] subscribes when several integrations
    /// can share it (WhatsApp's business account: one subscription serves all its numbers);
    /// while another connected integration records the same value, going away must not undo
    /// the subscription. `None` (the default): each subscription is the integration's own.
    fn shared_subscription_field(&self) -> Option<&'static str> {
        None
    }

    /// Undoes [`Self::subscribe`] or revokes access where the platform has a call for it, and
    /// says what it did; `Ok(None)` (the default) when there is nothing to call.
    async fn unsubscribe(&self, _target: &AccountTarget) -> Result<Option<String>, AccountError> {
        Ok(None)
    }
}

/// Verifies `target`'s account and checks the platform's id against every id in `claims`
/// (what the tenant typed, blanks ignored): the proof a connect records.
pub async fn prove(
    lifecycle: &dyn AccountLifecycle,
    target: &AccountTarget,
    claims: &[Option<String>],
) -> Result<VerifiedAccount, AccountError> {
    let account = lifecycle.verify(target).await?;
    for claimed in claims.iter().flatten().map(|c| c.trim()) {
        if !claimed.is_empty() && claimed != account.external_id {
            return Err(AccountError::Mismatch {
                claimed: claimed.to_owned(),
                actual: account.external_id.clone(),
            });
        }
    }
    Ok(account)
}

/// The outcome of [`AccountLifecycle::unsubscribe`] as an event records it: what was done, or
/// why it failed; `None` when the channel has nothing to call.
pub fn outcome_text(outcome: Result<Option<String>, AccountError>) -> Option<String> {
    match outcome {
        Ok(done) => done,
        Err(error) => Some(format!("failed: {error}")),
    }
}

/// Every channel's account lifecycle, by channel.
#[derive(Clone, Default)]
pub struct AccountLifecycles(BTreeMap<ChannelKind, Arc<dyn AccountLifecycle>>);

impl AccountLifecycles {
    /// The built-in channels' lifecycles, calling platforms through `egress`.
    pub fn builtin(egress: &EgressHttp) -> Self {
        use crate::channels::{
            email, google_sheets, messenger, smtp, telegram, tiktok, whatsapp, zalo,
        };
        let kind = |name: &str| ChannelKind::parse(name).expect("valid channel name");
        let entries: Vec<(ChannelKind, Arc<dyn AccountLifecycle>)> = vec![
            (
                kind(messenger::KIND),
                Arc::new(messenger::MessengerAccount::new(egress.clone())),
            ),
            (
                kind(whatsapp::KIND),
                Arc::new(whatsapp::WhatsappAccount::new(egress.clone())),
            ),
            (
                kind(zalo::KIND),
                Arc::new(zalo::ZaloAccount::new(egress.clone())),
            ),
            (
                kind(tiktok::KIND),
                Arc::new(tiktok::TikTokAccount::new(egress.clone())),
            ),
            (
                kind(telegram::KIND),
                Arc::new(telegram::TelegramAccount::new(egress.clone())),
            ),
            (
                kind(google_sheets::KIND),
                Arc::new(google_sheets::GoogleSheetsAccount::new(egress.clone())),
            ),
            (
                kind(smtp::KIND),
                Arc::new(smtp::SmtpAccount::new(egress.policy().clone())),
            ),
            (
                kind(email::KIND),
                Arc::new(email::EmailAccount::new(egress.policy().clone())),
            ),
        ];
        Self(entries.into_iter().collect())
    }

    /// The lifecycle of `channel`, when it has one (channels without a platform account, such
    /// as web chat, have none: connecting them asks nothing of anyone).
    pub fn get(&self, channel: &ChannelKind) -> Option<&Arc<dyn AccountLifecycle>> {
        self.0.get(channel)
    }
}

/// The JSON answer of a platform, read up to [`MAX_RESPONSE_BYTES`]; `Null` when unreadable.
pub async fn answer_json(response: reqwest::Response) -> Value {
    match read_capped(response, MAX_RESPONSE_BYTES).await {
        Ok(body) => serde_json::from_slice(&body).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// The class of an HTTP failure with no more specific platform code: 401/403 → refused
/// credentials, 408/429/5xx → unavailable, other 4xx → refused.
pub fn classify_status(
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    detail: String,
) -> AccountError {
    match status.as_u16() {
        401 | 403 => AccountError::RefusedCredentials(detail),
        408 | 429 | 500..=599 => AccountError::Unavailable {
            retry_after,
            detail,
        },
        _ => AccountError::Refused(detail),
    }
}

/// The text of a JSON number or string (`123` or `"123"`), for ids platforms send either way.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Targets for the channels' account tests.

    use super::AccountTarget;
    use crate::channels::webhook::WebhookSecrets;
    use switchboard_domain::{ChannelKind, IntegrationId, SecretString};

    /// A target of `channel` calling `base`, with `fields` as its auth fields.
    pub fn target(channel: &str, base: &str, fields: &[(&str, &str)]) -> AccountTarget {
        let opened = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretString::new(*v)))
            .collect();
        AccountTarget {
            integration_id: IntegrationId::new(),
            channel: ChannelKind::parse(channel).unwrap(),
            api_base: base.to_owned(),
            secrets: WebhookSecrets::new(opened, Default::default()),
            webhook_url: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);

    #[async_trait]
    impl AccountLifecycle for Fixed {
        fn default_api_base(&self) -> &'static str {
            ""
        }
        async fn verify(&self, _: &AccountTarget) -> Result<VerifiedAccount, AccountError> {
            Ok(VerifiedAccount {
                external_id: self.0.to_owned(),
                display_name: None,
            })
        }
    }

    #[tokio::test]
    async fn every_typed_claim_must_be_the_platforms_account() {
        let target = testing::target("messenger", "http://127.0.0.1:1", &[]);
        let ok = prove(&Fixed("111"), &target, &[Some(" 111 ".into()), None]).await;
        assert_eq!(ok.unwrap().external_id, "111");
        let blank = prove(&Fixed("111"), &target, &[Some("".into())]).await;
        assert!(blank.is_ok(), "a blank claim claims nothing");
        let claims = [Some("111".into()), Some("222".into())];
        assert_eq!(
            prove(&Fixed("111"), &target, &claims).await,
            Err(AccountError::Mismatch {
                claimed: "222".into(),
                actual: "111".into()
            })
        );
    }

    #[test]
    fn outcomes_are_recorded_as_what_was_done_or_why_it_failed() {
        assert_eq!(outcome_text(Ok(None)), None);
        assert_eq!(
            outcome_text(Ok(Some("webhook deleted".into()))).as_deref(),
            Some("webhook deleted")
        );
        let failed = outcome_text(Err(AccountError::unavailable("HTTP 503")));
        assert_eq!(
            failed.as_deref(),
            Some("failed: the platform is unavailable: HTTP 503")
        );
    }

    #[test]
    fn statuses_without_a_platform_code_are_classified_by_family() {
        use reqwest::StatusCode;
        let class = |c: u16| classify_status(StatusCode::from_u16(c).unwrap(), None, String::new());
        assert!(matches!(class(401), AccountError::RefusedCredentials(_)));
        assert!(matches!(class(403), AccountError::RefusedCredentials(_)));
        assert!(matches!(class(503), AccountError::Unavailable { .. }));
        assert!(matches!(class(429), AccountError::Unavailable { .. }));
        assert!(matches!(class(400), AccountError::Refused(_)));
    }
}
