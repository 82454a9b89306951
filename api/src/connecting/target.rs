//! An integration as its platform's account calls see it: its stored auth fields opened (under
//! its data key), the submitted ones over them, its platform's credentials in force, the API
//! base (the `api_base` platform setting, else the channel's default) and its own webhook URL.

use crate::error::Problem;
use crate::state::AppState;
use serde_json::Value;
use switchboard_adapters::channels::account_lifecycle::AccountTarget;
use switchboard_adapters::channels::platform_app::setting;
use switchboard_adapters::channels::sender::API_BASE;
use switchboard_adapters::channels::webhook::WebhookSecrets;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::Integration;
use switchboard_domain::{IntegrationId, SecretString};

/// The target of `integration` with `submitted` fields over its stored ones.
pub async fn account_target(
    state: &AppState,
    integration: &Integration,
    id: IntegrationId,
    submitted: Option<&AuthInput>,
) -> Result<AccountTarget, Problem> {
    let channel = integration
        .channel
        .clone()
        .ok_or_else(|| Problem::not_found("integration not found"))?;
    let mut fields = state.integrations.open_auth(integration, id).await?;
    for (name, value) in submitted.map(|a| &a.0).into_iter().flatten() {
        match value {
            Value::Null => {}
            Value::String(text) => {
                fields.insert(name.clone(), SecretString::new(text.as_str()));
            }
            Value::Number(_) | Value::Bool(_) => {
                fields.insert(name.clone(), SecretString::new(value.to_string()));
            }
            Value::Array(_) | Value::Object(_) => {}
        }
    }
    let platform = state.platform_credentials.for_channel(&channel);
    let default_base = state
        .account_lifecycles
        .get(&channel)
        .map(|l| l.default_api_base())
        .unwrap_or_default();
    let api_base = setting(&platform, API_BASE, default_base);
    let webhook_url = state
        .public_base_url
        .as_ref()
        .map(|base| format!("{base}/webhooks/{channel}/{id}"));
    Ok(AccountTarget {
        integration_id: id,
        channel,
        api_base,
        secrets: WebhookSecrets::new(fields, platform),
        webhook_url,
    })
}
