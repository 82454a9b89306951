//! Connecting a Zalo Official Account through OAuth v4 with PKCE, which Zalo requires:
//!
//! 1. The browser goes to `{oauth_base}/oa/permission?app_id&redirect_uri&code_challenge&state`
//!    (the challenge is S256).
//! 2. Zalo sends it back with `code`, `oa_id` and `state`.
//! 3. `POST {oauth_base}/oa/access_token` with the header `secret_key: <app secret>` and the form
//!    `code, app_id, grant_type=authorization_code, code_verifier` answers `access_token`,
//!    `refresh_token` and `expires_in` (seconds, as a string; about 25 hours). A refusal is an
//!    answer with `error` (negative), `error_name` and `error_description`.
//! 4. `GET {api_base}/v2.0/oa/getoa` with the `access_token` header names the OA the token acts
//!    for (`data.oa_id`, `data.name`); that OA is the one recorded.
//!
//! The refresh token is single-use and valid for three months (Zalo gives no lifetime for it in
//! the answer), so its expiry is recorded as three months from now.

use super::outbound::{APP_SECRET, DEFAULT_API_BASE, DEFAULT_OAUTH_BASE, OAUTH_BASE};
use super::{APP_ID, OA_ID};
use crate::channels::oauth_flow::{
    credential, expiry_fields, id_text, send_json, setting, url_with, AuthorizeParams,
    CallbackParams, Connection, FlowError, OAuthFlow, Platform,
};
use crate::channels::sender::API_BASE;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::AccountInfo;

/// How long a Zalo refresh token lasts: three months, in seconds.
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 90 * 24 * 3600;

/// The Zalo OA v4 consent flow.
pub struct ZaloOAuth;

#[async_trait]
impl OAuthFlow for ZaloOAuth {
    fn uses_pkce(&self) -> bool {
        true
    }

    fn authorization_url(
        &self,
        platform: &Platform,
        params: &AuthorizeParams,
    ) -> Result<String, FlowError> {
        let app_id = credential(platform, APP_ID)?;
        let base = setting(platform, OAUTH_BASE, DEFAULT_OAUTH_BASE);
        let challenge = params.code_challenge.as_deref().unwrap_or_default();
        url_with(
            &format!("{base}/oa/permission"),
            &[
                ("app_id", app_id.expose()),
                ("redirect_uri", &params.redirect_uri),
                ("code_challenge", challenge),
                ("state", &params.state),
            ],
        )
    }

    async fn exchange(
        &self,
        http: &EgressHttp,
        platform: &Platform,
        callback: CallbackParams,
    ) -> Result<Connection, FlowError> {
        let app_id = credential(platform, APP_ID)?;
        let secret = credential(platform, APP_SECRET)?;
        let verifier = callback
            .code_verifier
            .as_ref()
            .ok_or_else(|| FlowError::Refused("no PKCE verifier was kept".into()))?;
        let base = setting(platform, OAUTH_BASE, DEFAULT_OAUTH_BASE);
        let form = [
            ("code", callback.code.expose()),
            ("app_id", app_id.expose()),
            ("grant_type", "authorization_code"),
            ("code_verifier", verifier.expose()),
        ];
        let request = http
            .post(format!("{base}/oa/access_token"))?
            .header("secret_key", secret.expose())
            .form(&form);
        let (_, answer) = send_json(request).await?;
        let (Some(access), Some(refresh)) = (
            answer["access_token"].as_str().filter(|t| !t.is_empty()),
            answer["refresh_token"].as_str().filter(|t| !t.is_empty()),
        ) else {
            return Err(FlowError::Refused(zalo_error(&answer)));
        };
        let (oa_id, name) = self.official_account(http, platform, access).await?;
        if let Some(named) = callback.query.get("oa_id") {
            if named != &oa_id {
                return Err(FlowError::Refused(
                    "the token acts for another OA than the callback named".into(),
                ));
            }
        }
        let mut fields = vec![
            (OA_ID.to_owned(), json!(oa_id)),
            ("access_token".to_owned(), json!(access)),
            ("refresh_token".to_owned(), json!(refresh)),
        ];
        let lifetime = crate::refresh::expiry::seconds(&answer["expires_in"]);
        let refresh_lifetime = crate::refresh::expiry::seconds(&answer["refresh_token_expires_in"])
            .or(Some(REFRESH_TOKEN_LIFETIME_SECS));
        fields.extend(expiry_fields(lifetime, refresh_lifetime));
        Ok(Connection {
            auth: AuthInput(fields.into_iter().collect()),
            account: AccountInfo {
                external_id: Some(oa_id),
                display_name: name,
            },
        })
    }
}

impl ZaloOAuth {
    /// The OA `access` acts for: its id and name.
    async fn official_account(
        &self,
        http: &EgressHttp,
        platform: &Platform,
        access: &str,
    ) -> Result<(String, Option<String>), FlowError> {
        let api = setting(platform, API_BASE, DEFAULT_API_BASE);
        let request = http
            .request(reqwest::Method::GET, format!("{api}/v2.0/oa/getoa"))?
            .header("access_token", access);
        let (_, answer) = send_json(request).await?;
        let data = &answer["data"];
        match id_text(&data["oa_id"]) {
            Some(oa_id) if answer["error"].as_i64().unwrap_or(0) == 0 => {
                Ok((oa_id, data["name"].as_str().map(str::to_owned)))
            }
            _ => Err(FlowError::Refused(format!(
                "the OA could not be read: {}",
                zalo_error(&answer)
            ))),
        }
    }
}

/// Zalo's words for a refusal: `error_name` or `message`, with the `error` code.
fn zalo_error(answer: &Value) -> String {
    let words = answer["error_name"]
        .as_str()
        .or(answer["error_reason"].as_str())
        .or(answer["message"].as_str())
        .unwrap_or("no tokens in the answer");
    match answer["error"].as_i64() {
        Some(code) => format!("{words} ({code})"),
        None => words.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::fake_platform::{test_egress, FakePlatform, Reply};
    use std::collections::BTreeMap;
    use switchboard_domain::SecretString;

    fn platform(base: &str) -> Platform {
        [
            (APP_ID, "app-1"),
            (APP_SECRET, "app-secret"),
            (OAUTH_BASE, base),
            (API_BASE, base),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), SecretString::new(v)))
        .collect()
    }

    fn callback() -> CallbackParams {
        CallbackParams {
            code: SecretString::new("the-code"),
            redirect_uri: "https://sb.example/oauth/zalo/callback".into(),
            code_verifier: Some(SecretString::new("the-verifier")),
            account_hint: None,
            query: BTreeMap::new(),
        }
    }

    #[test]
    fn the_authorization_url_is_zalos_oa_permission_page() {
        let params = AuthorizeParams {
            state: "st".into(),
            redirect_uri: "https://sb.example/oauth/zalo/callback".into(),
            code_challenge: Some("challenge".into()),
        };
        let url = ZaloOAuth
            .authorization_url(&platform(DEFAULT_OAUTH_BASE), &params)
            .unwrap();
        assert_eq!(
            url,
            "https://oauth.zaloapp.com/v4/oa/permission?app_id=app-1&redirect_uri=https%3A%2F%2Fsb.example%2Foauth%2Fzalo%2Fcallback&code_challenge=challenge&state=st"
        );
    }

    #[tokio::test]
    async fn the_code_is_traded_with_the_secret_key_and_the_verifier() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"error": 0, "data": {"oa_id": 42, "name": "Acme OA"}}),
        ))
        .await;
        fake.then(Reply::json(
            200,
            json!({"access_token": "a", "refresh_token": "r", "expires_in": "90000"}),
        ));
        let connection = ZaloOAuth
            .exchange(&test_egress(), &platform(&fake.base), callback())
            .await
            .unwrap();
        assert_eq!(connection.auth.0[OA_ID], "42");
        assert_eq!(connection.account.display_name.as_deref(), Some("Acme OA"));
        let requests = fake.requests();
        assert_eq!(requests[0].path, "/oa/access_token");
        assert_eq!(requests[0].headers["secret_key"], "app-secret");
        assert_eq!(requests[1].path, "/v2.0/oa/getoa");
        assert_eq!(requests[1].headers["access_token"], "a");
    }

    #[tokio::test]
    async fn a_refusal_names_zalos_reason_and_no_secret() {
        let refusal = json!({"error": -14019, "error_name": "Invalid code verifier",
            "error_reason": "code_verifier mismatch", "error_description": "Invalid code verifier"});
        let fake = FakePlatform::start(Reply::json(200, refusal)).await;
        let error = ZaloOAuth
            .exchange(&test_egress(), &platform(&fake.base), callback())
            .await
            .err()
            .unwrap();
        let text = error.to_string();
        assert!(matches!(error, FlowError::Refused(_)), "{text}");
        assert!(text.contains("Invalid code verifier (-14019)"), "{text}");
        assert!(!text.contains("the-code") && !text.contains("the-verifier"));
    }
}
