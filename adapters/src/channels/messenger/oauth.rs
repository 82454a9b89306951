//! Connecting a Facebook page through Facebook Login's manual (redirect) flow:
//!
//! 1. The browser goes to `{authorize_url}` (default `https://www.facebook.com/v21.0/dialog/oauth`)
//!    with `client_id` (our app id), `redirect_uri`, `state`, `response_type=code` and the
//!    scopes `pages_show_list,pages_messaging,pages_manage_metadata`.
//! 2. Facebook sends it back with `code` and `state` (or `error=access_denied`).
//! 3. `POST {api_base}/oauth/access_token` (RFC 6749, with the `oauth2` crate) trades the code for
//!    a short-lived user token; `grant_type=fb_exchange_token` trades that for a long-lived one,
//!    whose page tokens do not expire.
//! 4. `GET {api_base}/me/accounts?fields=id,name,access_token` lists the pages the user manages,
//!    each with its page token; the page recorded is the one the caller named in the authorize
//!    request, or the only one.
//!
//! Facebook Login's PKCE support is for its OpenID Connect variant only, so this flow sends
//! none; the app secret authenticates the exchange. Subscribing the app to the page's webhooks
//! is part of connecting, not of this flow.

use super::PAGE_ID;
use crate::channels::graph_api::DEFAULT_API_BASE;
use crate::channels::oauth_flow::{
    choose, credential, graph_error, id_text, send_json, setting, standard_exchange, url_with,
    AuthorizeParams, CallbackParams, Connection, FlowError, OAuthFlow, Platform, StandardExchange,
};
use crate::channels::platform_app::AUTHORIZE_URL;
use crate::channels::sender::API_BASE;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::AccountInfo;
use switchboard_domain::SecretString;

pub use crate::channels::meta::APP_SECRET;
pub use crate::channels::meta_app::APP_ID;
/// The real Login dialog.
pub const DEFAULT_DIALOG_URL: &str = "https://www.facebook.com/v21.0/dialog/oauth";
/// The permissions asked for: list the pages, message as them, manage their webhooks.
pub const SCOPES: &str = "pages_show_list,pages_messaging,pages_manage_metadata";

/// Facebook Login for a Messenger page.
pub struct MessengerOAuth;

#[async_trait]
impl OAuthFlow for MessengerOAuth {
    fn uses_pkce(&self) -> bool {
        false
    }

    fn hint_field(&self) -> Option<&'static str> {
        Some(PAGE_ID)
    }

    fn authorization_url(
        &self,
        platform: &Platform,
        params: &AuthorizeParams,
    ) -> Result<String, FlowError> {
        login_dialog(platform, params, &[("scope", SCOPES)])
    }

    async fn exchange(
        &self,
        http: &EgressHttp,
        platform: &Platform,
        callback: CallbackParams,
    ) -> Result<Connection, FlowError> {
        let user_token = meta_user_token(http, platform, &callback).await?;
        let long_lived = long_lived_token(http, platform, &user_token).await?;
        let api = setting(platform, API_BASE, DEFAULT_API_BASE);
        let url = format!("{api}/me/accounts?fields=id,name,access_token&limit=100");
        let request = http
            .request(reqwest::Method::GET, url)?
            .bearer_auth(long_lived.expose());
        let (status, answer) = send_json(request).await?;
        if status != 200 {
            return Err(FlowError::Refused(graph_error(status, &answer)));
        }
        let pages: Vec<(String, &Value)> = answer["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|page| page["access_token"].is_string())
            .filter_map(|page| Some((id_text(&page["id"])?, page)))
            .collect();
        let (page_id, page) = choose(&pages, callback.account_hint.as_deref(), "page")?;
        let name = page["name"].as_str().map(str::to_owned);
        let mut fields = vec![
            (PAGE_ID.to_owned(), json!(page_id)),
            ("page_access_token".to_owned(), page["access_token"].clone()),
        ];
        if let Some(name) = &name {
            fields.push(("page_name".to_owned(), json!(name)));
        }
        Ok(Connection {
            auth: AuthInput(fields.into_iter().collect()),
            account: AccountInfo {
                external_id: Some(page_id.clone()),
                display_name: name,
            },
        })
    }
}

/// The Login dialog's URL with our app id, the redirect URI, the state and `extra`.
pub fn login_dialog(
    platform: &Platform,
    params: &AuthorizeParams,
    extra: &[(&str, &str)],
) -> Result<String, FlowError> {
    let app_id = credential(platform, APP_ID)?;
    let dialog = setting(platform, AUTHORIZE_URL, DEFAULT_DIALOG_URL);
    let mut query = vec![
        ("client_id", app_id.expose()),
        ("redirect_uri", params.redirect_uri.as_str()),
        ("state", params.state.as_str()),
        ("response_type", "code"),
    ];
    query.extend_from_slice(extra);
    url_with(&dialog, &query)
}

/// Trades the callback's code at `{api_base}/oauth/access_token` for a user (or business) token.
pub async fn meta_user_token(
    http: &EgressHttp,
    platform: &Platform,
    callback: &CallbackParams,
) -> Result<SecretString, FlowError> {
    let api = setting(platform, API_BASE, DEFAULT_API_BASE);
    let endpoint = StandardExchange {
        token_url: format!("{api}/oauth/access_token"),
        client_id: credential(platform, APP_ID)?,
        client_secret: credential(platform, APP_SECRET)?,
    };
    Ok(standard_exchange(http, endpoint, callback)
        .await?
        .access_token)
}

/// A long-lived user token for a short-lived one (`grant_type=fb_exchange_token`).
async fn long_lived_token(
    http: &EgressHttp,
    platform: &Platform,
    user_token: &SecretString,
) -> Result<SecretString, FlowError> {
    let api = setting(platform, API_BASE, DEFAULT_API_BASE);
    let form = [
        ("grant_type", "fb_exchange_token"),
        ("client_id", credential(platform, APP_ID)?.expose()),
        ("client_secret", credential(platform, APP_SECRET)?.expose()),
        ("fb_exchange_token", user_token.expose()),
    ];
    let request = http.post(format!("{api}/oauth/access_token"))?.form(&form);
    let (status, answer) = send_json(request).await?;
    match answer["access_token"].as_str() {
        Some(token) if status == 200 => Ok(SecretString::new(token)),
        _ => Err(FlowError::Refused(graph_error(status, &answer))),
    }
}
