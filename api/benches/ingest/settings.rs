//! The benchmark's settings, read from the environment `deploy/bench.sh` sets.

use anyhow::{ensure, Context};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;
use switchboard_adapters::kafka::Topics;

/// The Messenger app secret the service (and ceiling B) checks signatures with.
pub const APP_SECRET_ENV: &str = "SWITCHBOARD_BENCH_APP_SECRET";

/// Where things are and how long to load them, from the environment `deploy/bench.sh` sets.
pub struct Settings {
    /// The running `switchboard serve` (`SWITCHBOARD_BENCH_ADDR`, `host:port`).
    pub server_addr: SocketAddr,
    /// Its process id, for its memory and CPU use (`SWITCHBOARD_BENCH_SERVER_PID`).
    pub server_pid: u32,
    /// The broker's process id, for its CPU use (`SWITCHBOARD_BENCH_BROKER_PID`, optional).
    pub broker_pid: Option<u32>,
    /// The Messenger app secret it was configured with (`SWITCHBOARD_BENCH_APP_SECRET`).
    pub app_secret: String,
    /// The workspace API key the integration is created with (`SWITCHBOARD_BENCH_API_KEY`).
    pub api_key: String,
    /// The service's operator credential, to set the Meta app's platform credentials.
    pub operator_token: String,
    /// Bootstrap servers of its broker (`KAFKA_BROKERS`).
    pub brokers: String,
    /// The topic it publishes webhooks to (`SWITCHBOARD_BENCH_TOPIC`, default `messages.received`).
    pub topic: String,
    /// The broker, as the report names it (`SWITCHBOARD_BENCH_BROKER`).
    pub broker_label: String,
    /// The service's settings, as the report names them (`SWITCHBOARD_BENCH_SERVE_SETTINGS`).
    pub serve_label: String,
    /// Warm-up and measured time of every point.
    pub timing: Timing,
    /// Connection counts of the closed-loop points (`SWITCHBOARD_BENCH_CONNECTIONS`, `16,64,256`).
    pub connections: Vec<usize>,
    /// Connections of the half-rate run (`SWITCHBOARD_BENCH_HALF_RATE_CONNECTIONS`; by default
    /// those of ours' best point, so the pace is not held back by connections that each wait
    /// for their answer).
    pub half_rate_connections: Option<usize>,
    /// Distinct bodies to precompute (`SWITCHBOARD_BENCH_BODIES`, 200 000).
    pub bodies: usize,
    /// Records ceiling C keeps in flight (`SWITCHBOARD_BENCH_PRODUCER_WINDOW`, 10 000).
    pub producer_window: usize,
}

/// How long a point warms up (not measured) and is then measured.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// `SWITCHBOARD_BENCH_WARMUP_SECS`, default 2.
    pub warmup: Duration,
    /// `SWITCHBOARD_BENCH_SECS`, default 8.
    pub measure: Duration,
}

impl Settings {
    /// Reads the settings, refusing missing or malformed ones.
    pub fn from_env() -> anyhow::Result<Self> {
        let connections = env_or("SWITCHBOARD_BENCH_CONNECTIONS", "16,64,256".to_owned())?
            .split(',')
            .map(|n| n.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .context("SWITCHBOARD_BENCH_CONNECTIONS must be numbers separated by commas")?;
        ensure!(
            !connections.is_empty() && !connections.contains(&0),
            "SWITCHBOARD_BENCH_CONNECTIONS must name at least one non-zero connection count"
        );
        Ok(Self {
            server_addr: required("SWITCHBOARD_BENCH_ADDR")?.parse()?,
            server_pid: required("SWITCHBOARD_BENCH_SERVER_PID")?.parse()?,
            broker_pid: std::env::var("SWITCHBOARD_BENCH_BROKER_PID")
                .ok()
                .and_then(|pid| pid.parse().ok()),
            app_secret: required(APP_SECRET_ENV)?,
            api_key: required("SWITCHBOARD_BENCH_API_KEY")?,
            operator_token: required("SWITCHBOARD_BENCH_OPERATOR_TOKEN")?,
            brokers: required("KAFKA_BROKERS")?,
            topic: env_or("SWITCHBOARD_BENCH_TOPIC", Topics::default().received)?,
            broker_label: env_or("SWITCHBOARD_BENCH_BROKER", "unnamed broker".to_owned())?,
            serve_label: env_or("SWITCHBOARD_BENCH_SERVE_SETTINGS", "unknown".to_owned())?,
            timing: Timing {
                warmup: Duration::from_secs_f64(env_or("SWITCHBOARD_BENCH_WARMUP_SECS", 2.0)?),
                measure: Duration::from_secs_f64(env_or("SWITCHBOARD_BENCH_SECS", 8.0)?),
            },
            connections,
            half_rate_connections: env_or("SWITCHBOARD_BENCH_HALF_RATE_CONNECTIONS", 0)
                .map(|connections| Some(connections).filter(|&n| n > 0))?,
            bodies: env_or("SWITCHBOARD_BENCH_BODIES", 200_000)?.max(1),
            producer_window: env_or("SWITCHBOARD_BENCH_PRODUCER_WINDOW", 10_000)?.max(1),
        })
    }
}

/// The environment variable `name`, which must be set.
pub fn required(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: run the benchmark with `bash deploy/bench.sh`")
    })
}

/// The environment variable `name` parsed, or `default` when unset.
fn env_or<T: FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .with_context(|| format!("{name}={text} is not valid")),
        Err(_) => Ok(default),
    }
}
