//! Connecting a TikTok business account: `GET /business/get/?business_id=…&fields=[…]` with
//! the `Access-Token` header answers the account's profile only when the token was granted
//! that account, which proves the claimed `business_id`. TikTok's webhooks are configured per
//! developer app, so nothing is subscribed per account; on disconnect and delete the grant is
//! revoked (`POST /tt_user/oauth2/revoke/` with the JSON `client_id, client_secret,
//! access_token`, answered by TikTok's envelope with `code` 0), so the account no longer lists
//! our app.
//!
//! TikTok answers HTTP 200 with `code != 0` when it refuses: 40105 (invalid token) and every
//! other refusal while verifying are refused credentials, except throttling (40100, 40064) and
//! its internal errors (5xxxx), which are unavailable.

use super::outbound::{ACCESS_TOKEN, DEFAULT_API_BASE};
use super::BUSINESS_ID;
use crate::channels::account_lifecycle::{
    answer_json, classify_status, AccountError, AccountLifecycle, AccountTarget, VerifiedAccount,
};
use crate::channels::sender::retry_after_header;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use reqwest::Method;
use serde_json::json;

/// The profile fields asked for.
pub const FIELDS: &str = r#"["display_name","username"]"#;
/// Throttling codes.
const THROTTLED: &[i64] = &[40100, 40064];

/// TikTok's account lifecycle.
#[derive(Clone)]
pub struct TikTokAccount {
    http: EgressHttp,
}

impl TikTokAccount {
    /// Calls the Business API through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

#[async_trait]
impl AccountLifecycle for TikTokAccount {
    fn default_api_base(&self) -> &'static str {
        DEFAULT_API_BASE
    }

    async fn verify(&self, target: &AccountTarget) -> Result<VerifiedAccount, AccountError> {
        let business = target.field(BUSINESS_ID)?;
        let token = target.secret(ACCESS_TOKEN)?;
        let response = self
            .http
            .request(Method::GET, target.url("/business/get/"))?
            .query(&[("business_id", business.as_str()), ("fields", FIELDS)])
            .header("Access-Token", token.expose())
            .send()
            .await
            .map_err(AccountError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer = answer_json(response).await;
        if !status.is_success() {
            return Err(classify_status(
                status,
                retry_after,
                format!("HTTP {status}"),
            ));
        }
        match answer["code"].as_i64() {
            Some(0) if answer["data"].is_object() => {}
            Some(code) if code != 0 => {
                let detail = format!(
                    "TikTok error {code}: {}",
                    answer["message"].as_str().unwrap_or("(no message)")
                );
                return Err(if THROTTLED.contains(&code) || code >= 50000 {
                    AccountError::Unavailable {
                        retry_after,
                        detail,
                    }
                } else {
                    AccountError::RefusedCredentials(detail)
                });
            }
            _ => {
                return Err(AccountError::unavailable(
                    "TikTok answered without the account's profile",
                ))
            }
        }
        let data = &answer["data"];
        let display_name = ["display_name", "username"]
            .iter()
            .find_map(|f| data[*f].as_str().filter(|n| !n.trim().is_empty()))
            .map(str::to_owned);
        Ok(VerifiedAccount {
            external_id: business,
            display_name,
        })
    }

    async fn unsubscribe(&self, target: &AccountTarget) -> Result<Option<String>, AccountError> {
        let body = json!({
            "client_id": target.secret(super::platform_app::CLIENT_KEY)?.expose(),
            "client_secret": target.secret(super::CLIENT_SECRET)?.expose(),
            "access_token": target.secret(ACCESS_TOKEN)?.expose(),
        });
        let response = self
            .http
            .post(target.url("/tt_user/oauth2/revoke/"))?
            .json(&body)
            .send()
            .await
            .map_err(AccountError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer = answer_json(response).await;
        match answer["code"].as_i64() {
            Some(0) if status.is_success() => Ok(Some("the TikTok grant was revoked".into())),
            // A token already invalid or revoked is what revoking wanted.
            Some(code) if INVALID_TOKEN.contains(&code) => {
                Ok(Some("the TikTok grant was already revoked".into()))
            }
            Some(code) if THROTTLED.contains(&code) || code >= 50000 => {
                Err(AccountError::Unavailable {
                    retry_after,
                    detail: super::oauth::envelope_error(status.as_u16(), &answer),
                })
            }
            Some(_) => Err(AccountError::Refused(super::oauth::envelope_error(
                status.as_u16(),
                &answer,
            ))),
            None => Err(classify_status(
                status,
                retry_after,
                format!("HTTP {status}"),
            )),
        }
    }
}

/// The code of an access token that is incorrect or has been revoked.
const INVALID_TOKEN: &[i64] = &[40105];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::account_lifecycle::testing::target;
    use crate::channels::fake_platform::{test_egress, FakePlatform, Reply};
    use serde_json::json;

    fn business(base: &str) -> AccountTarget {
        target(
            "tiktok",
            base,
            &[
                ("business_id", "-000bX2dLq"),
                ("access_token", "act.tiktok"),
            ],
        )
    }

    #[tokio::test]
    async fn the_business_account_is_read_with_its_token() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"code": 0, "message": "OK", "data": {"display_name": "Acme", "username": "acme"}}),
        ))
        .await;
        let account = TikTokAccount::new(test_egress())
            .verify(&business(&fake.base))
            .await
            .unwrap();
        assert_eq!(account.external_id, "-000bX2dLq");
        assert_eq!(account.display_name.as_deref(), Some("Acme"));
        let request = &fake.requests()[0];
        assert!(request
            .path
            .starts_with("/business/get/?business_id=-000bX2dLq&fields="));
        assert_eq!(request.headers["access-token"], "act.tiktok");
    }

    #[tokio::test]
    async fn a_token_without_the_account_is_refused_and_throttling_is_unavailable() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"code": 40001, "message": "No permission to access this business"}),
        ))
        .await;
        let lifecycle = TikTokAccount::new(test_egress());
        assert!(matches!(
            lifecycle.verify(&business(&fake.base)).await,
            Err(AccountError::RefusedCredentials(ref d)) if d.contains("40001")
        ));
        fake.then(Reply::json(
            200,
            json!({"code": 40100, "message": "Too many requests"}),
        ));
        assert!(matches!(
            lifecycle.verify(&business(&fake.base)).await,
            Err(AccountError::Unavailable { .. })
        ));
    }

    fn revocable(base: &str) -> AccountTarget {
        target(
            "tiktok",
            base,
            &[
                ("business_id", "-000bX2dLq"),
                ("access_token", "act.tiktok"),
                ("client_key", "tt-app"),
                ("client_secret", "tt-secret"),
            ],
        )
    }

    #[tokio::test]
    async fn going_away_revokes_the_access_token_with_the_app_credentials() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"code": 0, "message": "OK", "request_id": "r1", "data": {}}),
        ))
        .await;
        let lifecycle = TikTokAccount::new(test_egress());
        assert_eq!(
            lifecycle
                .unsubscribe(&revocable(&fake.base))
                .await
                .unwrap()
                .as_deref(),
            Some("the TikTok grant was revoked")
        );
        let request = &fake.requests()[0];
        assert_eq!(request.path, "/tt_user/oauth2/revoke/");
        assert_eq!(
            request.body,
            json!({"client_id": "tt-app", "client_secret": "tt-secret", "access_token": "act.tiktok"})
        );
        fake.then(Reply::json(
            200,
            json!({"code": 40105, "message": "Access token is incorrect or has been revoked."}),
        ));
        assert_eq!(
            lifecycle
                .unsubscribe(&revocable(&fake.base))
                .await
                .unwrap()
                .as_deref(),
            Some("the TikTok grant was already revoked")
        );
    }

    #[tokio::test]
    async fn a_refused_revoke_is_an_error_naming_tiktoks_words_not_the_secrets() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"code": 40001, "message": "Invalid client secret"}),
        ))
        .await;
        let error = TikTokAccount::new(test_egress())
            .unsubscribe(&revocable(&fake.base))
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, AccountError::Refused(_)), "{text}");
        assert!(text.contains("Invalid client secret (code 40001"), "{text}");
        assert!(!text.contains("tt-secret") && !text.contains("act.tiktok"));
    }
}
