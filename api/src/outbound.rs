//! Wiring of the outbound channel adapters from configuration: the `switchboard adapters`
//! process (the engine, and the mailbox readers when `mailbox_readers = true`), the engine
//! `serve` runs when `outbound_adapters = true`, and the `switchboard dlq list|redrive`
//! commands. The `adapters` process serves its probes and metrics on `metrics_addr`
//! ([`crate::probes`]).

use crate::config::Config;
use crate::probes::running::ConsumerRunning;
use crate::probes::{self, Process};
use crate::stop::told_to_stop;
use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use switchboard_adapters::channels::platform_credentials::LivePlatformCredentials;
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::kafka::{BrokerGauges, EventProducer, BATCHING_LINGER};
use switchboard_adapters::lifecycle_watch::{LifecycleListener, LifecycleWatch};
use switchboard_adapters::outbound::dlq::{
    AT_HEADER, ERROR_HEADER, OFFSET_HEADER, PARTITION_HEADER,
};
use switchboard_adapters::outbound::rate_limit::RateLimit;
use switchboard_adapters::outbound::record::CommandRecord;
use switchboard_adapters::outbound::redrive::DeadLetters;
use switchboard_adapters::outbound::targets::StoreSendTargets;
use switchboard_adapters::outbound::{OutboundEngine, OutboundSettings};
use switchboard_adapters::store::{connect_lazy, ActionRuns, IntegrationStore};
use switchboard_domain::integration::services::SystemClock;
use switchboard_domain::integration::IntegrationServices;

/// The engine settings `config` asks for.
pub fn settings(config: &Config) -> OutboundSettings {
    let mut settings = OutboundSettings::for_topics(&config.topics());
    settings.rate_limit = RateLimit {
        per_second: f64::from(config.outbound_rate_per_second),
        burst: config.outbound_rate_burst,
    };
    settings.max_in_flight = config.outbound_max_in_flight;
    settings
}

/// The engine on `integrations` and `producer`, with `settings`.
pub fn engine(
    config: &Config,
    integrations: IntegrationStore,
    producer: EventProducer,
    settings: OutboundSettings,
    platform: LivePlatformCredentials,
) -> anyhow::Result<OutboundEngine> {
    // The registry that sends: every destination a tenant can influence passes the policy.
    let egress = config.egress_policy()?;
    let webchat =
        switchboard_adapters::channels::webchat::WebchatSender::new(integrations.pool().clone());
    let channels = Arc::new(switchboard_adapters::channels::email::with_replies(
        ChannelRegistry::with_egress(&egress).with_sender(
            &switchboard_domain::ChannelKind::parse(switchboard_adapters::channels::webchat::KIND)
                .expect("valid channel name"),
            Arc::new(webchat),
        ),
        &egress,
        integrations.pool().clone(),
    ));
    let runs = ActionRuns::new(integrations.pool().clone());
    let targets = StoreSendTargets::new(integrations, platform, channels.clone());
    let engine = OutboundEngine::with_action_runs(
        &config.kafka(),
        &config.topics(),
        settings,
        channels,
        Arc::new(targets),
        producer,
        runs,
    )?;
    Ok(engine)
}

/// `switchboard adapters`: runs the engine alone until `shutdown` resolves.
pub async fn run(config: &Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let channels = Arc::new(ChannelRegistry::builtin());
    let pool = connect_lazy(&config.database_url, config.database_max_connections)?;
    let sealer = crate::secret_commands::envelope_sealer(config, &pool)?;
    let services = IntegrationServices {
        channels,
        sealer: sealer.clone(),
        clock: Arc::new(SystemClock),
    };
    let integrations = IntegrationStore::with_data_keys(pool, services, sealer.clone());
    let platform = crate::platform_bootstrap::open_store(config, &integrations, sealer).await?;
    let producer = EventProducer::with_linger(&config.kafka(), BATCHING_LINGER)?;
    let live = platform.live().clone();
    let mailboxes = config
        .mailbox_readers
        .then(|| crate::mailbox_readers::from_config(config, integrations.clone()))
        .transpose()?;
    let gauges = BrokerGauges::for_topics(&config.kafka(), &config.topics())?;
    let gauges = with_adapter_gauges(config, gauges)?;
    let pool = integrations.pool().clone();
    let engine = engine(
        config,
        integrations.clone(),
        producer.clone(),
        settings(config),
        live,
    )?;
    let caches: Vec<Arc<dyn LifecycleListener>> = vec![
        Arc::new(platform.clone()),
        Arc::new(integrations),
        engine.lifecycle_listener(),
    ];
    let watch = LifecycleWatch::new(&config.kafka(), &config.topics().lifecycle, caches)?;
    let running = ConsumerRunning::default();
    let _probes = probes::start(config, Process::Adapters, pool, gauges, running.clone()).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let readers = mailboxes.map(|readers| {
        let stopped = told_to_stop(stopped);
        tokio::spawn(async move { readers.run(stopped).await })
    });
    let outcome = tokio::select! {
        outcome = running.during(engine.run(shutdown)) => outcome.map_err(anyhow::Error::from),
        _ = crate::platform_bootstrap::keep_reloading(&platform, std::future::pending()) => Ok(()),
        Err(error) = watch.run(std::future::pending()) => {
            Err(anyhow::anyhow!("the lifecycle watch stopped: {error}"))
        }
    };
    // The readers stop with the engine: each ends after the mail it is publishing.
    let _ = stop.send(true);
    if let Some(readers) = readers {
        let _ = readers.await;
    }
    let _ = producer.flush(std::time::Duration::from_secs(5));
    outcome
}

/// `gauges` also sampling what the adapters own: their group's lag on the commands and action
/// requests, and the depth of every dead-letter topic.
pub fn with_adapter_gauges(config: &Config, gauges: BrokerGauges) -> anyhow::Result<BrokerGauges> {
    let (kafka, topics) = (config.kafka(), config.topics());
    let gauges = gauges
        .with_group(
            &kafka,
            &settings(config).group_id,
            vec![topics.outbound.clone(), topics.actions_requested.clone()],
        )?
        .with_dead_letters(&kafka, topics.dead_letter_topics())?;
    Ok(gauges)
}

/// The dead letters of the sends, or with `actions` of the actions.
fn dead_letters(config: &Config, actions: bool) -> DeadLetters {
    if actions {
        DeadLetters::of_actions(config.kafka(), &config.topics())
    } else {
        DeadLetters::new(config.kafka(), &config.topics())
    }
}

/// `switchboard dlq list`: one JSON line per dead letter.
pub async fn list(config: &Config, actions: bool) -> anyhow::Result<()> {
    let records = dead_letters(config, actions).list().await?;
    let mut out = std::io::stdout().lock();
    for record in &records {
        writeln!(out, "{}", describe(record))?;
    }
    Ok(())
}

/// `switchboard dlq redrive`: re-produces the dead letters not redriven before.
pub async fn redrive(config: &Config, actions: bool) -> anyhow::Result<()> {
    let producer = EventProducer::new(&config.kafka())?;
    let count = dead_letters(config, actions).redrive(&producer).await?;
    let topics = config.topics();
    let target = if actions {
        topics.actions_requested
    } else {
        topics.outbound
    };
    println!("redrove {count} dead letter(s) to {target}");
    Ok(())
}

/// A dead letter as one JSON object: where it is, why, where it came from, and its command.
pub fn describe(record: &CommandRecord) -> serde_json::Value {
    let body = serde_json::from_slice::<serde_json::Value>(&record.payload).unwrap_or_else(|_| {
        serde_json::Value::from(String::from_utf8_lossy(&record.payload).into_owned())
    });
    serde_json::json!({
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.as_deref().map(String::from_utf8_lossy),
        "error": record.header(ERROR_HEADER),
        "dead_lettered_at": record.header(AT_HEADER),
        "source": {
            "partition": record.header(PARTITION_HEADER),
            "offset": record.header(OFFSET_HEADER),
        },
        "message_id": body.get("message_id"),
        "body": body,
    })
}
