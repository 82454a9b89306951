//! The outbound half of the channel contract: one call that puts one `SendMessage` on a
//! platform, and the classification of how it failed.
//!
//! A sender owns the platform's wire format and nothing else: it never retries, sleeps,
//! logs secrets or touches Kafka. It says *what kind* of failure it saw ([`SendError`]) and
//! the outbound engine decides what to do about it (retry, refresh, disconnect, give up).
//! Error details are built from the platform's answer, never from the request, so a token in
//! a URL or a header cannot leak into a status event.
//!
//! Every destination a sender reaches or hands on (its `api_base`, OAuth bases, attachment
//! URLs) passes the [`crate::egress`] policy: senders call platforms through an
//! [`EgressHttp`], check attachment URLs with [`check_attachments`] and read answers with
//! [`response_json`] (capped at [`MAX_RESPONSE_BYTES`]). A refused destination is a
//! [`SendError::Permanent`] whose detail starts with [`EGRESS_REFUSED`] and names the reason.

use crate::channels::first_contact::FirstContact;
use crate::channels::webhook::WebhookSecrets;
use crate::egress::{
    denial_in, read_capped, BodyError, EgressError, EgressHttp, EgressPolicy, MAX_RESPONSE_BYTES,
};
use crate::outbound::rate_limit::RateLimit;
use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::message::{OutboundContent, SendMessage, TagWindow};
use switchboard_domain::{ChannelKind, IntegrationId, SecretString, WorkspaceId};

/// Platform setting: where a channel's API lives (`messenger.api_base=http://127.0.0.1:9000`),
/// so tests and staging point a channel at a fake; each sender has the real default. Like
/// every destination it must pass the egress policy: plain http or a private address only
/// where the operator's egress allow-list permits it.
pub const API_BASE: &str = "api_base";
/// How long one call to a platform may take before it counts as a (retryable) timeout.
pub const SEND_TIMEOUT: Duration = crate::egress::http::TOTAL_TIMEOUT;
/// How the detail of a failure the egress policy caused begins.
pub const EGRESS_REFUSED: &str = "egress policy refused the destination";

/// An integration as a sender sees it: who it is, its opened credentials and where to call.
#[derive(Clone)]
pub struct SendTarget {
    /// Its id.
    pub integration_id: IntegrationId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its channel.
    pub channel: ChannelKind,
    /// How many events the integration had when this was read; a higher one means its
    /// credentials may have changed since.
    pub version: u64,
    /// The platform API base URL, without a trailing slash.
    pub api_base: String,
    /// The integration's opened auth fields, then its platform's credentials.
    pub secrets: WebhookSecrets,
}

impl SendTarget {
    /// The auth field or platform credential `name`, or a permanent failure naming it.
    pub fn secret(&self, name: &'static str) -> Result<&SecretString, SendError> {
        self.secrets
            .get(name)
            .map_err(|_| SendError::Permanent(format!("credential '{name}' is not configured")))
    }

    /// `api_base` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base)
    }
}

impl std::fmt::Debug for SendTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendTarget")
            .field("integration_id", &self.integration_id)
            .field("channel", &self.channel)
            .field("version", &self.version)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

/// What the platform answered to a successful send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The platform's id for the message; its receipts will name it.
    pub platform_message_id: String,
}

/// How a send failed, as a class the engine can act on. The text is the platform's own
/// explanation (code and message), never anything from the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A temporary failure (5xx, timeout, connection refused): the same call may succeed later.
    #[error("temporary platform failure: {detail}")]
    Retryable {
        /// The platform's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
        /// What went wrong.
        detail: String,
    },
    /// The platform throttled us: slow down, then retry.
    #[error("throttled by the platform: {detail}")]
    RateLimited {
        /// How long the platform asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// What the platform said.
        detail: String,
    },
    /// The platform throttled sends to this one recipient (WhatsApp's pair rate): slow down for
    /// this conversation only, then retry.
    #[error("throttled by the platform for this recipient: {detail}")]
    RecipientThrottled {
        /// How long the platform asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// What the platform said.
        detail: String,
    },
    /// The platform refused this message for good (bad recipient, closed window…).
    #[error("refused by the platform: {0}")]
    Permanent(String),
    /// The integration's credentials were refused (expired or revoked token).
    #[error("credentials refused by the platform: {0}")]
    Auth(String),
    /// The platform refused our own app's credentials (app id, client key or secret) while
    /// refreshing: the operator's to fix, not the integration's, so it stays connected and is
    /// tried again later.
    #[error("the platform refused the app's credentials: {0}")]
    AppRefused(String),
    /// The content cannot be expressed on this channel as one message.
    #[error("cannot be sent on this channel: {0}")]
    Invalid(String),
}

impl SendError {
    /// Whether the same call may succeed later without anything changing on our side.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Retryable { .. }
                | Self::RateLimited { .. }
                | Self::RecipientThrottled { .. }
                | Self::AppRefused(_)
        )
    }

    /// How long the platform asked us to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retryable { retry_after, .. }
            | Self::RateLimited { retry_after, .. }
            | Self::RecipientThrottled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A temporary failure without a platform-given delay.
    pub fn retryable(detail: impl Into<String>) -> Self {
        Self::Retryable {
            retry_after: None,
            detail: detail.into(),
        }
    }

    /// A transport failure (timeout, connection refused, unreadable body): temporary, unless
    /// the egress policy refused the destination while resolving it (permanent). The request
    /// URL is dropped from the text because some platforms put the token in it.
    pub fn from_transport(error: reqwest::Error) -> Self {
        if let Some(denied) = denial_in(&error) {
            return Self::Permanent(format!("{EGRESS_REFUSED}: {denied}"));
        }
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "connection failed"
        } else {
            "transport error"
        };
        Self::retryable(format!("{kind}: {}", error.without_url()))
    }
}

impl From<EgressError> for SendError {
    /// A refusal is permanent; a name that did not resolve may resolve later.
    fn from(error: EgressError) -> Self {
        match error {
            EgressError::Denied(denied) => Self::Permanent(format!("{EGRESS_REFUSED}: {denied}")),
            EgressError::Unresolved { .. } => Self::retryable(error.to_string()),
            EgressError::Setup(_) => Self::Permanent(error.to_string()),
        }
    }
}

/// The outbound contract every sending channel implements.
#[async_trait]
pub trait ChannelSender: Send + Sync {
    /// The platform's real API base URL, used unless the `api_base` platform setting overrides it.
    fn default_api_base(&self) -> &'static str;

    /// Sends one message as one platform message and returns the platform's id for it.
    async fn send(
        &self,
        target: &SendTarget,
        message: &SendMessage,
    ) -> Result<SentMessage, SendError>;

    /// Whether replies are addressed to the platform's thread (the contact's `thread_id`)
    /// rather than to the person (TikTok); `false` by default.
    fn addresses_threads(&self) -> bool {
        false
    }

    /// How fast one recipient may be written to, where the platform limits it per recipient
    /// (WhatsApp's pair rate); `None` (the default) when only the integration's rate applies.
    fn recipient_rate(&self) -> Option<RateLimit> {
        None
    }

    /// Whether (and to what address) the business may write first, to someone who never
    /// wrote to it; by default it may not.
    fn first_contact(&self) -> FirstContact {
        FirstContact::Refused("the platform lets a business answer only people who wrote to it")
    }

    /// Whether it sends pre-approved templates (`content.template`); `false` by default.
    fn sends_templates(&self) -> bool {
        false
    }

    /// The message tags it accepts (`content.tag`) and each one's window, which replaces the
    /// reply window for a tagged message; none by default.
    fn message_tags(&self) -> &'static [TagWindow] {
        &[]
    }

    /// Obtains fresh credentials after an [`SendError::Auth`], when the platform has a way to
    /// (a refresh token). `Ok(None)` means there is none: the integration must be reconnected.
    async fn refresh_credentials(
        &self,
        _target: &SendTarget,
    ) -> Result<Option<AuthInput>, SendError> {
        Ok(None)
    }
}

/// The `Retry-After` header in seconds, when present and numeric.
pub fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The pooled client of the default egress policy, as the senders' clients are configured
/// (rustls, timeouts, no redirects, names resolved through the policy). Calling it directly
/// skips the policy's URL checks, IP literals included: senders use an [`EgressHttp`].
pub fn http_client() -> reqwest::Client {
    EgressHttp::shared_default()
        .checked_client()
        .cloned()
        .unwrap_or_default()
}

/// The JSON answer of a platform, read up to [`MAX_RESPONSE_BYTES`]; `Null` when it is not
/// JSON or cannot be read. An oversized answer is `Null` too when its status is an error (the
/// status classifies it), and a permanent failure when it is a success (there is no telling
/// what was sent, and an endpoint answering that much is not the platform).
pub async fn response_json(response: reqwest::Response) -> Result<Value, SendError> {
    let status = response.status();
    match read_capped(response, MAX_RESPONSE_BYTES).await {
        Ok(body) => Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)),
        Err(BodyError::TooLarge { limit }) if status.is_success() => Err(SendError::Permanent(
            format!("the platform answered HTTP {status} with a body over {limit} bytes"),
        )),
        Err(_) => Ok(Value::Null),
    }
}

/// Checks every attachment URL of `content` against `policy` before it is handed on (the
/// platform, or the recipient, fetches it); the detail never quotes the URL, which may be
/// signed.
pub async fn check_attachments(
    policy: &EgressPolicy,
    content: &OutboundContent,
) -> Result<(), SendError> {
    for (n, attachment) in content.attachments.iter().enumerate() {
        policy
            .check_handed_on(&attachment.url)
            .await
            .map_err(|error| match SendError::from(error) {
                SendError::Permanent(detail) => {
                    SendError::Permanent(format!("attachment {}: {detail}", n + 1))
                }
                other => other,
            })?;
    }
    Ok(())
}

/// The generic class of an HTTP status with no more specific platform code: 401 → auth,
/// 408/429/5xx → temporary, other 4xx → permanent.
pub fn classify_status(
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    detail: String,
) -> SendError {
    match status.as_u16() {
        401 => SendError::Auth(detail),
        429 => SendError::RateLimited {
            retry_after,
            detail,
        },
        408 | 500..=599 => SendError::Retryable {
            retry_after,
            detail,
        },
        _ => SendError::Permanent(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn only_temporary_and_throttling_failures_are_retryable() {
        let wait = Some(Duration::from_secs(3));
        let throttled = SendError::RateLimited {
            retry_after: wait,
            detail: "slow down".into(),
        };
        assert!(throttled.is_retryable());
        assert_eq!(throttled.retry_after(), wait);
        assert!(SendError::retryable("503").is_retryable());
        for final_error in [
            SendError::Permanent("no such user".into()),
            SendError::Auth("expired".into()),
            SendError::Invalid("two attachments".into()),
        ] {
            assert!(!final_error.is_retryable(), "{final_error}");
            assert_eq!(final_error.retry_after(), None);
        }
    }

    #[test]
    fn http_statuses_without_a_platform_code_are_classified_by_family() {
        let class =
            |code: u16| classify_status(StatusCode::from_u16(code).unwrap(), None, String::new());
        assert!(matches!(class(401), SendError::Auth(_)));
        assert!(matches!(class(429), SendError::RateLimited { .. }));
        assert!(matches!(class(503), SendError::Retryable { .. }));
        assert!(matches!(class(408), SendError::Retryable { .. }));
        assert!(matches!(class(400), SendError::Permanent(_)));
        assert!(matches!(class(404), SendError::Permanent(_)));
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after_header(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after_header(&headers), Some(Duration::from_secs(7)));
    }

    #[test]
    fn a_target_never_prints_its_secrets() {
        let target = SendTarget {
            integration_id: IntegrationId::new(),
            workspace_id: "acme".parse().unwrap(),
            channel: ChannelKind::parse("telegram").unwrap(),
            version: 2,
            api_base: "http://127.0.0.1:1".into(),
            secrets: WebhookSecrets::new(
                [("bot_token".to_owned(), SecretString::new("123:SECRET"))].into(),
                Default::default(),
            ),
        };
        assert!(!format!("{target:?}").contains("SECRET"));
        assert_eq!(target.secret("bot_token").unwrap().expose(), "123:SECRET");
        assert!(matches!(
            target.secret("nope"),
            Err(SendError::Permanent(_))
        ));
    }
}
