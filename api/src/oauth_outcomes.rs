//! The outcomes of OAuth callbacks, pending until the admin's browser completes them.
//!
//! The callback cannot connect: whoever's browser arrives with a code may not be the admin who
//! asked for it (an authorization URL can be sent to anyone, login CSRF). So it trades the code
//! (codes expire within minutes), seals the tokens under the integration's data key and keeps
//! them here with the SHA-256 of the state's browser binding (module `oauth_state`), recording
//! no event. [`OAuthOutcomes::take`] hands them over once, to a caller naming the outcome, its
//! workspace and integration and the binding itself; ten minutes later they are refused and
//! purged. The account's id and name are kept plain: they are no secret.

use crate::oauth_state::binding_hash;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use switchboard_adapters::channels::oauth_flow::Connection;
use switchboard_adapters::store::{IntegrationStore, StoreError};
use switchboard_domain::auth::{seal_context, AuthInput};
use switchboard_domain::integration::AccountInfo;
use switchboard_domain::{ChannelKind, IntegrationId, SealedSecret, SecretString, WorkspaceId};
use uuid::Uuid;

/// How long a pending outcome waits for its completion.
pub const OUTCOME_TTL_SECS: i64 = 600;

/// A connection waiting for the admin's browser to complete it.
pub struct Pending<'a> {
    /// The workspace of the integration.
    pub workspace: &'a WorkspaceId,
    /// The integration to connect.
    pub integration: IntegrationId,
    /// Its channel.
    pub channel: &'a ChannelKind,
    /// The SHA-256 of the browser binding of the flow's state.
    pub binding_hash: &'a str,
    /// What the exchange obtained.
    pub connection: Connection,
}

/// An outcome as its completion takes it: the tokens opened.
pub struct Completed {
    /// The auth fields to connect with.
    pub auth: AuthInput,
    /// The account they act for.
    pub account: AccountInfo,
}

/// Why an outcome cannot be completed.
#[derive(Debug, thiserror::Error)]
pub enum OutcomeError {
    /// No such outcome for this workspace and integration (or it was completed already).
    #[error("no pending OAuth outcome of this integration has this id")]
    NotFound,
    /// The binding is not the one handed to the browser that started the flow.
    #[error("the browser binding does not match the one the authorize step handed out")]
    WrongBinding,
    /// Too old: purged; the flow starts over.
    #[error("the OAuth outcome expired; start the connection again")]
    Expired,
    /// The tokens could not be sealed, opened or read back.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// PostgreSQL failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Pending OAuth outcomes in `oauth_outcomes`.
#[derive(Clone)]
pub struct OAuthOutcomes {
    pool: PgPool,
    integrations: IntegrationStore,
}

impl OAuthOutcomes {
    /// Outcomes in `integrations`' database, sealed under its integrations' data keys.
    pub fn new(integrations: IntegrationStore) -> Self {
        Self {
            pool: integrations.pool().clone(),
            integrations,
        }
    }

    /// Keeps `pending`, its tokens sealed; its id and expiry.
    pub async fn store(&self, pending: Pending<'_>) -> Result<(Uuid, DateTime<Utc>), OutcomeError> {
        self.purge().await?;
        let id = Uuid::new_v4();
        let expires_at = Utc::now() + Duration::seconds(OUTCOME_TTL_SECS);
        let auth = serde_json::to_string(&pending.connection.auth.0)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sealed = self
            .integrations
            .seal_for(
                pending.integration,
                &SecretString::new(auth),
                &context(pending.integration, id),
            )
            .await?;
        let account = serde_json::to_value(&pending.connection.account)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO oauth_outcomes (id, workspace_id, integration_id, channel, binding_hash, \
             auth, account, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(pending.workspace.as_str())
        .bind(pending.integration.as_uuid())
        .bind(pending.channel.as_str())
        .bind(pending.binding_hash)
        .bind(sealed.as_str())
        .bind(account)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok((id, expires_at))
    }

    /// Takes outcome `id` of integration `integration` of `workspace` for the caller presenting
    /// `binding`, once. A wrong binding leaves it for the right one; an expired one is purged.
    pub async fn take(
        &self,
        workspace: &WorkspaceId,
        integration: IntegrationId,
        id: Uuid,
        binding: &str,
    ) -> Result<Completed, OutcomeError> {
        let taken: Option<(String, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
            "DELETE FROM oauth_outcomes WHERE id = $1 AND workspace_id = $2 \
             AND integration_id = $3 AND binding_hash = $4 RETURNING auth, account, expires_at",
        )
        .bind(id)
        .bind(workspace.as_str())
        .bind(integration.as_uuid())
        .bind(binding_hash(binding))
        .fetch_optional(&self.pool)
        .await?;
        let Some((sealed, account, expires_at)) = taken else {
            return Err(self.why_not(workspace, integration, id).await?);
        };
        if expires_at <= Utc::now() {
            return Err(OutcomeError::Expired);
        }
        let opened = self
            .integrations
            .open_for(
                integration,
                &SealedSecret::from_sealed_text(sealed),
                &context(integration, id),
            )
            .await?;
        let auth = serde_json::from_str(opened.expose())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let account =
            serde_json::from_value(account).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Completed {
            auth: AuthInput(auth),
            account,
        })
    }

    /// Why outcome `id` was not taken: absent (here), expired (purged) or another binding's.
    async fn why_not(
        &self,
        workspace: &WorkspaceId,
        integration: IntegrationId,
        id: Uuid,
    ) -> Result<OutcomeError, OutcomeError> {
        let expires: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT expires_at FROM oauth_outcomes WHERE id = $1 AND workspace_id = $2 \
             AND integration_id = $3",
        )
        .bind(id)
        .bind(workspace.as_str())
        .bind(integration.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match expires {
            None => OutcomeError::NotFound,
            Some(at) if at <= Utc::now() => {
                sqlx::query("DELETE FROM oauth_outcomes WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                OutcomeError::Expired
            }
            Some(_) => OutcomeError::WrongBinding,
        })
    }

    /// Drops outcomes past their expiry.
    async fn purge(&self) -> Result<(), OutcomeError> {
        sqlx::query("DELETE FROM oauth_outcomes WHERE expires_at < now()")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// What an outcome's tokens are sealed for: its integration (whose data key seals them) and
/// its row.
fn context(integration: IntegrationId, id: Uuid) -> String {
    seal_context(&integration.to_string(), &format!("oauth_outcome.{id}"))
}
