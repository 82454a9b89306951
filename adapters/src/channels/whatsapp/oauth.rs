//! Connecting a WhatsApp business number through Embedded Signup, in its redirect form:
//!
//! 1. The browser goes to the Facebook Login for Business dialog (platform setting
//!    `whatsapp.authorize_url`) with our app id, `redirect_uri`, `state`, `response_type=code`,
//!    the Embedded Signup configuration (`config_id`, from the platform credential
//!    `whatsapp.configuration_id`, with `override_default_response_type=true`) and the scopes
//!    `whatsapp_business_management,whatsapp_business_messaging`.
//! 2. Meta sends it back with `code` and `state` once the business finished signing up.
//! 3. `POST {api_base}/oauth/access_token` trades the code for a business token.
//! 4. `GET {api_base}/debug_token?input_token=<business token>`, as the app
//!    (`<app id>|<app secret>`), lists the WhatsApp Business Accounts shared with us in
//!    `data.granular_scopes[]` (`scope: whatsapp_business_management`, `target_ids`).
//! 5. `GET {api_base}/{waba id}/phone_numbers` lists each account's numbers (`id`,
//!    `display_phone_number`, `verified_name`); the number recorded is the one the caller named,
//!    or the only one.
//!
//! The WABA id is recorded as `business_account_id`, where connecting finds it to subscribe the
//! app to the account's webhooks.

use super::{BUSINESS_ACCOUNT_ID, PHONE_NUMBER_ID};
use crate::channels::graph_api::DEFAULT_API_BASE;
use crate::channels::messenger::oauth::{login_dialog, meta_user_token, APP_ID, APP_SECRET};
use crate::channels::oauth_flow::{
    choose, credential, graph_error, id_text, send_json, setting, url_with, AuthorizeParams,
    CallbackParams, Connection, FlowError, OAuthFlow, Platform,
};
use crate::channels::sender::API_BASE;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::AccountInfo;

use super::platform_app::CONFIGURATION_ID;
/// The permissions asked for.
pub const SCOPES: &str = "whatsapp_business_management,whatsapp_business_messaging";
/// The granular scope whose targets are the shared WhatsApp Business Accounts.
const WABA_SCOPE: &str = "whatsapp_business_management";

/// Embedded Signup for a WhatsApp business number.
pub struct WhatsappOAuth;

#[async_trait]
impl OAuthFlow for WhatsappOAuth {
    fn uses_pkce(&self) -> bool {
        false
    }

    fn hint_field(&self) -> Option<&'static str> {
        Some(PHONE_NUMBER_ID)
    }

    fn authorization_url(
        &self,
        platform: &Platform,
        params: &AuthorizeParams,
    ) -> Result<String, FlowError> {
        let mut extra = vec![("scope", SCOPES)];
        if let Ok(config) = credential(platform, CONFIGURATION_ID) {
            extra.push(("config_id", config.expose()));
            extra.push(("override_default_response_type", "true"));
        }
        login_dialog(platform, params, &extra)
    }

    async fn exchange(
        &self,
        http: &EgressHttp,
        platform: &Platform,
        callback: CallbackParams,
    ) -> Result<Connection, FlowError> {
        let token = meta_user_token(http, platform, &callback).await?;
        let api = setting(platform, API_BASE, DEFAULT_API_BASE);
        let app_token = format!(
            "{}|{}",
            credential(platform, APP_ID)?.expose(),
            credential(platform, APP_SECRET)?.expose()
        );
        let debug = url_with(
            &format!("{api}/debug_token"),
            &[("input_token", token.expose())],
        )?;
        let request = http
            .request(reqwest::Method::GET, debug)?
            .bearer_auth(app_token);
        let (status, answer) = send_json(request).await?;
        if status != 200 {
            return Err(FlowError::Refused(graph_error(status, &answer)));
        }
        let wabas: Vec<String> = answer["data"]["granular_scopes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["scope"] == WABA_SCOPE)
            .flat_map(|s| s["target_ids"].as_array().cloned().unwrap_or_default())
            .filter_map(|id| id_text(&id))
            .collect();
        let mut numbers: Vec<(String, (String, Value))> = Vec::new();
        for waba in &wabas {
            let url =
                format!("{api}/{waba}/phone_numbers?fields=id,display_phone_number,verified_name");
            let request = http
                .request(reqwest::Method::GET, url)?
                .bearer_auth(token.expose());
            let (status, answer) = send_json(request).await?;
            if status != 200 {
                return Err(FlowError::Refused(graph_error(status, &answer)));
            }
            for number in answer["data"].as_array().into_iter().flatten() {
                if let Some(id) = id_text(&number["id"]) {
                    numbers.push((id, (waba.clone(), number.clone())));
                }
            }
        }
        let (phone_id, (waba, number)) =
            choose(&numbers, callback.account_hint.as_deref(), "phone number")?;
        let display = number["display_phone_number"].as_str().map(str::to_owned);
        let mut fields = vec![
            (PHONE_NUMBER_ID.to_owned(), json!(phone_id)),
            (BUSINESS_ACCOUNT_ID.to_owned(), json!(waba)),
            ("access_token".to_owned(), json!(token.expose())),
        ];
        if let Some(display) = &display {
            fields.push(("display_phone_number".to_owned(), json!(display)));
        }
        let name = number["verified_name"].as_str().map(str::to_owned);
        Ok(Connection {
            auth: AuthInput(fields.into_iter().collect()),
            account: AccountInfo {
                external_id: Some(phone_id.clone()),
                display_name: name.or(display),
            },
        })
    }
}
