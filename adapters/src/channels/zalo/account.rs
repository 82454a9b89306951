//! Connecting a Zalo Official Account: `GET /v2.0/oa/getoa` with the `access_token` header
//! answers the OA the token belongs to, which must be the OA claimed (`oa_id`). Zalo has no
//! per-OA webhook subscription (the app's webhook URL is set in its developer console) and no
//! revocation call, so nothing is asked of it on disconnect.
//!
//! Zalo answers HTTP 200 with `error != 0` when it refuses: -216 (invalid token) and -124
//! (expired) are refused credentials, -32 (throttled) is unavailable, as are 5xx answers; any
//! other refusal while verifying means the token does not prove the OA.

use super::outbound::DEFAULT_API_BASE;
use crate::channels::account_lifecycle::{
    answer_json, classify_status, id_text, AccountError, AccountLifecycle, AccountTarget,
    VerifiedAccount,
};
use crate::channels::sender::retry_after_header;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use reqwest::Method;

/// Zalo's throttling code.
const THROTTLED: i64 = -32;

/// Zalo's account lifecycle.
#[derive(Clone)]
pub struct ZaloAccount {
    http: EgressHttp,
}

impl ZaloAccount {
    /// Calls the OA API through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

#[async_trait]
impl AccountLifecycle for ZaloAccount {
    fn default_api_base(&self) -> &'static str {
        DEFAULT_API_BASE
    }

    async fn verify(&self, target: &AccountTarget) -> Result<VerifiedAccount, AccountError> {
        let token = target.secret("access_token")?;
        let response = self
            .http
            .request(Method::GET, target.url("/v2.0/oa/getoa"))?
            .header("access_token", token.expose())
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
        match answer["error"].as_i64() {
            Some(0) => {}
            Some(code) => {
                let detail = format!(
                    "Zalo error {code}: {}",
                    answer["message"].as_str().unwrap_or("(no message)")
                );
                return Err(if code == THROTTLED {
                    AccountError::Unavailable {
                        retry_after,
                        detail,
                    }
                } else {
                    AccountError::RefusedCredentials(detail)
                });
            }
            None => {
                return Err(AccountError::unavailable(
                    "Zalo answered without an error code",
                ))
            }
        }
        let data = &answer["data"];
        let external_id = id_text(&data["oa_id"])
            .ok_or_else(|| AccountError::unavailable("Zalo answered without the OA's id"))?;
        Ok(VerifiedAccount {
            external_id,
            display_name: data["name"].as_str().map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::account_lifecycle::{prove, testing::target};
    use crate::channels::fake_platform::{test_egress, FakePlatform, Reply};
    use serde_json::json;

    fn oa(base: &str) -> AccountTarget {
        target(
            "zalo",
            base,
            &[
                ("oa_id", "388613280878808645"),
                ("access_token", "zalo-access"),
            ],
        )
    }

    #[tokio::test]
    async fn the_oa_of_the_token_must_be_the_claimed_one() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"data": {"oa_id": 388613280878808645_u64, "name": "Acme OA"}, "error": 0, "message": "Success"}),
        ))
        .await;
        let lifecycle = ZaloAccount::new(test_egress());
        let claimed = [Some("388613280878808645".to_owned())];
        let account = prove(&lifecycle, &oa(&fake.base), &claimed).await.unwrap();
        assert_eq!(account.display_name.as_deref(), Some("Acme OA"));
        let request = &fake.requests()[0];
        assert_eq!(request.path, "/v2.0/oa/getoa");
        assert_eq!(request.headers["access_token"], "zalo-access");
        fake.then(Reply::json(
            200,
            json!({"data": {"oa_id": "1", "name": "Other"}, "error": 0}),
        ));
        assert!(matches!(
            prove(&lifecycle, &oa(&fake.base), &claimed).await,
            Err(AccountError::Mismatch { .. })
        ));
    }

    #[tokio::test]
    async fn an_invalid_token_is_refused_and_throttling_is_unavailable() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"error": -216, "message": "Access token is invalid"}),
        ))
        .await;
        let lifecycle = ZaloAccount::new(test_egress());
        let refused = lifecycle.verify(&oa(&fake.base)).await.unwrap_err();
        assert!(matches!(refused, AccountError::RefusedCredentials(ref d) if d.contains("-216")));
        fake.then(Reply::json(
            200,
            json!({"error": -32, "message": "Rate limit"}),
        ));
        assert!(matches!(
            lifecycle.verify(&oa(&fake.base)).await,
            Err(AccountError::Unavailable { .. })
        ));
        fake.then(Reply::json(502, json!({})));
        assert!(matches!(
            lifecycle.verify(&oa(&fake.base)).await,
            Err(AccountError::Unavailable { .. })
        ));
    }
}
