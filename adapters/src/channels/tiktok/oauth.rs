//! Connecting a TikTok business account for Business Messaging (the API for Business's TikTok
//! account holder authorization):
//!
//! 1. The browser goes to `{authorize_url}` (default `https://www.tiktok.com/v2/auth/authorize/`)
//!    with `client_key` (our app's client key, platform credential `tiktok.client_key`), `scope` (`user.info.basic` and the `message.list.*`
//!    messaging scopes), `response_type=code`, `redirect_uri` and `state`.
//! 2. TikTok sends it back with `code` (some portals say `auth_code`) and `state`, or `error`.
//! 3. `POST {api_base}/tt_user/oauth2/token/` with the JSON `client_id, client_secret,
//!    grant_type=authorization_code, auth_code, redirect_uri` answers `{"code": 0, "data":
//!    {access_token, expires_in, refresh_token, refresh_token_expires_in, open_id, scope}}`;
//!    any other `code` is a refusal with its `message`.
//!
//! The account's `open_id` is the business id its messages name. The token endpoint documents
//! no PKCE for web apps, so the client secret alone authenticates the exchange.

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
        let data = &answer["data"];
        let (Some(access), Some(open_id)) = (
            data["access_token"].as_str().filter(|t| !t.is_empty()),
            id_text(&data["open_id"]),
        ) else {
            let message = answer["message"]
                .as_str()
                .unwrap_or("no token in the answer");
            return Err(FlowError::Refused(format!(
                "{message} (code {}, HTTP {status})",
                answer["code"]
            )));
        };
        if answer["code"].as_i64() != Some(0) {
            return Err(FlowError::Refused(format!("code {}", answer["code"])));
        }
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
