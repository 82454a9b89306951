//! Connecting a Google spreadsheet through Google's OAuth 2.0 web server flow, with PKCE:
//!
//! 1. The browser goes to `{authorize_url}` (default
//!    `https://accounts.google.com/o/oauth2/v2/auth`) with `client_id`, `redirect_uri`,
//!    `response_type=code`, the scope `https://www.googleapis.com/auth/spreadsheets`,
//!    `access_type=offline` and `prompt=consent` (so a refresh token is issued every time),
//!    `state` and an S256 `code_challenge`.
//! 2. Google sends it back with `code` and `state` (or `error=access_denied`).
//! 3. `POST {oauth_base}/token` (RFC 6749, with the `oauth2` crate) with the code, the client id
//!    and secret, the redirect URI and the `code_verifier` answers `access_token`, `expires_in`
//!    (an hour), `refresh_token`, `scope` and `token_type`.
//! 4. `GET {api_base}/v4/spreadsheets/{id}?fields=spreadsheetId,properties.title` with the new
//!    token proves the spreadsheet the caller named is reachable, and gives its title.
//!
//! The spreadsheet is the caller's choice: the authorize request's `account`, else the
//! integration's own `spreadsheet_id`.

use super::outbound::{
    CLIENT_ID, CLIENT_SECRET, DEFAULT_API_BASE, DEFAULT_OAUTH_BASE, OAUTH_BASE, SPREADSHEET_ID,
};
use crate::channels::oauth_flow::{
    credential, expiry_fields, send_json, setting, standard_exchange, url_with, AuthorizeParams,
    CallbackParams, Connection, FlowError, OAuthFlow, Platform, StandardExchange,
};
use crate::channels::platform_app::AUTHORIZE_URL;
use crate::channels::sender::API_BASE;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use serde_json::json;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::AccountInfo;

/// The real authorization endpoint.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// The scope asked for: reading and writing the user's spreadsheets.
pub const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";

/// Google's consent flow for the spreadsheets scope.
pub struct GoogleOAuth;

#[async_trait]
impl OAuthFlow for GoogleOAuth {
    fn uses_pkce(&self) -> bool {
        true
    }

    fn hint_field(&self) -> Option<&'static str> {
        Some(SPREADSHEET_ID)
    }

    fn needs_hint(&self) -> bool {
        true
    }

    fn authorization_url(
        &self,
        platform: &Platform,
        params: &AuthorizeParams,
    ) -> Result<String, FlowError> {
        let client_id = credential(platform, CLIENT_ID)?;
        let base = setting(platform, AUTHORIZE_URL, DEFAULT_AUTHORIZE_URL);
        let challenge = params.code_challenge.as_deref().unwrap_or_default();
        url_with(
            &base,
            &[
                ("client_id", client_id.expose()),
                ("redirect_uri", &params.redirect_uri),
                ("response_type", "code"),
                ("scope", SCOPE),
                ("access_type", "offline"),
                ("prompt", "consent"),
                ("include_granted_scopes", "true"),
                ("state", &params.state),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
        )
    }

    async fn exchange(
        &self,
        http: &EgressHttp,
        platform: &Platform,
        callback: CallbackParams,
    ) -> Result<Connection, FlowError> {
        let spreadsheet = callback
            .account_hint
            .clone()
            .ok_or_else(|| FlowError::Account("no spreadsheet was named".into()))?;
        let endpoint = StandardExchange {
            token_url: format!(
                "{}/token",
                setting(platform, OAUTH_BASE, DEFAULT_OAUTH_BASE)
            ),
            client_id: credential(platform, CLIENT_ID)?,
            client_secret: credential(platform, CLIENT_SECRET)?,
        };
        let tokens = standard_exchange(http, endpoint, &callback).await?;
        let refresh = tokens.refresh_token.ok_or_else(|| {
            FlowError::Refused("Google issued no refresh token (offline access refused)".into())
        })?;
        let api = setting(platform, API_BASE, DEFAULT_API_BASE);
        let url = format!(
            "{api}/v4/spreadsheets/{}?fields=spreadsheetId,properties.title",
            urlencode(&spreadsheet)
        );
        let request = http
            .request(reqwest::Method::GET, url)?
            .bearer_auth(tokens.access_token.expose());
        let (status, answer) = send_json(request).await?;
        if status != 200 {
            let reason = answer["error"]["status"].as_str().unwrap_or("refused");
            return Err(FlowError::Account(format!(
                "the spreadsheet is not reachable with this Google account (HTTP {status}, {reason})"
            )));
        }
        let title = answer["properties"]["title"].as_str().map(str::to_owned);
        let mut fields = vec![
            (SPREADSHEET_ID.to_owned(), json!(spreadsheet)),
            (
                "access_token".to_owned(),
                json!(tokens.access_token.expose()),
            ),
            ("refresh_token".to_owned(), json!(refresh.expose())),
        ];
        fields.extend(expiry_fields(tokens.expires_in, tokens.refresh_expires_in));
        Ok(Connection {
            auth: AuthInput(fields.into_iter().collect()),
            account: AccountInfo {
                external_id: Some(spreadsheet),
                display_name: title,
            },
        })
    }
}

/// `text` as one URL path segment.
fn urlencode(text: &str) -> String {
    oauth2::url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
