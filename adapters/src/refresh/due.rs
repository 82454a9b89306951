//! Which integrations need a refresh soon: connected ones of the given channels whose access
//! token expires before a horizon, read from their state rows (`integration_states`).
//!
//! This is only the list of candidates: the refresher re-reads each one under its lock before
//! acting, so a row another process has just changed costs a skip, never a second refresh.
//! An integration whose expiry is unknown (no expiry field, or not RFC 3339) is never due:
//! it is refreshed reactively, when a send is refused.

use crate::refresh::expiry::{self, ACCESS_TOKEN_EXPIRES_AT, LEGACY_EXPIRES_AT};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use switchboard_domain::{ChannelKind, IntegrationId};

/// An integration whose access token expires before the horizon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueIntegration {
    /// Its id.
    pub integration_id: IntegrationId,
    /// When its access token expires, as its row says.
    pub expires_at: DateTime<Utc>,
}

/// The connected integrations of `channels` whose access token expires before `horizon`,
/// soonest first.
pub async fn due_before(
    pool: &PgPool,
    channels: &[ChannelKind],
    horizon: DateTime<Utc>,
) -> Result<Vec<DueIntegration>, StoreError> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = channels.iter().map(|c| c.as_str().to_owned()).collect();
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT aggregate_id,
                COALESCE(state->'auth'->$2->>'plain', state->'auth'->$3->>'plain')
           FROM integration_states
          WHERE status = 'connected' AND channel = ANY($1)",
    )
    .bind(&names)
    .bind(ACCESS_TOKEN_EXPIRES_AT)
    .bind(LEGACY_EXPIRES_AT)
    .fetch_all(pool)
    .await?;
    let mut due: Vec<DueIntegration> = rows
        .into_iter()
        .filter_map(|(id, expires)| {
            let integration_id = id.parse().ok()?;
            let expires_at = expiry::parse(&expires?)?;
            (expires_at <= horizon).then_some(DueIntegration {
                integration_id,
                expires_at,
            })
        })
        .collect();
    due.sort_by_key(|d| (d.expires_at, d.integration_id));
    Ok(due)
}
