//! The benchmark proper: the order of its points (ceilings A and B, ours, ours at half rate,
//! ceiling C) and what each run of them hands the report.

use super::report::Report;
use super::server::Server;
use super::settings::Settings;
use super::{broker, ceiling, cpu, load, memory, payload, producer, setup};
use anyhow::bail;
use std::sync::Arc;
use std::time::Duration;

/// Pause between points, so one point's tail does not run into the next.
pub const SETTLE: Duration = Duration::from_millis(500);

/// The benchmark proper: every point, then the Markdown report on stdout.
pub fn bench() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let report = tokio::runtime::Runtime::new()?.block_on(run(&settings))?;
    println!("{}", report.markdown(&settings));
    Ok(())
}

/// Runs every point: ceilings A and B, ours, ours at half rate, then ceiling C.
async fn run(settings: &Settings) -> anyhow::Result<Report> {
    eprintln!("precomputing {} signed bodies…", settings.bodies);
    let payloads = Arc::new(payload::build(settings.bodies, &settings.app_secret));
    let integration = setup::messenger_integration(settings).await?;
    setup::check_one_webhook(settings, &integration).await?;
    let mut points = Vec::new();
    let ceiling_peak_kib = ceilings_a_b(settings, &integration, &payloads, &mut points).await?;
    let ours = ours(settings, &integration, &payloads, &mut points).await?;
    eprintln!("C: the producer alone…");
    let producer = producer::ceiling(settings, &payloads, &integration)
        .await
        .map_err(|error| format!("{error:#}"));
    match &producer {
        Ok(c) => eprintln!(
            "C: {:.0} msg/s, {} failed, cores {}",
            c.rate, c.failed, c.cores
        ),
        Err(error) => eprintln!("C could not be measured: {error}"),
    }
    Ok(Report {
        points,
        half_rate: ours.half_rate,
        producer,
        serve_peak_kib: ours.peak_kib,
        ceiling_peak_kib,
        stored_vs_answered: ours.stored_vs_answered,
        bodies: (payloads.len(), ours.sent),
    })
}

/// Ceilings A and B, each in its own process, at every connection count; their peak RSS.
async fn ceilings_a_b(
    settings: &Settings,
    integration: &str,
    payloads: &Arc<Vec<payload::Payload>>,
    points: &mut Vec<(Server, load::Point)>,
) -> anyhow::Result<Vec<(Server, Option<u64>)>> {
    let mut peaks = Vec::new();
    for server in [Server::Bare, Server::VerifyParse] {
        let child = ceiling::spawn(server, &settings.app_secret)?;
        let pids = cpu::Pids {
            server: Some(child.pid()),
            broker: settings.broker_pid,
        };
        let target = load::Target::new(child.addr, pids, integration, payloads.clone());
        for &connections in &settings.connections {
            let point = measure(server, &target, connections, settings).await?;
            points.push((server, point));
        }
        peaks.push((server, memory::peak_kib(child.pid())));
    }
    Ok(peaks)
}

/// What the runs of ours found besides their points.
struct OursRun {
    /// The open-loop run at half the best closed-loop rate.
    half_rate: load::Point,
    /// Peak RSS of `serve` over the whole run, and during the half-rate run only (KiB).
    peak_kib: (Option<u64>, Option<u64>),
    /// Records the broker gained (if it could still tell), and 200 answers, over all runs of ours.
    stored_vs_answered: (Option<i64>, u64),
    /// Requests sent.
    sent: usize,
}

/// Ours at every connection count, then at half its best rate, checking the broker got it all.
async fn ours(
    settings: &Settings,
    integration: &str,
    payloads: &Arc<Vec<payload::Payload>>,
    points: &mut Vec<(Server, load::Point)>,
) -> anyhow::Result<OursRun> {
    let pids = cpu::Pids {
        server: Some(settings.server_pid),
        broker: settings.broker_pid,
    };
    let target = load::Target::new(settings.server_addr, pids, integration, payloads.clone());
    let stored_before = broker::records_on(settings).await;
    for &connections in &settings.connections {
        let point = measure(Server::Ours, &target, connections, settings).await?;
        points.push((Server::Ours, point));
    }
    let whole_run_peak = memory::peak_kib(settings.server_pid);
    let half_rate = half_rate(settings, &target, points).await?;
    let half_rate_peak = memory::peak_kib(settings.server_pid);
    let stored = match (stored_before, broker::records_on(settings).await) {
        (Ok(before), Ok(after)) => Some(after - before),
        _ => None,
    };
    let answered = points
        .iter()
        .filter(|(server, _)| *server == Server::Ours)
        .map(|(_, point)| point.ok_total)
        .sum::<u64>()
        + half_rate.ok_total;
    Ok(OursRun {
        half_rate,
        peak_kib: (whole_run_peak.max(half_rate_peak), half_rate_peak),
        stored_vs_answered: (stored, answered),
        sent: target.sent(),
    })
}

/// One closed-loop point, logged as it completes.
async fn measure(
    server: Server,
    target: &Arc<load::Target>,
    connections: usize,
    settings: &Settings,
) -> anyhow::Result<load::Point> {
    let point = load::run(target, connections, load::Pace::Closed, settings.timing).await?;
    eprintln!("{:<40} {}", server.label(), point.summary());
    tokio::time::sleep(SETTLE).await;
    Ok(point)
}

/// Ours, open-loop at half the best closed-loop rate, with its peak RSS counted from the start.
async fn half_rate(
    settings: &Settings,
    ours: &Arc<load::Target>,
    points: &[(Server, load::Point)],
) -> anyhow::Result<load::Point> {
    let Some(best) = load::best_of(points, Server::Ours).filter(|point| point.rate > 0.0) else {
        bail!("ours answered nothing: see the service log");
    };
    let (max, connections) = (best.rate, best.connections);
    if !memory::reset_peak(settings.server_pid) {
        eprintln!("(cannot reset the server's peak RSS: the half-rate peak is the whole run's)");
    }
    let pace = load::Pace::Rate(max / 2.0);
    let connections = settings.half_rate_connections.unwrap_or(connections);
    let point = load::run(ours, connections, pace, settings.timing).await?;
    eprintln!("{:<40} {}", "ours at half of max", point.summary());
    Ok(point)
}
