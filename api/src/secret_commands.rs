//! Secret sealing from configuration: the envelope sealer every process builds on its database
//! (per-owner data keys wrapped by `secret_keys`), and `switchboard secrets rewrap`, which
//! re-wraps every data key with the keyring's first key after a key-encryption key rotation.

use crate::config::Config;
use anyhow::Context;
use clap::Subcommand;
use sqlx::PgPool;
use std::sync::Arc;
use switchboard_adapters::store::{
    connect_lazy, migrate, EnvelopeSealer, RewrapReport, XChaChaSealer,
};

/// Secret actions.
#[derive(Debug, Subcommand)]
pub enum SecretsAction {
    /// Re-wraps every data key with the first configured secret key (after rotating one in
    /// at the front of `secret_keys`); afterwards the old key may be removed. Sealed secrets
    /// in events and topics are not rewritten.
    Rewrap,
}

/// The sealer of `config`'s keyring over the data keys in `pool`.
pub fn envelope_sealer(config: &Config, pool: &PgPool) -> anyhow::Result<Arc<EnvelopeSealer>> {
    let keys = config
        .secret_keys
        .as_ref()
        .context("SWITCHBOARD_SECRET_KEYS is not set")?;
    let kek = XChaChaSealer::from_config(keys.expose())?;
    Ok(EnvelopeSealer::new(pool.clone(), kek))
}

/// Re-wraps every data key in `config`'s database with its keyring's first key.
pub async fn rewrap(config: &Config) -> anyhow::Result<RewrapReport> {
    let pool = connect_lazy(&config.database_url, 2)?;
    migrate(&pool).await.context("applying migrations")?;
    let report = envelope_sealer(config, &pool)?
        .data_keys()
        .rewrap()
        .await
        .context("re-wrapping data keys")?;
    pool.close().await;
    Ok(report)
}

/// Runs `action`, printing what it did as one JSON line.
pub async fn run(config: &Config, action: SecretsAction) -> anyhow::Result<()> {
    match action {
        SecretsAction::Rewrap => {
            let report = rewrap(config).await?;
            println!(
                "{}",
                serde_json::json!({
                    "rewrapped": report.rewrapped,
                    "already_current": report.current,
                    "destroyed": report.destroyed,
                })
            );
            Ok(())
        }
    }
}
