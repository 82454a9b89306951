//! The `integration_accounts` table (migration 0006): the platform account each live
//! integration records, by which deliveries to a platform app's shared webhook URL are routed.
//!
//! # What an integration claims
//! A connected integration claims the id it records, trimmed, in its channel's
//! [`ChannelSpec::app_account`](switchboard_domain::ChannelSpec::app_account) auth field (a
//! plain field: account ids are not secrets), and only once the platform proved it: the
//! connect that made it connected verified the account with the integration's credentials
//! (`account_verified`) and the field still names that account (a credential change to
//! another account drops the claim until a connect proves the new one). A tenant's typed id
//! alone claims nothing: created, disconnected and deleted integrations, and integrations
//! connected before connecting verified accounts, claim nothing, so deliveries naming their
//! accounts are unrouted.
//!
//! # Guarantees
//! An integration's claims are replaced in the transaction that writes its state row (a
//! command's, or a read's write-back), so they always match that row: a Connect that committed
//! is routable at once. The table's primary key gives an account at most one claimant: a
//! command whose claim another integration holds fails with [`claim_refused`] (the command is
//! refused, nothing commits); a write-back whose claim is taken leaves the account to its holder.

use sqlx::{PgConnection, PgPool};
use switchboard_domain::integration::{Integration, IntegrationStatus};
use switchboard_domain::{ChannelCatalog, ChannelKind};

/// The primary key: one claimant per (channel, field, account).
const PRIMARY_KEY: &str = "integration_accounts_pkey";

/// The account one integration claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    channel: String,
    /// The auth field, as the channel's spec names it.
    pub field: &'static str,
    account: String,
}

/// What `state` claims under `channels`' specs, if anything (see the module docs).
pub(crate) fn claim(state: &Integration, channels: &dyn ChannelCatalog) -> Option<Claim> {
    let proven = state.status == IntegrationStatus::Connected && state.account_verified;
    let channel = state.channel.as_ref().filter(|_| proven)?;
    let field = channels.spec(channel)?.app_account?;
    let account = match state.auth.0.get(field)? {
        switchboard_domain::auth::StoredValue::Plain(value) => match value {
            serde_json::Value::String(text) => text.trim().to_owned(),
            serde_json::Value::Number(number) => number.to_string(),
            _ => return None,
        },
        switchboard_domain::auth::StoredValue::Sealed(_) => return None,
    };
    let verified = state.account.external_id.as_deref().map(str::trim);
    (!account.is_empty() && verified == Some(account.as_str())).then(|| Claim {
        channel: channel.as_str().to_owned(),
        field,
        account,
    })
}

/// When a claim is already held by another integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// The write fails ([`claim_refused`] tells the error apart): a command's.
    Refuse,
    /// The claim is dropped, the holder keeps the account: a write-back's.
    Skip,
}

/// Replaces the claims of the integrations `rows` names (by aggregate id) with theirs.
pub(crate) async fn replace(
    conn: &mut PgConnection,
    rows: &[(String, Option<Claim>)],
    taken: Taken,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    sqlx::query("DELETE FROM integration_accounts WHERE integration_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    let claims: Vec<(&str, &Claim)> = rows
        .iter()
        .filter_map(|(id, claim)| Some((id.as_str(), claim.as_ref()?)))
        .collect();
    if claims.is_empty() {
        return Ok(());
    }
    let on_conflict = match taken {
        Taken::Refuse => "",
        Taken::Skip => " ON CONFLICT DO NOTHING",
    };
    let column = |f: fn(&(&str, &Claim)) -> String| claims.iter().map(f).collect::<Vec<_>>();
    sqlx::query(&format!(
        "INSERT INTO integration_accounts (channel, account_field, account_id, integration_id)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]){on_conflict}"
    ))
    .bind(column(|(_, c)| c.channel.clone()))
    .bind(column(|(_, c)| c.field.to_owned()))
    .bind(column(|(_, c)| c.account.clone()))
    .bind(column(|(id, _)| (*id).to_owned()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether `error` is a claim refused because another integration holds the account.
pub(crate) fn claim_refused(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("23505") && db.constraint() == Some(PRIMARY_KEY))
}

/// The aggregate id of the live integration of `channel` recording `account` in `field`.
pub(crate) async fn owner(
    pool: &PgPool,
    channel: &ChannelKind,
    field: &str,
    account: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT integration_id FROM integration_accounts
          WHERE channel = $1 AND account_field = $2 AND account_id = $3",
    )
    .bind(channel.as_str())
    .bind(field)
    .bind(account.trim())
    .fetch_optional(pool)
    .await
}

#[cfg(test)]
mod tests;
