//! Workspace API keys: made with a random secret shown once, stored as the secret's SHA-256,
//! listed without secrets, revoked (never deleted), optionally expiring.
//!
//! A key reads `sbk_<32 hex: key id><64 hex: secret>`. The id finds the row; the secret's hash
//! is compared in constant time. Secrets are 256 random bits, so a fast hash is enough: there
//! is nothing to brute-force that a slow hash would protect.

use super::scope::Scopes;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use subtle::ConstantTimeEq;
use switchboard_domain::WorkspaceId;
use utoipa::ToSchema;

const PREFIX: &str = "sbk_";
const ID_HEX: usize = 32;
const SECRET_HEX: usize = 64;

/// A key as listed: everything but its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// The key's id (the actor id `key:<id>` in event metadata).
    pub id: uuid::Uuid,
    /// Its workspace.
    #[schema(value_type = String)]
    pub workspace: WorkspaceId,
    /// A label for people.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new key: its listing and the secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The listing.
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The bearer token; it is not stored and cannot be shown again.
    pub token: String,
}

/// A key that authenticated.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    /// Its id.
    pub id: uuid::Uuid,
    /// Its workspace.
    pub workspace: WorkspaceId,
    /// Its scopes.
    pub scopes: Scopes,
}

/// Why a token is not a usable key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a key, unknown, or the wrong secret.
    #[error("the API key is not valid")]
    Invalid,
    /// Revoked.
    #[error("the API key was revoked")]
    Revoked,
    /// Past its expiry.
    #[error("the API key has expired")]
    Expired,
    /// The database could not answer.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The keys table.
#[derive(Clone)]
pub struct ApiKeys {
    pool: PgPool,
}

impl ApiKeys {
    /// Keys in `pool` (migrated).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Makes a key and returns it with its token.
    pub async fn create(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        scopes: Scopes,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<CreatedApiKey, sqlx::Error> {
        let id = uuid::Uuid::new_v4();
        let mut secret = [0u8; SECRET_HEX / 2];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let secret = hex::encode(secret);
        let row = sqlx::query(
            "INSERT INTO api_keys (key_id, workspace_id, name, scopes, secret_sha256, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at",
        )
        .bind(id)
        .bind(workspace.as_str())
        .bind(name)
        .bind(scopes.names())
        .bind(digest(&secret))
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(CreatedApiKey {
            key: ApiKeyView {
                id,
                workspace: workspace.clone(),
                name: name.to_owned(),
                scopes: scopes.names(),
                created_at: row.try_get("created_at")?,
                expires_at,
                revoked_at: None,
            },
            token: format!("{PREFIX}{}{secret}", id.simple()),
        })
    }

    /// The keys, of one workspace or all, oldest first.
    pub async fn list(
        &self,
        workspace: Option<&WorkspaceId>,
    ) -> Result<Vec<ApiKeyView>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT key_id, workspace_id, name, scopes, created_at, expires_at, revoked_at
             FROM api_keys WHERE $1::text IS NULL OR workspace_id = $1
             ORDER BY created_at, key_id",
        )
        .bind(workspace.map(WorkspaceId::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(view).collect()
    }

    /// Revokes key `id`; `None` when there is no such key. Revoking twice keeps the first time.
    pub async fn revoke(&self, id: uuid::Uuid) -> Result<Option<ApiKeyView>, sqlx::Error> {
        let row = sqlx::query(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1
             RETURNING key_id, workspace_id, name, scopes, created_at, expires_at, revoked_at",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(view).transpose()
    }

    /// The key `token` stands for, if it is valid now.
    pub async fn verify(&self, token: &str) -> Result<VerifiedKey, KeyError> {
        let (id, secret) = split(token).ok_or(KeyError::Invalid)?;
        let row = sqlx::query(
            "SELECT workspace_id, scopes, secret_sha256, expires_at, revoked_at
             FROM api_keys WHERE key_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(KeyError::Invalid)?;
        let stored: Vec<u8> = row.try_get("secret_sha256")?;
        if !bool::from(stored.ct_eq(&digest(secret))) {
            return Err(KeyError::Invalid);
        }
        if row
            .try_get::<Option<DateTime<Utc>>, _>("revoked_at")?
            .is_some()
        {
            return Err(KeyError::Revoked);
        }
        if let Some(expires) = row.try_get::<Option<DateTime<Utc>>, _>("expires_at")? {
            if expires <= Utc::now() {
                return Err(KeyError::Expired);
            }
        }
        let workspace: String = row.try_get("workspace_id")?;
        let scopes: Vec<String> = row.try_get("scopes")?;
        Ok(VerifiedKey {
            id,
            workspace: workspace.parse().map_err(|_| KeyError::Invalid)?,
            scopes: Scopes::from_names(scopes.iter().map(String::as_str)),
        })
    }
}

/// Whether `token` has the shape of an API key (as opposed to a JWT).
pub fn looks_like_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

fn split(token: &str) -> Option<(uuid::Uuid, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    if rest.len() != ID_HEX + SECRET_HEX || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (id, secret) = rest.split_at(ID_HEX);
    Some((uuid::Uuid::parse_str(id).ok()?, secret))
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn view(row: &sqlx::postgres::PgRow) -> Result<ApiKeyView, sqlx::Error> {
    let workspace: String = row.try_get("workspace_id")?;
    Ok(ApiKeyView {
        id: row.try_get("key_id")?,
        workspace: workspace
            .parse()
            .map_err(|e: switchboard_domain::IdError| sqlx::Error::Decode(Box::new(e)))?,
        name: row.try_get("name")?,
        scopes: row.try_get("scopes")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_split() {
        let id = uuid::Uuid::new_v4();
        let secret = "ab".repeat(32);
        let token = format!("{PREFIX}{}{secret}", id.simple());
        assert_eq!(split(&token), Some((id, secret.as_str())));
        assert!(split(&token[..token.len() - 1]).is_none());
        assert!(split(&token.replace(PREFIX, "sbx_")).is_none());
        assert!(split(&format!("{}zz", &token[..token.len() - 2])).is_none());
    }
}
