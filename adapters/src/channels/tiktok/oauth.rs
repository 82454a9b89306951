//! Connecting a TikTok business account for Business Messaging, through the API for
//! Business's TikTok account holder authorization (the Accounts API's `tt_user/oauth2`
//! endpoints, whose tokens the Business Messaging calls take in their `Access-Token` header):
//!
//! 1. The browser goes to `{authorize_url}` (default `https://www.tiktok.com/v2/auth/authorize/`)
//!    with `client_key` (our app's id, platform credential `tiktok.client_key`), `scope`,
//!    `response_type=code`, `redirect_uri` (registered with the app; TikTok wants it to end
//!    with `/`) and `state`.
//! 2. TikTok sends it back with `code` (single-use, valid ten minutes), `scopes` and `state`,
//!    or `error` and `error_description`.
//! 3. `POST {api_base}/tt_user/oauth2/token/` with the JSON `client_id, client_secret,
//!    grant_type=authorization_code, auth_code, redirect_uri` answers TikTok's envelope
//!    `{"code": 0, "message": "OK", "request_id": …, "data": {open_id, scope, access_token,
//!    expires_in, refresh_token, refresh_token_expires_in, token_type}}` (a day and a year);
//!    any other `code` is a refusal, named by its `message`.
//!
//! The account's `open_id` is the `business_id` every later call names. The exchange takes no
//! PKCE: the client secret authenticates it. Refreshing is the sender's
//! (`tt_user/oauth2/refresh_token/`), revoking the account lifecycle's (`tt_user/oauth2/revoke/`).

use super::outbound::DEFAULT_API_BASE;
use super::{BUSINESS_ID, CLIENT_SECRET};
use crate::channels::oauth_flow::{
    credential, expiry_fields, id_text, send_json, setting, url_with, AuthorizeParams,
    CallbackParams, Connection, FlowError, OAuthFlow, Platform,
};
use crate::channels::sender::API_BASE;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use serde_json::json;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::AccountInfo;

use super::platform_app::CLIENT_KEY;
use crate::channels::platform_app::AUTHORIZE_URL;
/// The real authorization page.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://www.tiktok.com/v2/auth/authorize/";
/// The permissions asked for.
pub const SCOPES: &str = "user.info.basic,message.list.read,message.list.send,message.list.manage";

/// TikTok account holder authorization for Business Messaging.
pub struct TikTokOAuth;

#[async_trait]
impl OAuthFlow for TikTokOAuth {
    fn uses_pkce(&self) -> bool {
        false
    }

    fn authorization_url(
        &self,
        platform: &Platform,
        params: &AuthorizeParams,
    ) -> Result<String, FlowError> {
        let client = credential(platform, CLIENT_KEY)?;
        url_with(
            &setting(platform, AUTHORIZE_URL, DEFAULT_AUTHORIZE_URL),
            &[
                ("client_key", client.expose()),
                ("scope", SCOPES),
                ("response_type", "code"),
                ("redirect_uri", &params.redirect_uri),
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
        let api = setting(platform, API_BASE, DEFAULT_API_BASE);
        let body = json!({
            "client_id": credential(platform, CLIENT_KEY)?.expose(),
            "client_secret": credential(platform, CLIENT_SECRET)?.expose(),
            "grant_type": "authorization_code",
            "auth_code": callback.code.expose(),
            "redirect_uri": callback.redirect_uri,
        });
        let request = http
            .post(format!("{api}/tt_user/oauth2/token/"))?
            .json(&body);
        let (status, answer) = send_json(request).await?;
        if answer["code"].as_i64() != Some(0) {
            return Err(FlowError::Refused(envelope_error(status, &answer)));
        }
        let data = &answer["data"];
        let (Some(access), Some(open_id)) = (
            data["access_token"].as_str().filter(|t| !t.is_empty()),
            id_text(&data["open_id"]),
        ) else {
            return Err(FlowError::Refused(
                "TikTok answered code 0 without an access token and open_id".into(),
            ));
        };
        let mut fields = vec![
            (BUSINESS_ID.to_owned(), json!(open_id)),
            ("access_token".to_owned(), json!(access)),
        ];
        if let Some(refresh) = data["refresh_token"].as_str() {
            fields.push(("refresh_token".to_owned(), json!(refresh)));
        }
        let seconds = crate::refresh::expiry::seconds;
        fields.extend(expiry_fields(
            seconds(&data["expires_in"]),
            seconds(&data["refresh_token_expires_in"]),
        ));
        Ok(Connection {
            auth: AuthInput(fields.into_iter().collect()),
            account: AccountInfo {
                external_id: Some(open_id),
                display_name: None,
            },
        })
    }
}

/// TikTok's words for a refused call: its envelope's `message` and `code` (and the HTTP
/// status), never the request.
pub fn envelope_error(status: u16, answer: &serde_json::Value) -> String {
    let message = answer["message"]
        .as_str()
        .unwrap_or("no TikTok envelope in the answer");
    format!("{message} (code {}, HTTP {status})", answer["code"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::fake_platform::{test_egress, FakePlatform, Reply};
    use std::collections::BTreeMap;
    use switchboard_domain::SecretString;

    fn platform(base: &str) -> Platform {
        [
            (CLIENT_KEY, "tt-app"),
            (CLIENT_SECRET, "tt-secret"),
            (API_BASE, base),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), SecretString::new(v)))
        .collect()
    }

    fn callback() -> CallbackParams {
        CallbackParams {
            code: SecretString::new("the-code"),
            redirect_uri: "https://sb.example/oauth/tiktok/callback/".into(),
            code_verifier: None,
            account_hint: None,
            query: BTreeMap::new(),
        }
    }

    #[test]
    fn the_authorization_url_is_the_account_holder_authorization_page() {
        let params = AuthorizeParams {
            state: "st".into(),
            redirect_uri: "https://sb.example/cb/".into(),
            code_challenge: None,
        };
        let url = TikTokOAuth
            .authorization_url(&platform("http://unused"), &params)
            .unwrap();
        let url = oauth2::url::Url::parse(&url).unwrap();
        assert_eq!(url.host_str(), Some("www.tiktok.com"));
        assert!(url.path().starts_with("/v2/auth/authorize"), "{url}");
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let expected: Vec<(String, String)> = [
            ("client_key", "tt-app"),
            ("scope", SCOPES),
            ("response_type", "code"),
            ("redirect_uri", "https://sb.example/cb/"),
            ("state", "st"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(query, expected);
    }

    #[tokio::test]
    async fn the_code_is_traded_as_auth_code_in_json_and_the_envelope_is_read() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"code": 0, "message": "OK", "request_id": "r1", "data": {
                "open_id": "-000biz", "scope": "user.info.basic", "access_token": "act.1",
                "expires_in": 86400, "refresh_token": "rft.1",
                "refresh_token_expires_in": 31536000, "token_type": "Bearer"}}),
        ))
        .await;
        let connection = TikTokOAuth
            .exchange(&test_egress(), &platform(&fake.base), callback())
            .await
            .unwrap();
        assert_eq!(connection.auth.0[BUSINESS_ID], "-000biz");
        assert_eq!(connection.auth.0["refresh_token"], "rft.1");
        assert!(connection.auth.0.contains_key("refresh_token_expires_at"));
        let request = &fake.requests()[0];
        assert_eq!(request.path, "/tt_user/oauth2/token/");
        assert_eq!(
            request.body,
            json!({"client_id": "tt-app", "client_secret": "tt-secret",
                "grant_type": "authorization_code", "auth_code": "the-code",
                "redirect_uri": "https://sb.example/oauth/tiktok/callback/"})
        );
    }

    #[tokio::test]
    async fn a_non_zero_code_is_a_refusal_even_with_data_and_names_no_code() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"code": 40131, "message": "Authorization code is expired", "request_id": "r2",
                "data": {"access_token": "act.stale", "open_id": "-000biz"}}),
        ))
        .await;
        let error = TikTokOAuth
            .exchange(&test_egress(), &platform(&fake.base), callback())
            .await
            .err()
            .unwrap();
        let text = error.to_string();
        assert!(matches!(error, FlowError::Refused(_)), "{text}");
        assert!(
            text.contains("Authorization code is expired (code 40131"),
            "{text}"
        );
        assert!(!text.contains("the-code") && !text.contains("tt-secret"));
    }
}
