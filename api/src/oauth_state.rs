//! The `state` of an OAuth connect flow: signed, expiring, single-use and bound to one
//! workspace, integration and channel.
//!
//! The text handed to the platform is `<payload>.<mac>`: the payload (base64url JSON of the
//! row id, workspace, integration, channel and expiry) and its HMAC-SHA256 under the state key
//! (the `oauth_state_key` setting, else derived from the secret keyring). A forged or altered
//! state fails the MAC before anything is read. The row (table `oauth_states`) keeps what the
//! callback needs (the PKCE verifier, sealed; the account asked for; the actor) and is taken
//! with `DELETE … RETURNING`: a replayed state finds nothing. States live ten minutes.
//!
//! Each state also binds the flow to the browser of the admin who started it: issuing one
//! makes a one-time binding secret, handed to that caller (whose frontend keeps it) and kept
//! here only as its SHA-256. The callback stores its outcome pending under that hash, and only
//! the caller presenting the binding completes it (module `oauth_outcomes`), so an
//! authorization URL sent to someone else connects nothing for its sender.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx::PgPool;
use std::sync::Arc;
use switchboard_domain::auth::seal_context;
use switchboard_domain::{
    ChannelKind, IntegrationId, SealedSecret, SecretSealer, SecretString, WorkspaceId,
};

/// One `oauth_states` row as the callback takes it.
type StateRow = (
    String,
    Uuid,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
);
use uuid::Uuid;

/// How long an authorization URL's state is accepted.
pub const STATE_TTL_SECS: i64 = 600;
/// What the MAC covers before the payload, so no other HMAC of this key passes for a state.
const MAC_LABEL: &[u8] = b"switchboard oauth state v1.";

/// A flow in progress, as the authorize step leaves it for the callback.
pub struct PendingFlow {
    /// The workspace of the integration.
    pub workspace: WorkspaceId,
    /// The integration to connect.
    pub integration: IntegrationId,
    /// Its channel (the callback's path must name it).
    pub channel: ChannelKind,
    /// The PKCE verifier, for flows that use PKCE.
    pub pkce_verifier: Option<SecretString>,
    /// The account the caller asked for.
    pub account_hint: Option<String>,
    /// Who asked, recorded as the actor of the connect.
    pub actor: Option<String>,
    /// The SHA-256 of the browser binding handed to who asked (set when taken).
    pub binding_hash: Option<String>,
}

/// A state as issued: the text for the platform, its expiry and the browser binding for the
/// caller (shown once, kept only hashed).
pub struct IssuedState {
    /// The signed state.
    pub state: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// The one-time browser binding secret.
    pub binding: SecretString,
}

/// The SHA-256 of a browser binding, hex: what is stored and compared.
pub fn binding_hash(binding: &str) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(binding.as_bytes()))
}

/// Why a callback's state is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not a state this service signed, or for another channel.
    #[error("the state is not one this service issued")]
    Invalid,
    /// Signed, but used already (or swept after expiry).
    #[error("the state was used already")]
    Used,
    /// Signed and unused, but too old.
    #[error("the state expired; start the connection again")]
    Expired,
    /// The verifier could not be sealed or opened.
    #[error("the state's PKCE verifier could not be sealed or opened")]
    Sealing,
    /// PostgreSQL failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Serialize, Deserialize)]
struct Payload {
    id: Uuid,
    ws: String,
    int: Uuid,
    ch: String,
    exp: i64,
}

/// Issues and takes states.
#[derive(Clone)]
pub struct OAuthStates {
    pool: PgPool,
    sealer: Arc<dyn SecretSealer>,
    key: Arc<Vec<u8>>,
}

impl OAuthStates {
    /// States in `pool`, verifiers sealed with `sealer`, signed with `key`.
    pub fn new(pool: PgPool, sealer: Arc<dyn SecretSealer>, key: &[u8]) -> Self {
        Self {
            pool,
            sealer,
            key: Arc::new(key.to_vec()),
        }
    }

    /// A state key derived from `secret` (the keyring text), for when none is configured.
    pub fn derive_key(secret: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(b"switchboard oauth state key");
        mac.finalize().into_bytes().to_vec()
    }

    /// Records `flow` and returns its signed state, expiry and browser binding.
    pub async fn issue(&self, flow: PendingFlow) -> Result<IssuedState, StateError> {
        let id = Uuid::new_v4();
        let binding = B64.encode(rand::random::<[u8; 32]>());
        let expires_at = Utc::now() + Duration::seconds(STATE_TTL_SECS);
        let verifier = match &flow.pkce_verifier {
            Some(v) => Some(
                self.sealer
                    .seal(v, &verifier_context(id))
                    .map_err(|_| StateError::Sealing)?,
            ),
            None => None,
        };
        // Rows past their expiry (an hour's grace, so a late callback still hears "expired").
        sqlx::query("DELETE FROM oauth_states WHERE expires_at < now() - interval '1 hour'")
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_states (id, workspace_id, integration_id, channel, pkce_verifier, \
             account_hint, actor, expires_at, binding_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(flow.workspace.as_str())
        .bind(flow.integration.as_uuid())
        .bind(flow.channel.as_str())
        .bind(verifier.as_ref().map(SealedSecret::as_str))
        .bind(flow.account_hint.as_deref())
        .bind(flow.actor.as_deref())
        .bind(expires_at)
        .bind(binding_hash(&binding))
        .execute(&self.pool)
        .await?;
        let payload = Payload {
            id,
            ws: flow.workspace.as_str().to_owned(),
            int: flow.integration.as_uuid(),
            ch: flow.channel.as_str().to_owned(),
            exp: expires_at.timestamp(),
        };
        let encoded = B64.encode(serde_json::to_vec(&payload).expect("serialisable"));
        let mac = B64.encode(self.mac(&encoded).finalize().into_bytes());
        Ok(IssuedState {
            state: format!("{encoded}.{mac}"),
            expires_at,
            binding: SecretString::new(binding),
        })
    }

    /// Takes the flow `state` names, once: a forged state, one of another channel, a used one
    /// and an expired one are refused (the last two after the row is gone).
    pub async fn take(
        &self,
        state: &str,
        channel: &ChannelKind,
    ) -> Result<PendingFlow, StateError> {
        let payload = self.verify(state).ok_or(StateError::Invalid)?;
        if payload.ch != channel.as_str() {
            return Err(StateError::Invalid);
        }
        let row: Option<StateRow> = sqlx::query_as(
            "DELETE FROM oauth_states WHERE id = $1 RETURNING workspace_id, integration_id, \
                 channel, pkce_verifier, account_hint, actor, binding_hash, expires_at",
        )
        .bind(payload.id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((ws, integration, ch, verifier, account_hint, actor, binding_hash, expires_at)) =
            row
        else {
            return Err(StateError::Used);
        };
        if ws != payload.ws || integration != payload.int || ch != payload.ch {
            return Err(StateError::Invalid);
        }
        if expires_at <= Utc::now() || payload.exp <= Utc::now().timestamp() {
            return Err(StateError::Expired);
        }
        let pkce_verifier = match verifier {
            Some(sealed) => Some(
                self.sealer
                    .open(
                        &SealedSecret::from_sealed_text(sealed),
                        &verifier_context(payload.id),
                    )
                    .map_err(|_| StateError::Sealing)?,
            ),
            None => None,
        };
        Ok(PendingFlow {
            workspace: ws.parse().map_err(|_| StateError::Invalid)?,
            integration: IntegrationId::from(integration),
            channel: channel.clone(),
            pkce_verifier,
            account_hint,
            actor,
            // A state issued before browser bindings existed has none: it completes nothing.
            binding_hash: Some(binding_hash.ok_or(StateError::Invalid)?),
        })
    }

    /// The payload of a state whose MAC is right.
    fn verify(&self, state: &str) -> Option<Payload> {
        let (encoded, mac) = state.split_once('.')?;
        let mac = B64.decode(mac).ok()?;
        self.mac(encoded).verify_slice(&mac).ok()?;
        serde_json::from_slice(&B64.decode(encoded).ok()?).ok()
    }

    fn mac(&self, encoded: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(MAC_LABEL);
        mac.update(encoded.as_bytes());
        mac
    }
}

/// The states of `config`: signed with `oauth_state_key` (else a key derived from the secret
/// keyring), verifiers sealed with the keyring.
pub fn from_config(config: &crate::config::Config, pool: &PgPool) -> anyhow::Result<OAuthStates> {
    use anyhow::Context;
    let keys = config
        .secret_keys
        .as_ref()
        .context("SWITCHBOARD_SECRET_KEYS is not set")?;
    let sealer = switchboard_adapters::store::XChaChaSealer::from_config(keys.expose())?;
    let key = match &config.oauth_state_key {
        Some(key) if !key.expose().is_empty() => key.expose().as_bytes().to_vec(),
        _ => OAuthStates::derive_key(keys.expose()),
    };
    if let Some(url) = &config.oauth_return_url {
        switchboard_adapters::channels::oauth_flow::url_with(url, &[])
            .map_err(|_| anyhow::anyhow!("oauth_return_url is not a valid URL"))?;
    }
    Ok(OAuthStates::new(pool.clone(), Arc::new(sealer), &key))
}

/// What a verifier is sealed for: its state row.
fn verifier_context(id: Uuid) -> String {
    seal_context(&format!("oauth-state:{id}"), "pkce_verifier")
}
