//! The platform credentials of configuration (`platform_credentials`): written at start-up as
//! the same events the operator routes write (a put of the fields already stored records
//! nothing), then kept in force: unverified ones are verified once `serve` runs, and what
//! other processes commit is reloaded periodically.

use crate::config::Config;
use crate::platform_checks::{verify_channel, OPERATOR_ACTOR};
use crate::state::AppState;
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::channels::platform_credentials::{
    LivePlatformCredentials, PlatformCredentials,
};
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::store::{
    CommandMetadata, EnvelopeSealer, IntegrationStore, PlatformAppStore,
};
use switchboard_domain::integration::services::SystemClock;
use switchboard_domain::integration::IntegrationServices;
use switchboard_domain::platform::{PlatformCommand, PlatformStatus};
use switchboard_domain::{AuthInput, ChannelKind};

/// How often a process reloads the platform credentials other processes may have changed.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Puts the configured platform credentials (if any) and loads what is stored into force.
pub async fn bootstrap(config: &Config, store: &PlatformAppStore) -> anyhow::Result<()> {
    if let Some(text) = &config.platform_credentials {
        let configured = PlatformCredentials::parse(text.expose())?;
        for channel in configured.channels() {
            let fields = AuthInput(
                configured
                    .for_channel(channel)
                    .into_iter()
                    .map(|(name, value)| (name, serde_json::Value::from(value.expose())))
                    .collect(),
            );
            let command = PlatformCommand::Put {
                channel: channel.clone(),
                fields,
            };
            store
                .execute(channel, command, bootstrap_metadata())
                .await
                .with_context(|| format!("platform_credentials: the fields of '{channel}'"))?;
        }
    }
    store
        .reload()
        .await
        .context("loading the platform credentials")?;
    Ok(())
}

/// The platform credentials of a process other than `serve` (the adapters, the refresher):
/// the configured ones put, everything stored in force in the returned store's live handle.
pub async fn open_store(
    config: &Config,
    integrations: &IntegrationStore,
    envelope: Arc<EnvelopeSealer>,
) -> anyhow::Result<PlatformAppStore> {
    let services = IntegrationServices {
        channels: Arc::new(ChannelRegistry::builtin()),
        sealer: envelope.clone(),
        clock: Arc::new(SystemClock),
    };
    let store = PlatformAppStore::new(
        integrations.pool().clone(),
        services,
        Some(envelope),
        LivePlatformCredentials::default(),
    );
    bootstrap(config, &store).await?;
    Ok(store)
}

/// Reloads what is stored into `store`'s live handle every [`RELOAD_EVERY`] until `stop`.
pub async fn keep_reloading(store: &PlatformAppStore, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(RELOAD_EVERY) => {}
        }
        if let Err(error) = store.reload().await {
            tracing::warn!(%error, "platform credentials not reloaded");
        }
    }
}

/// Verifies the stored credentials that await it, then reloads what is stored every
/// [`RELOAD_EVERY`] until `stop`.
pub async fn keep_in_force(state: AppState, stop: impl Future<Output = ()>) {
    match state.platform_apps.list().await {
        Ok(apps) => {
            let waiting = apps
                .iter()
                .filter(|app| app.status == PlatformStatus::Unverified)
                .filter_map(|app| app.channel.clone());
            for channel in waiting.collect::<Vec<ChannelKind>>() {
                if let Err(problem) = verify_channel(&state, &channel).await {
                    tracing::warn!(%channel, detail = %problem.detail, "configured platform credentials not verified");
                }
            }
        }
        Err(error) => tracing::warn!(%error, "platform credentials not listed"),
    }
    keep_reloading(&state.platform_apps, stop).await;
}

fn bootstrap_metadata() -> CommandMetadata {
    CommandMetadata {
        actor: Some(format!("{OPERATOR_ACTOR}:configuration")),
        ..CommandMetadata::default()
    }
}
