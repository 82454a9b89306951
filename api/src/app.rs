//! Building and running the service: the entry points `main` and the tests share.

use crate::auth::api_keys::ApiKeys;
use crate::auth::jwt::{JwtKeys, JwtSettings, JwtVerifier};
use crate::auth::rate_limit::{per_second, KeyedLimit, VerificationFailures};
use crate::auth::Authenticator;
use crate::client_address::TrustedProxies;
use crate::config::Config;
use crate::gauges::SampledGauges;
use crate::routes::limits::RequestLimits;
use crate::routes::router;
use crate::state::{AppState, Handles};
use crate::stop::told_to_stop;
use crate::telemetry::metrics_handle;
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::channels::account_lifecycle::AccountLifecycles;
use switchboard_adapters::channels::platform_credentials::LivePlatformCredentials;
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::egress::EgressHttp;
use switchboard_adapters::inbound::{AccountOwners, InboundPublisher, WebhookTargets};
use switchboard_adapters::kafka::{BrokerGauges, EventProducer, BATCHING_LINGER};
use switchboard_adapters::lifecycle_watch::{LifecycleListener, LifecycleWatch};
use switchboard_adapters::outbound::OutboundEngine;
use switchboard_adapters::refresh::TokenRefresher;
use switchboard_adapters::store::{
    connect_lazy, migrate, IntegrationStore, OutboxBacklog, OutboxRelay, PlatformAppStore,
};
use switchboard_domain::integration::services::SystemClock;
use switchboard_domain::integration::IntegrationServices;
use switchboard_projections::engine::{ensure_live_schema, ProjectorSettings};
use switchboard_projections::Projector;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// The assembled service, before it serves.
pub struct App {
    /// Handler state.
    pub state: AppState,
    /// The outbox relay, when this process runs it.
    pub relay: Option<OutboxRelay>,
    /// The projections' live consumers, when this process runs them.
    pub projectors: Vec<Projector>,
    /// The outbound channel adapters, when this process runs them (`outbound_adapters`).
    pub outbound: Option<OutboundEngine>,
    /// The token refresher, when this process runs it (`token_refresher`).
    pub refresher: Option<TokenRefresher>,
    /// The e-mail integrations' mailbox readers, when this process runs them
    /// (`mailbox_readers`).
    pub mailboxes: Option<switchboard_adapters::mailbox::MailboxReaders>,
    /// Tells this process's caches of the lifecycle changes any replica makes.
    pub lifecycle_watch: LifecycleWatch,
    /// The sampled gauges: lag of the groups this process runs, dead-letter depth where it
    /// sends, the outbox backlog where it relays.
    pub gauges: SampledGauges,
    gauge_interval: Duration,
    limits: RequestLimits,
    header_read_timeout: Duration,
    max_connections: usize,
    shutdown_grace: Duration,
}

impl App {
    /// Connects, migrates and wires everything from `config`.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let pool = connect_lazy(&config.database_url, config.database_max_connections)?;
        let sealer = crate::secret_commands::envelope_sealer(config, &pool)?;
        migrate(&pool).await.context("applying migrations")?;
        let producer = EventProducer::new(&config.kafka())?;
        let egress = config.egress_policy()?;
        let channels = Arc::new(switchboard_adapters::channels::email::with_replies(
            ChannelRegistry::with_egress(&egress),
            &egress,
            pool.clone(),
        ));
        let services = IntegrationServices {
            channels: channels.clone(),
            sealer: sealer.clone(),
            clock: Arc::new(SystemClock),
        };
        let platform_services = services.clone();
        let integrations = IntegrationStore::with_data_keys(pool.clone(), services, sealer.clone());
        // Integrations from before their state rows get them now, so the shared webhook URLs
        // route them from the first delivery.
        integrations
            .backfill_rowless()
            .await
            .context("writing missing integration state rows")?;
        let platform = LivePlatformCredentials::default();
        let platform_apps = PlatformAppStore::new(
            pool.clone(),
            platform_services,
            Some(sealer.clone()),
            platform.clone(),
        );
        crate::platform_bootstrap::bootstrap(config, &platform_apps).await?;
        let webhook_cache = Duration::from_millis(config.webhook_cache_ms);
        let webhook_targets = WebhookTargets::new(
            integrations.clone(),
            integrations.sealer(),
            platform.clone(),
            webhook_cache,
        );
        let account_owners = AccountOwners::new(integrations.clone(), webhook_cache);
        let inbound = InboundPublisher::new(
            producer.clone(),
            config.topics().received,
            Duration::from_millis(config.webhook_ack_timeout_ms),
        );
        let relay = config
            .outbox_relay
            .then(|| OutboxRelay::new(pool.clone(), producer.clone(), config.topics().lifecycle));
        for projection in switchboard_projections::served() {
            ensure_live_schema(&pool, projection.as_ref()).await?;
        }
        let projectors = if config.projections {
            switchboard_projections::served()
                .into_iter()
                .map(|projection| {
                    Projector::new(
                        pool.clone(),
                        projection,
                        config.kafka(),
                        config.topics(),
                        ProjectorSettings::default(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let gauges = SampledGauges {
            broker: Arc::new(serve_broker_gauges(config)?),
            outbox: config
                .outbox_relay
                .then(|| OutboxBacklog::new(pool.clone())),
        };
        let outbound = if config.outbound_adapters {
            let settings = crate::outbound::settings(config);
            // Outcomes have no caller waiting on them: a producer of their own batches longer.
            let outcomes = EventProducer::with_linger(&config.kafka(), BATCHING_LINGER)?;
            let engine = crate::outbound::engine(
                config,
                integrations.clone(),
                outcomes,
                settings,
                platform.clone(),
            )?;
            Some(engine)
        } else {
            None
        };
        let refresher = if config.token_refresher {
            let integrations = integrations.clone();
            let refresher = crate::token_refresh::refresher(config, integrations, &platform_apps);
            Some(refresher?)
        } else {
            None
        };
        let mailboxes = config
            .mailbox_readers
            .then(|| crate::mailbox_readers::readers(config, integrations.clone(), inbound.clone()))
            .transpose()?;
        let integrations_for_webchat = integrations.clone();
        let mut caches: Vec<Arc<dyn LifecycleListener>> = vec![
            Arc::new(platform_apps.clone()),
            Arc::new(webhook_targets.clone()),
            Arc::new(integrations.clone()),
        ];
        caches.extend(outbound.as_ref().map(OutboundEngine::lifecycle_listener));
        let lifecycle_watch =
            LifecycleWatch::new(&config.kafka(), &config.topics().lifecycle, caches)?;
        let state = AppState::new(Handles {
            integrations,
            channels,
            pool: pool.clone(),
            producer,
            platform_credentials: platform,
            platform_apps,
            public_base_url: config
                .public_base_url
                .as_ref()
                .map(|url| url.trim_end_matches('/').to_owned()),
            webhook_targets,
            account_owners,
            inbound,
            topics: config.topics(),
            metrics: metrics_handle(),
            auth: authenticator(config, &pool).await?,
            caller_limit: KeyedLimit::new(per_second(
                config.rate_limit_per_second,
                config.rate_limit_burst,
            )),
            webhook_failures: VerificationFailures::webhooks(config.webhook_failures_per_minute),
            credential_failures: VerificationFailures::credentials(
                config.credential_failures_per_minute,
            ),
            trusted_proxies: TrustedProxies::parse(
                config.trusted_proxies.as_deref().unwrap_or(""),
            )?,
            shared_webhook_routes: config.shared_webhook_routes,
            oauth_states: crate::oauth_state::from_config(config, &pool)?,
            oauth_http: switchboard_adapters::egress::EgressHttp::new(config.egress_policy()?),
            oauth_return_url: config.oauth_return_url.clone(),
            account_lifecycles: AccountLifecycles::builtin(&EgressHttp::new(egress.clone())),
            webchat: crate::webchat::from_config(config, integrations_for_webchat)?,
        });
        Ok(Self {
            state,
            relay,
            projectors,
            outbound,
            refresher,
            mailboxes,
            lifecycle_watch,
            gauges,
            gauge_interval: Duration::from_millis(config.metrics_sample_interval_ms),
            limits: RequestLimits::from_config(config),
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
            max_connections: config.max_connections,
            shutdown_grace: Duration::from_millis(config.shutdown_grace_ms),
        })
    }

    /// Serves on `listener` (and runs the relay) until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = || told_to_stop(stop_rx.clone());
        let relay = self.relay.map(|relay| {
            let stopped = stopped();
            tokio::spawn(async move { relay.run(stopped).await })
        });
        let projectors: Vec<_> = self
            .projectors
            .into_iter()
            .map(|projector| {
                let stopped = stopped();
                tokio::spawn(async move {
                    if let Err(error) = projector.run(stopped).await {
                        tracing::error!(%error, "projection stopped");
                    }
                })
            })
            .collect();
        let outbound = self.outbound.map(|engine| {
            let stopped = stopped();
            tokio::spawn(async move {
                if let Err(error) = engine.run(stopped).await {
                    tracing::error!(%error, "outbound adapters stopped");
                }
            })
        });
        let refresher = self.refresher.map(|refresher| {
            let stopped = stopped();
            tokio::spawn(async move { refresher.run(stopped).await })
        });
        let mailboxes = self.mailboxes.map(|readers| {
            let stopped = stopped();
            tokio::spawn(async move { readers.run(stopped).await })
        });
        let lifecycle_watch = {
            let stopped = stopped();
            let watch = self.lifecycle_watch;
            tokio::spawn(async move {
                if let Err(error) = watch.run(stopped).await {
                    tracing::error!(%error, "lifecycle watch stopped: caches forget changes made elsewhere only by time-to-live");
                }
            })
        };
        let gauges = tokio::spawn(self.gauges.run(self.gauge_interval, stopped()));
        let platform_upkeep = tokio::spawn(crate::platform_bootstrap::keep_in_force(
            self.state.clone(),
            stopped(),
        ));
        let producer = self.state.producer.clone();
        let app = router(self.state, self.limits);
        tracing::info!(addr = %listener.local_addr()?, "serving");
        let (signalled_tx, mut signalled) = tokio::sync::watch::channel(None);
        let server = crate::server::serve(
            listener,
            app,
            self.header_read_timeout,
            self.max_connections,
            async move {
                shutdown.await;
                let _ = signalled_tx.send(Some(tokio::time::Instant::now()));
            },
        );
        // The grace period starts at the signal; past it nothing more is waited for.
        let grace = self.shutdown_grace;
        let mut signal_seen = signalled.clone();
        let grace_over = async move {
            let signalled_at = signal_seen.wait_for(Option::is_some).await.map(|at| *at);
            match signalled_at {
                Ok(at) => tokio::time::sleep_until(at.unwrap_or_else(Instant::now) + grace).await,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = server => {}
            _ = grace_over => {
                tracing::warn!(grace_ms = grace.as_millis() as u64, "requests still in flight at the end of the grace period");
            }
        }
        let signal_at = (*signalled.borrow_and_update()).unwrap_or_else(Instant::now);
        let end = signal_at + grace;
        let _ = stop_tx.send(true);
        let background = async {
            let _ = gauges.await;
            let _ = platform_upkeep.await;
            let _ = lifecycle_watch.await;
            if let Some(relay) = relay {
                let _ = relay.await;
            }
            for projector in projectors {
                let _ = projector.await;
            }
            if let Some(outbound) = outbound {
                let _ = outbound.await;
            }
            if let Some(refresher) = refresher {
                let _ = refresher.await;
            }
            if let Some(mailboxes) = mailboxes {
                let _ = mailboxes.await;
            }
        };
        if tokio::time::timeout_at(end, background).await.is_err() {
            tracing::warn!("background tasks still stopping at the end of the grace period");
        }
        // What the producer still holds gets what is left of the grace period, at least 1 s.
        let left = end
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let _ = tokio::task::spawn_blocking(move || producer.flush(left)).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// What `serve` samples from the broker: the lag of the projections' groups when it runs
/// them, and of the adapters' group and the dead-letter depth when it runs the adapters.
fn serve_broker_gauges(config: &Config) -> anyhow::Result<BrokerGauges> {
    let (kafka, topics) = (config.kafka(), config.topics());
    let mut gauges = BrokerGauges::for_topics(&kafka, &topics)?;
    if config.projections {
        for projection in switchboard_projections::served() {
            let group = Projector::group_id(projection.as_ref(), &topics);
            gauges = gauges.with_group(&kafka, &group, projection.topics(&topics))?;
        }
    }
    if config.outbound_adapters {
        gauges = crate::outbound::with_adapter_gauges(config, gauges)?;
    }
    Ok(gauges)
}

/// The credential checks `config` asks for: API keys always, JWTs when a key source is set.
async fn authenticator(config: &Config, pool: &sqlx::PgPool) -> anyhow::Result<Authenticator> {
    let keys = match (&config.jwt_hmac_secret, &config.jwt_jwks) {
        (Some(_), Some(_)) => anyhow::bail!("set one of jwt_hmac_secret and jwt_jwks, not both"),
        (Some(secret), None) => Some(JwtKeys::Hmac(secret.clone())),
        (None, Some(source)) => Some(JwtKeys::Jwks(source.clone())),
        (None, None) => None,
    };
    let jwt = match keys {
        Some(keys) => Some(
            JwtVerifier::new(JwtSettings {
                keys,
                issuer: config.jwt_issuer.clone(),
                audience: config.jwt_audience.clone(),
                workspace_claim: config.jwt_workspace_claim.clone(),
                scopes_claim: config.jwt_scopes_claim.clone(),
            })
            .await
            .context("loading the JWT keys")?,
        ),
        None => None,
    };
    Ok(Authenticator::new(
        ApiKeys::new(pool.clone()),
        jwt,
        config.operator_token.clone(),
    ))
}
