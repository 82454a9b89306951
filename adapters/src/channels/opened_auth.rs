//! Opening an integration's stored auth fields for the one adapter that must present them to
//! a platform: used by webhook verification and by senders alike, so both see the same fields.

use std::collections::BTreeMap;
use switchboard_domain::auth::StoredValue;
use switchboard_domain::integration::Integration;
use switchboard_domain::{IntegrationId, SecretSealer, SecretString};

/// Every scalar auth field of `integration` as text (numbers and booleans as their JSON text:
/// an SMTP `port` of 2525 opens as `"2525"`), sealed ones opened. A field that does not open
/// (unknown key, tampered text) is left out and logged by name, never by value.
pub fn open_auth_fields(
    integration: &Integration,
    integration_id: IntegrationId,
    sealer: &dyn SecretSealer,
) -> BTreeMap<String, SecretString> {
    let owner = integration_id.to_string();
    integration
        .auth
        .0
        .iter()
        .filter(|(_, value)| {
            !matches!(value, StoredValue::Plain(v) if v.is_object() || v.is_array() || v.is_null())
        })
        .filter_map(|(name, _)| {
            match integration.auth.open(name, sealer, &owner)? {
                Ok(secret) => Some((name.clone(), secret)),
                Err(error) => {
                    tracing::error!(%integration_id, field = %name, %error, "cannot open a sealed auth field");
                    None
                }
            }
        })
        .collect()
}
