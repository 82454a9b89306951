//! `switchboard analytics` runs a projection on its own; `switchboard replay <projection>` rebuilds a projection from the start of its topics into
//! fresh tables while the live ones keep serving, then swaps them in (see
//! `projections/src/engine/replay.rs`). Progress goes to stderr once a second; an
//! interrupted rebuild resumes where it stopped when run again. Both serve their probes and
//! metrics on `metrics_addr` while they run ([`crate::probes`]).

use crate::config::Config;
use crate::probes::running::ConsumerRunning;
use crate::probes::{self, Process};
use anyhow::Context;
use std::io::Write;
use switchboard_adapters::kafka::BrokerGauges;
use switchboard_adapters::store::{connect_lazy, migrate};
use switchboard_projections::engine::{replay, ProjectorSettings, ReplayProgress};
use switchboard_projections::Projector;

/// Runs the projection named `name` (e.g. the analytics example) until `shutdown`.
pub async fn project(
    config: &Config,
    name: &str,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let projection = known(name)?;
    let pool = connect_lazy(&config.database_url, 4)?;
    migrate(&pool).await?;
    let (kafka, topics) = (config.kafka(), config.topics());
    let gauges = BrokerGauges::for_topics(&kafka, &topics)?.with_group(
        &kafka,
        &Projector::group_id(projection.as_ref(), &topics),
        projection.topics(&topics),
    )?;
    let projector = Projector::new(
        pool.clone(),
        projection,
        kafka,
        topics,
        ProjectorSettings::default(),
    );
    let running = ConsumerRunning::default();
    let _probes = probes::start(config, Process::Analytics, pool, gauges, running.clone()).await?;
    tracing::info!(projection = name, "projecting");
    running.during(projector.run(shutdown)).await?;
    Ok(())
}

/// The projection named `name`, or an error listing the names there are.
fn known(name: &str) -> anyhow::Result<std::sync::Arc<dyn switchboard_projections::Projection>> {
    switchboard_projections::by_name(name).with_context(|| {
        let known: Vec<&str> = switchboard_projections::all()
            .iter()
            .map(|p| p.name())
            .collect();
        format!("no projection '{name}'; known: {}", known.join(", "))
    })
}

/// Rebuilds the projection named `name`.
pub async fn run(config: &Config, name: &str) -> anyhow::Result<()> {
    let projection = known(name)?;
    let pool = connect_lazy(&config.database_url, 8)?;
    migrate(&pool).await?;
    let settings = ProjectorSettings::for_replay();
    // The rebuild records its own lag (it commits no group offsets to sample).
    let gauges = BrokerGauges::for_topics(&config.kafka(), &config.topics())?;
    let running = ConsumerRunning::default();
    let _probes = probes::start(
        config,
        Process::Replay,
        pool.clone(),
        gauges,
        running.clone(),
    )
    .await?;
    let done = running
        .during(replay(
            &pool,
            projection.as_ref(),
            &config.kafka(),
            &config.topics(),
            &settings,
            print,
        ))
        .await?;
    println!(
        "{name}: rebuilt from {} events ({:.0} events/s) and swapped in",
        done.applied, done.per_second
    );
    if let Some(phases) = done.phases {
        println!("{name}: {phases}");
    }
    Ok(())
}

fn print(progress: &ReplayProgress) {
    let eta = progress
        .eta
        .map(|eta| format!("{}s", eta.as_secs()))
        .unwrap_or_else(|| "?".into());
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "applied {} events, {:.0} events/s, lag {}, eta {eta}",
        progress.applied, progress.per_second, progress.lag
    );
}
