//! Sending on TikTok through the Business Messaging API of TikTok API for Business:
//! `POST {api_base}/business/message/send/` with the `Access-Token` header and
//! `{"business_id", "recipient_type": "CONVERSATION", "recipient": <conversation id>,
//! "message_type": "TEXT", "text": {"body"}}`, answered by the API's envelope
//! `{"code": 0, "message": "OK", "request_id", "data": {"message": {"message_id"}}}`.
//!
//! TikTok answers most failures with HTTP 200 and a non-zero `code`, so only `code == 0` is a
//! success. Codes: 40100 (QPS limit) and 40064 (sending too fast) are throttling, 40105
//! (missing or invalid access token) is auth, 5xxxx codes are TikTok's own temporary
//! failures, other 4xxxx codes (permission 40001, parameters 40002, unknown object 40007…)
//! are permanent. The HTTP status decides when the body has no code.
//!
//! TikTok addresses a reply to a conversation, not to a user: the command's `recipient` is sent
//! as the conversation id. Images must be uploaded first to get a `media_id`, so one command is
//! text only for now; attachments and quick replies are `Invalid`.

use crate::channels::first_contact::FirstContact;
use crate::channels::sender::{
    classify_status, response_json, retry_after_header, ChannelSender, SendError, SendTarget,
    SentMessage,
};
use crate::egress::EgressHttp;
use crate::refresh::expiry::expiry_input;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::message::SendMessage;

/// The real API for Business, version 1.3.
pub const DEFAULT_API_BASE: &str = "https://business-api.tiktok.com/open_api/v1.3";
/// Auth field: the business account that sends.
pub const BUSINESS_ID: &str = "business_id";
/// Auth field: the OAuth access token, sent in the `Access-Token` header.
pub const ACCESS_TOKEN: &str = "access_token";
/// Auth field: the OAuth refresh token, traded for new tokens.
pub const REFRESH_TOKEN: &str = "refresh_token";
/// The longest text TikTok accepts in one message, in characters.
pub const MAX_TEXT_CHARS: usize = 6_000;

/// Throttled: over the QPS limit (40100), sending messages too fast (40064).
const THROTTLED: &[i64] = &[40100, 40064];
/// Refused credentials: the access token is missing, invalid or expired (40105).
const AUTH: &[i64] = &[40105];

/// Sends TikTok Business Messaging messages.
#[derive(Clone)]
pub struct TikTokSender {
    http: EgressHttp,
}

impl TikTokSender {
    /// A sender calling the platform through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

impl Default for TikTokSender {
    /// A sender under the default egress policy.
    fn default() -> Self {
        Self::new(EgressHttp::shared_default())
    }
}

#[async_trait]
impl ChannelSender for TikTokSender {
    fn default_api_base(&self) -> &'static str {
        DEFAULT_API_BASE
    }

    fn first_contact(&self) -> FirstContact {
        FirstContact::Refused(
            "TikTok business messages answer a conversation the user opened; there is no first message",
        )
    }

    fn addresses_threads(&self) -> bool {
        true
    }

    async fn send(
        &self,
        target: &SendTarget,
        message: &SendMessage,
    ) -> Result<SentMessage, SendError> {
        let content = &message.content;
        let text = match content.text.as_deref() {
            Some(text) if content.attachments.is_empty() && content.quick_replies.is_empty() => {
                text
            }
            _ => return Err(SendError::Invalid("TikTok sends text only for now".into())),
        };
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(SendError::Invalid(format!(
                "TikTok texts are at most {MAX_TEXT_CHARS} characters"
            )));
        }
        let business_id = target.secret(BUSINESS_ID)?.expose();
        let token = target.secret(ACCESS_TOKEN)?;
        let body = json!({
            "business_id": business_id,
            "recipient_type": "CONVERSATION",
            "recipient": message.recipient,
            "message_type": "TEXT",
            "text": {"body": text},
        });
        let response = self
            .http
            .post(target.url("/business/message/send/"))?
            .header("Access-Token", token.expose())
            .json(&body)
            .send()
            .await
            .map_err(SendError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer: Value = response_json(response).await?;
        match (
            answer["code"].as_i64(),
            answer["data"]["message"]["message_id"].as_str(),
        ) {
            (Some(0), Some(id)) if status.is_success() => Ok(SentMessage {
                platform_message_id: id.to_owned(),
            }),
            _ => Err(classify(status, retry_after, &answer)),
        }
    }

    /// TikTok account holder tokens: `POST {api_base}/tt_user/oauth2/refresh_token/` with the
    /// JSON `client_id` (our app's client key), `client_secret`, `grant_type=refresh_token`,
    /// `refresh_token`, answered by `{"code": 0, "data": {access_token, expires_in,
    /// refresh_token, refresh_token_expires_in}}`. Throttling and TikTok's own failures are
    /// temporary. Any other refusal is told apart by asking TikTok whether it accepts the app's
    /// client key and secret ([`super::platform_app::check_app`]): refused, the app is at
    /// fault ([`SendError::AppRefused`], the integration stays connected); accepted, the grant
    /// is ([`SendError::Auth`]); not answered, it is tried again later.
    async fn refresh_credentials(
        &self,
        target: &SendTarget,
    ) -> Result<Option<AuthInput>, SendError> {
        let (Ok(refresh_token), Ok(client_key), Ok(client_secret)) = (
            target.secret(REFRESH_TOKEN),
            target.secret(super::platform_app::CLIENT_KEY),
            target.secret(super::CLIENT_SECRET),
        ) else {
            return Ok(None);
        };
        let body = json!({
            "client_id": client_key.expose(),
            "client_secret": client_secret.expose(),
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.expose(),
        });
        let response = self
            .http
            .post(target.url("/tt_user/oauth2/refresh_token/"))?
            .json(&body)
            .send()
            .await
            .map_err(SendError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer: Value = response_json(response).await?;
        let data = &answer["data"];
        match (answer["code"].as_i64(), data["access_token"].as_str()) {
            (Some(0), Some(access)) if status.is_success() => {
                let mut fields = vec![(ACCESS_TOKEN.to_owned(), json!(access))];
                if let Some(rotated) = data["refresh_token"].as_str() {
                    fields.push((REFRESH_TOKEN.to_owned(), json!(rotated)));
                }
                fields.extend(expiry_input(
                    chrono::Utc::now(),
                    &data["expires_in"],
                    &data["refresh_token_expires_in"],
                ));
                Ok(Some(AuthInput(fields.into_iter().collect())))
            }
            (None, _) if status.is_success() || status.is_server_error() => {
                Err(SendError::Retryable {
                    retry_after,
                    detail: format!("TikTok token refresh failed: HTTP {status}"),
                })
            }
            _ => Err(match classify(status, retry_after, &answer) {
                SendError::Permanent(detail) | SendError::Auth(detail) => {
                    self.whose_refusal(target, detail).await
                }
                temporary => temporary,
            }),
        }
    }
}

impl TikTokSender {
    /// Whether a refused refresh (`detail`) is the app's fault or the grant's.
    async fn whose_refusal(&self, target: &SendTarget, detail: String) -> SendError {
        use super::platform_app::{check_app, CLIENT_KEY};
        use crate::channels::platform_app::{VerificationError, OAUTH_BASE};
        let credentials: std::collections::BTreeMap<String, switchboard_domain::SecretString> =
            [CLIENT_KEY, super::CLIENT_SECRET, OAUTH_BASE]
                .into_iter()
                .filter_map(|name| {
                    let value = target.secrets.get(name).ok()?;
                    Some((name.to_owned(), value.clone()))
                })
                .collect();
        match check_app(&self.http, &credentials).await {
            Ok(()) => SendError::Auth(format!("TikTok token refresh refused: {detail}")),
            Err(VerificationError::Refused(words)) => SendError::AppRefused(format!(
                "TikTok refused the app's client key and secret ({words}) while refreshing: {detail}"
            )),
            Err(VerificationError::Unavailable(cause)) => SendError::retryable(format!(
                "TikTok token refresh refused ({detail}); whether the app or the grant is at fault is unknown: {cause}"
            )),
        }
    }
}

/// Classifies a TikTok failure by its `code`, then by the HTTP status.
fn classify(
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    answer: &Value,
) -> SendError {
    let Some(code) = answer["code"].as_i64().filter(|c| *c != 0) else {
        let detail = format!("HTTP {status}");
        return if status.is_success() {
            SendError::Permanent(format!("{detail} without a message id"))
        } else {
            classify_status(status, retry_after, detail)
        };
    };
    let detail = format!(
        "TikTok error {code}: {}",
        answer["message"].as_str().unwrap_or("(no message)")
    );
    if THROTTLED.contains(&code) {
        SendError::RateLimited {
            retry_after,
            detail,
        }
    } else if AUTH.contains(&code) || status == reqwest::StatusCode::UNAUTHORIZED {
        SendError::Auth(detail)
    } else if (50_000..60_000).contains(&code) || status.is_server_error() {
        SendError::Retryable {
            retry_after,
            detail,
        }
    } else {
        SendError::Permanent(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::fake_platform::{message, target, test_egress, FakePlatform, Reply};
    use switchboard_domain::message::{AttachmentKind, OutboundAttachment, OutboundContent};

    const TOKEN: &str = "act.tiktok-secret-token";
    const CONVERSATION: &str = "sdfwxXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX==";

    fn ok() -> Reply {
        Reply::json(
            200,
            json!({"code": 0, "message": "OK", "request_id": "2024101911000AB12",
                   "data": {"message": {"message_id": "7427385727000000001"}}}),
        )
    }

    fn tiktok_error(code: i64, message: &str) -> Reply {
        Reply::json(
            200,
            json!({"code": code, "message": message, "request_id": "2024101911000AB13", "data": {}}),
        )
    }

    fn business(base: &str) -> SendTarget {
        target(
            "tiktok",
            base,
            &[(BUSINESS_ID, "-000ABCdef"), (ACCESS_TOKEN, TOKEN)],
        )
    }

    #[tokio::test]
    async fn a_text_is_posted_to_the_conversation_with_the_access_token_header() {
        let fake = FakePlatform::start(ok()).await;
        let target = business(&fake.base);
        let sent = TikTokSender::new(test_egress())
            .send(
                &target,
                &message(&target, CONVERSATION, OutboundContent::text("Hi there")),
            )
            .await
            .unwrap();
        assert_eq!(sent.platform_message_id, "7427385727000000001");
        let request = &fake.requests()[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/business/message/send/");
        assert_eq!(request.headers["access-token"], TOKEN);
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(
            request.body,
            json!({
                "business_id": "-000ABCdef",
                "recipient_type": "CONVERSATION",
                "recipient": CONVERSATION,
                "message_type": "TEXT",
                "text": {"body": "Hi there"},
            })
        );
    }

    #[tokio::test]
    async fn a_non_zero_code_answered_with_http_200_is_a_classified_failure() {
        let fake = FakePlatform::start(ok()).await;
        fake.then(tiktok_error(
            40064,
            "You are sending messages too fast. Take a rest.",
        ))
        .then(tiktok_error(40100, "Too many requests. Please retry."))
        .then(tiktok_error(
            40105,
            "Access token is incorrect or has been revoked.",
        ))
        .then(tiktok_error(40002, "recipient: invalid conversation"))
        .then(tiktok_error(50002, "Internal service error"));
        let target = business(&fake.base);
        let sender = TikTokSender::new(test_egress());
        let hello = message(&target, CONVERSATION, OutboundContent::text("hi"));
        let send = || sender.send(&target, &hello);
        let throttled = send().await.unwrap_err();
        assert!(matches!(throttled, SendError::RateLimited { .. }));
        assert!(throttled.is_retryable());
        assert!(matches!(send().await, Err(SendError::RateLimited { .. })));
        let auth = send().await.unwrap_err();
        assert_eq!(
            auth,
            SendError::Auth(
                "TikTok error 40105: Access token is incorrect or has been revoked.".into()
            )
        );
        assert!(!auth.to_string().contains(TOKEN));
        assert!(matches!(send().await, Err(SendError::Permanent(_))));
        assert!(matches!(send().await, Err(SendError::Retryable { .. })));
        assert!(send().await.is_ok(), "the platform recovered");
    }

    #[tokio::test]
    async fn http_failures_without_a_code_fall_back_to_the_status() {
        let fake = FakePlatform::start(ok()).await;
        fake.then(Reply::json(503, json!({})).with_header("retry-after", "4"))
            .then(Reply::json(429, Value::Null))
            .then(Reply::json(401, json!({"message": "unauthorized"})))
            .then(Reply::json(
                200,
                json!({"code": 0, "message": "OK", "data": {}}),
            ));
        let target = business(&fake.base);
        let sender = TikTokSender::new(test_egress());
        let hello = message(&target, CONVERSATION, OutboundContent::text("hi"));
        let unavailable = sender.send(&target, &hello).await.unwrap_err();
        assert!(matches!(unavailable, SendError::Retryable { .. }));
        assert_eq!(unavailable.retry_after(), Some(Duration::from_secs(4)));
        assert!(matches!(
            sender.send(&target, &hello).await,
            Err(SendError::RateLimited { .. })
        ));
        assert!(matches!(
            sender.send(&target, &hello).await,
            Err(SendError::Auth(_))
        ));
        assert!(matches!(
            sender.send(&target, &hello).await,
            Err(SendError::Permanent(_))
        ));
    }

    #[tokio::test]
    async fn attachments_and_overlong_texts_are_invalid_and_never_sent() {
        let fake = FakePlatform::start(ok()).await;
        let target = business(&fake.base);
        let sender = TikTokSender::new(test_egress());
        let mut with_image = OutboundContent::text("look");
        with_image.attachments.push(OutboundAttachment {
            kind: AttachmentKind::Image,
            url: "https://cdn.example/a.png".into(),
        });
        let long = OutboundContent::text("x".repeat(MAX_TEXT_CHARS + 1));
        for content in [with_image, long] {
            let error = sender
                .send(&target, &message(&target, CONVERSATION, content))
                .await
                .unwrap_err();
            assert!(matches!(error, SendError::Invalid(_)), "{error}");
        }
        assert!(fake.requests().is_empty());
    }

    #[tokio::test]
    async fn a_refused_connection_is_retryable_and_names_no_token() {
        let target = business("http://127.0.0.1:1");
        let error = TikTokSender::new(test_egress())
            .send(
                &target,
                &message(&target, CONVERSATION, OutboundContent::text("hi")),
            )
            .await
            .unwrap_err();
        assert!(error.is_retryable());
        assert!(!error.to_string().contains(TOKEN));
    }

    fn refreshable(base: &str) -> SendTarget {
        target(
            "tiktok",
            base,
            &[
                (BUSINESS_ID, "-000ABCdef"),
                (ACCESS_TOKEN, TOKEN),
                (REFRESH_TOKEN, "rft.tiktok-refresh"),
                (super::super::platform_app::CLIENT_KEY, "tiktok-client-key"),
                (super::super::CLIENT_SECRET, "tiktok-client-secret"),
                (crate::channels::platform_app::OAUTH_BASE, base),
            ],
        )
    }

    #[tokio::test]
    async fn a_refresh_trades_the_refresh_token_for_new_tokens_and_their_expiry() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"code": 0, "message": "OK", "data": {
                "access_token": "act.new", "expires_in": 86400,
                "refresh_token": "rft.new", "refresh_token_expires_in": 31536000,
                "open_id": "-000ABCdef", "scope": "user.info.basic"}}),
        ))
        .await;
        let auth = TikTokSender::new(test_egress())
            .refresh_credentials(&refreshable(&fake.base))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(auth.0[ACCESS_TOKEN], "act.new");
        assert_eq!(auth.0[REFRESH_TOKEN], "rft.new");
        assert!(auth.0.contains_key("access_token_expires_at"));
        assert!(auth.0.contains_key("refresh_token_expires_at"));
        let request = &fake.requests()[0];
        assert_eq!(request.path, "/tt_user/oauth2/refresh_token/");
        assert_eq!(request.body["client_id"], "tiktok-client-key");
        assert_eq!(request.body["grant_type"], "refresh_token");
        assert_eq!(request.body["refresh_token"], "rft.tiktok-refresh");
        let without = business(&fake.base);
        assert!(matches!(
            TikTokSender::new(test_egress())
                .refresh_credentials(&without)
                .await,
            Ok(None)
        ));
    }

    #[tokio::test]
    async fn a_refused_refresh_with_an_accepted_app_is_the_grants_fault_and_an_outage_is_not() {
        // The scripted answers come first, the one it starts with after them.
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"access_token": "clt.app", "expires_in": 7200, "token_type": "Bearer"}),
        ))
        .await;
        fake.then(Reply::json(503, Value::Null));
        fake.then(tiktok_error(40001, "Refresh token is invalid"));
        let sender = TikTokSender::new(test_egress());
        let target = refreshable(&fake.base);
        let outage = sender.refresh_credentials(&target).await.unwrap_err();
        assert!(outage.is_retryable(), "{outage}");
        let refused = sender.refresh_credentials(&target).await.unwrap_err();
        assert!(
            matches!(refused, SendError::Auth(ref d) if d.contains("40001")),
            "{refused}"
        );
        assert!(!refused.to_string().contains("rft.tiktok-refresh"));
        let probe = &fake.requests()[2];
        assert_eq!(probe.path, "/oauth/token/");
    }

    #[tokio::test]
    async fn a_refused_refresh_with_a_refused_app_is_the_apps_fault_and_retryable() {
        let fake = FakePlatform::start(Reply::json(
            401,
            json!({"error": "invalid_client", "error_description": "Client secret is invalid", "log_id": "l1"}),
        ))
        .await;
        fake.then(tiktok_error(40001, "Invalid client secret"));
        let target = refreshable(&fake.base);
        let error = TikTokSender::new(test_egress())
            .refresh_credentials(&target)
            .await
            .unwrap_err();
        assert!(matches!(error, SendError::AppRefused(_)), "{error}");
        assert!(error.is_retryable());
        assert!(
            error.to_string().contains("Client secret is invalid"),
            "{error}"
        );
        assert!(!error.to_string().contains("tiktok-client-secret"));
    }
}
