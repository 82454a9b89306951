//! Wiring of the background token refresher from configuration: the refresher `serve` runs
//! when `token_refresher = true`, and `switchboard refresh-tokens [--once]`.

use crate::config::Config;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::channels::platform_credentials::LivePlatformCredentials;
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::outbound::targets::StoreSendTargets;
use switchboard_adapters::refresh::{RefreshSettings, TokenRefresher};
use switchboard_adapters::store::{connect_lazy, IntegrationStore, PlatformAppStore};
use switchboard_domain::integration::services::SystemClock;
use switchboard_domain::integration::IntegrationServices;

/// The margin and interval `config` asks for.
pub fn settings(config: &Config) -> RefreshSettings {
    RefreshSettings {
        margin: Duration::from_millis(config.token_refresh_margin_ms),
        interval: Duration::from_millis(config.token_refresh_interval_ms.max(1)),
    }
}

/// The refresher on `integrations`, calling platforms under `config`'s egress policy with the
/// app credentials in force in `apps`, where it records the platforms' refusals of them.
pub fn refresher(
    config: &Config,
    integrations: IntegrationStore,
    apps: &PlatformAppStore,
) -> anyhow::Result<TokenRefresher> {
    let platform: LivePlatformCredentials = apps.live().clone();
    let egress = config.egress_policy()?;
    let channels = Arc::new(ChannelRegistry::with_egress(&egress));
    let pool = integrations.pool().clone();
    let locks = integrations.refresh_locks().clone();
    let targets = StoreSendTargets::new(integrations, platform.clone(), channels.clone());
    let refresher = TokenRefresher::new(
        pool,
        locks,
        channels,
        Arc::new(targets),
        platform,
        settings(config),
    );
    Ok(refresher.recording_app_refusals(apps.clone()))
}

/// `switchboard refresh-tokens`: one round printed as a JSON line (`once`), or rounds until
/// `shutdown` resolves.
pub async fn run(
    config: &Config,
    once: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let pool = connect_lazy(&config.database_url, config.database_max_connections)?;
    let sealer = crate::secret_commands::envelope_sealer(config, &pool)?;
    let services = IntegrationServices {
        channels: Arc::new(ChannelRegistry::builtin()),
        sealer: sealer.clone(),
        clock: Arc::new(SystemClock),
    };
    let integrations = IntegrationStore::with_data_keys(pool, services, sealer.clone());
    let platform = crate::platform_bootstrap::open_store(config, &integrations, sealer).await?;
    let refresher = refresher(config, integrations, &platform)?;
    if once {
        let report = refresher.run_once().await;
        println!("{}", serde_json::to_string(&report)?);
    } else {
        tokio::select! {
            _ = refresher.run(shutdown) => {}
            _ = crate::platform_bootstrap::keep_reloading(&platform, std::future::pending()) => {}
        }
    }
    Ok(())
}
