//! Sending on Zalo through the OA API v3 (customer-service messages):
//! `POST {api_base}/v3.0/oa/message/cs` with the `access_token` header and `{"recipient":
//! {"user_id"}, "message": {"text"}}`, answered by `{"error": 0, "message": "Success", "data":
//! {"message_id", "user_id"}}`. Zalo answers failures with HTTP 200 too: only `error == 0` is a
//! success.
//!
//! Zalo access tokens expire after about 25 hours and come with a single-use refresh token, so
//! this is the channel whose auth failures are recovered by a refresh (OAuth v4:
//! `POST {oauth_base}/oa/access_token` with the `secret_key` header and a form of `app_id`,
//! `refresh_token`, `grant_type=refresh_token`); the engine makes that single-flight per
//! integration, because a second refresh with the same token would fail.
//!
//! One command is text only; attachments and quick replies are `Invalid` for now.

use crate::channels::first_contact::FirstContact;
use crate::channels::sender::{
    classify_status, response_json, retry_after_header, ChannelSender, SendError, SendTarget,
    SentMessage,
};
use crate::egress::EgressHttp;
use crate::refresh::expiry::expiry_input;
use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard_domain::auth::AuthInput;
use switchboard_domain::message::SendMessage;

/// The real OA API.
pub const DEFAULT_API_BASE: &str = "https://openapi.zalo.me";
/// Platform setting: the OAuth v4 base, for tests and staging.
pub const OAUTH_BASE: &str = "oauth_base";
/// The real OAuth v4 base.
pub const DEFAULT_OAUTH_BASE: &str = "https://oauth.zaloapp.com/v4";
/// Platform credential: our Zalo app's secret key, which token refreshes present.
pub const APP_SECRET: &str = "app_secret";

/// Refused credentials: invalid (-216) or expired (-124) access token.
const AUTH: &[i64] = &[-216, -124];
/// Throttled: over the request quota (-32).
const THROTTLED: &[i64] = &[-32];

/// Sends Zalo OA messages and refreshes OA tokens.
#[derive(Clone)]
pub struct ZaloSender {
    http: EgressHttp,
}

impl ZaloSender {
    /// A sender calling the platform through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

impl Default for ZaloSender {
    /// A sender under the default egress policy.
    fn default() -> Self {
        Self::new(EgressHttp::shared_default())
    }
}

#[async_trait]
impl ChannelSender for ZaloSender {
    fn default_api_base(&self) -> &'static str {
        DEFAULT_API_BASE
    }

    fn first_contact(&self) -> FirstContact {
        FirstContact::Refused(
            "a Zalo Official Account can only answer users who interacted with it (consultation messages need the user's message first)",
        )
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
            _ => return Err(SendError::Invalid("Zalo sends text only for now".into())),
        };
        let token = target.secret("access_token")?;
        let body = json!({"recipient": {"user_id": message.recipient}, "message": {"text": text}});
        let response = self
            .http
            .post(target.url("/v3.0/oa/message/cs"))?
            .header("access_token", token.expose())
            .json(&body)
            .send()
            .await
            .map_err(SendError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer: Value = response_json(response).await?;
        match (
            answer["error"].as_i64(),
            answer["data"]["message_id"].as_str(),
        ) {
            (Some(0), Some(id)) if status.is_success() => Ok(SentMessage {
                platform_message_id: id.to_owned(),
            }),
            _ => Err(classify(status, retry_after, &answer)),
        }
    }

    async fn refresh_credentials(
        &self,
        target: &SendTarget,
    ) -> Result<Option<AuthInput>, SendError> {
        let (Ok(refresh_token), Ok(app_id), Ok(secret)) = (
            target.secret("refresh_token"),
            target.secret(crate::channels::zalo::APP_ID),
            target.secret(APP_SECRET),
        ) else {
            return Ok(None);
        };
        let base = target
            .secrets
            .get(OAUTH_BASE)
            .map(|b| b.expose().trim_end_matches('/').to_owned())
            .unwrap_or_else(|_| DEFAULT_OAUTH_BASE.to_owned());
        let form = [
            ("app_id", app_id.expose()),
            ("refresh_token", refresh_token.expose()),
            ("grant_type", "refresh_token"),
        ];
        let response = self
            .http
            .post(format!("{base}/oa/access_token"))?
            .header("secret_key", secret.expose())
            .form(&form)
            .send()
            .await
            .map_err(SendError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer: Value = response_json(response).await?;
        let (Some(access), Some(refresh)) = (
            answer["access_token"].as_str(),
            answer["refresh_token"].as_str(),
        ) else {
            // Zalo names what it refused; a 5xx or an answer that is no Zalo answer at all
            // says nothing about the token, so it is tried again rather than disconnecting.
            if status.is_server_error() || !answer.is_object() {
                return Err(SendError::Retryable {
                    retry_after,
                    detail: format!("Zalo token refresh failed: HTTP {status}"),
                });
            }
            return Err(refresh_refusal(&answer));
        };
        let mut fields = vec![
            ("access_token".to_owned(), json!(access)),
            ("refresh_token".to_owned(), json!(refresh)),
        ];
        // Zalo gives the access token's lifetime (about 25 hours, as a string) and not the
        // refresh token's: the new one is valid three months, like the one connecting gave.
        let refresh_lifetime = match &answer["refresh_token_expires_in"] {
            Value::Null => json!(super::oauth::REFRESH_TOKEN_LIFETIME_SECS),
            given => given.clone(),
        };
        fields.extend(expiry_input(
            chrono::Utc::now(),
            &answer["expires_in"],
            &refresh_lifetime,
        ));
        Ok(Some(AuthInput(fields.into_iter().collect())))
    }
}

/// Refresh refusals that are the grant's: the refresh token is invalid, expired, spent (Zalo's
/// are single-use) or revoked. The integration is disconnected with Zalo's words.
const GRANT_REFUSED: &[i64] = &[-14014];
/// Refresh refusals that are the app's: its `app_id` or `secret_key` is wrong. Every
/// integration of the app would be refused alike, so none is disconnected.
const APP_REFUSED: &[i64] = &[-14002, -14012];

/// What a token endpoint answer without tokens means: the grant's fault (disconnect), the
/// app's (the operator's to fix), or unknown (tried again; never a disconnect for a code that
/// might be the operator's typo).
fn refresh_refusal(answer: &Value) -> SendError {
    let reason = answer["error_name"]
        .as_str()
        .or(answer["error_reason"].as_str())
        .unwrap_or("no tokens in the answer");
    let code = answer["error"].as_i64();
    let words = match code {
        Some(code) => format!("{reason} ({code})"),
        None => reason.to_owned(),
    };
    match code {
        Some(code) if GRANT_REFUSED.contains(&code) => {
            SendError::Auth(format!("Zalo token refresh refused: {words}"))
        }
        Some(code) if APP_REFUSED.contains(&code) => SendError::AppRefused(format!(
            "Zalo refused the app id or secret key while refreshing: {words}"
        )),
        _ => SendError::retryable(format!("Zalo token refresh failed: {words}")),
    }
}

/// Classifies a Zalo failure by its `error` code, then by the HTTP status.
fn classify(
    status: reqwest::StatusCode,
    retry_after: Option<std::time::Duration>,
    answer: &Value,
) -> SendError {
    let Some(code) = answer["error"].as_i64().filter(|c| *c != 0) else {
        let detail = format!("HTTP {status}");
        return if status.is_success() {
            SendError::Permanent(format!("{detail} without a message id"))
        } else {
            classify_status(status, retry_after, detail)
        };
    };
    let detail = format!(
        "Zalo error {code}: {}",
        answer["message"].as_str().unwrap_or("(no message)")
    );
    if AUTH.contains(&code) {
        SendError::Auth(detail)
    } else if THROTTLED.contains(&code) {
        SendError::RateLimited {
            retry_after,
            detail,
        }
    } else if status.is_server_error() {
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
    use switchboard_domain::message::OutboundContent;

    fn ok() -> Reply {
        Reply::json(
            200,
            json!({"data": {"message_id": "a8f2c0f2b4c14d4c8bd1", "user_id": "2512523625412515"}, "error": 0, "message": "Success"}),
        )
    }

    fn oa(base: &str) -> SendTarget {
        target(
            "zalo",
            base,
            &[
                ("access_token", "zalo-access"),
                ("refresh_token", "zalo-refresh"),
                ("app_id", "1234567890"),
                (APP_SECRET, "zalo-app-secret"),
                (OAUTH_BASE, base),
            ],
        )
    }

    #[tokio::test]
    async fn a_text_is_posted_with_the_access_token_header() {
        let fake = FakePlatform::start(ok()).await;
        let target = oa(&fake.base);
        let sent = ZaloSender::new(test_egress())
            .send(
                &target,
                &message(
                    &target,
                    "2512523625412515",
                    OutboundContent::text("Xin chào"),
                ),
            )
            .await
            .unwrap();
        assert_eq!(sent.platform_message_id, "a8f2c0f2b4c14d4c8bd1");
        let request = &fake.requests()[0];
        assert_eq!(request.path, "/v3.0/oa/message/cs");
        assert_eq!(request.headers["access_token"], "zalo-access");
        assert_eq!(
            request.body,
            json!({"recipient": {"user_id": "2512523625412515"}, "message": {"text": "Xin chào"}})
        );
    }

    #[tokio::test]
    async fn an_error_answered_with_http_200_is_still_a_failure() {
        let fake = FakePlatform::start(ok()).await;
        fake.then(Reply::json(
            200,
            json!({"error": -216, "message": "Access token is invalid"}),
        ))
        .then(Reply::json(
            200,
            json!({"error": -32, "message": "Exceeded the request limit"}),
        ))
        .then(Reply::json(
            200,
            json!({"error": -213, "message": "User has not followed the OA"}),
        ));
        let target = oa(&fake.base);
        let sender = ZaloSender::new(test_egress());
        let hello = message(&target, "1", OutboundContent::text("hi"));
        assert_eq!(
            sender.send(&target, &hello).await,
            Err(SendError::Auth(
                "Zalo error -216: Access token is invalid".into()
            ))
        );
        assert!(matches!(
            sender.send(&target, &hello).await,
            Err(SendError::RateLimited { .. })
        ));
        assert!(matches!(
            sender.send(&target, &hello).await,
            Err(SendError::Permanent(_))
        ));
    }

    #[tokio::test]
    async fn a_refresh_trades_the_refresh_token_for_new_tokens() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"access_token": "new-access", "refresh_token": "new-refresh", "expires_in": "90000"}),
        ))
        .await;
        let target = oa(&fake.base);
        let auth = ZaloSender::new(test_egress())
            .refresh_credentials(&target)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(auth.0["access_token"], "new-access");
        assert_eq!(auth.0["refresh_token"], "new-refresh");
        assert!(auth.0.contains_key("access_token_expires_at"));
        assert!(auth.0.contains_key("refresh_token_expires_at"));
        let request = &fake.requests()[0];
        assert_eq!(request.path, "/oa/access_token");
        assert_eq!(request.headers["secret_key"], "zalo-app-secret");
        assert_eq!(
            request.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
    }

    #[tokio::test]
    async fn a_refused_refresh_is_an_auth_failure_and_no_secret_is_in_it() {
        let fake = FakePlatform::start(Reply::json(
            400,
            json!({"error": -14014, "error_name": "Invalid refresh token", "error_reason": "Refresh token is invalid"}),
        ))
        .await;
        let target = oa(&fake.base);
        let error = ZaloSender::new(test_egress())
            .refresh_credentials(&target)
            .await
            .unwrap_err();
        assert!(matches!(error, SendError::Auth(_)));
        assert!(!error.to_string().contains("zalo-refresh"));
    }

    #[tokio::test]
    async fn a_refused_app_secret_is_the_apps_fault_and_an_unknown_code_is_retried() {
        let fake = FakePlatform::start(Reply::json(
            400,
            json!({"error": -14999, "error_name": "Something new"}),
        ))
        .await;
        fake.then(Reply::json(
            400,
            json!({"error": -14012, "error_name": "Invalid secret key", "error_reason": "secret_key is invalid"}),
        ));
        let target = oa(&fake.base);
        let sender = ZaloSender::new(test_egress());
        let app = sender.refresh_credentials(&target).await.unwrap_err();
        assert!(
            matches!(app, SendError::AppRefused(ref d) if d.contains("(-14012)")),
            "{app}"
        );
        assert!(!app.to_string().contains("zalo-app-secret"));
        let unknown = sender.refresh_credentials(&target).await.unwrap_err();
        assert!(matches!(unknown, SendError::Retryable { .. }), "{unknown}");
    }

    #[tokio::test]
    async fn a_refresh_the_platform_could_not_answer_is_temporary() {
        let fake = FakePlatform::start(Reply::json(502, Value::Null)).await;
        let target = oa(&fake.base);
        let error = ZaloSender::new(test_egress())
            .refresh_credentials(&target)
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{error}");
    }
}
