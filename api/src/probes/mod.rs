//! The health, readiness and metrics listener of the long-running processes without the HTTP
//! API (`adapters`, `analytics`, `replay`): `/healthz`, `/readyz` and `/metrics` on
//! `metrics_addr`, in the same shape as `serve`'s on its API listener, and the sampled gauges
//! ([`crate::gauges`]) behind them. Unset, each process binds a loopback port of its own
//! ([`Process::default_addr`]), so several run side by side on one host.

pub mod routes;
pub mod running;

use crate::auth::api_keys::ApiKeys;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::gauges::SampledGauges;
use crate::telemetry::metrics_handle;
use anyhow::Context;
use running::ConsumerRunning;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::kafka::BrokerGauges;
use tokio::task::JoinHandle;

/// A process that serves its probes on a listener of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// `switchboard adapters`.
    Adapters,
    /// `switchboard analytics`.
    Analytics,
    /// `switchboard replay`.
    Replay,
}

impl Process {
    /// Where its probes listen when `metrics_addr` is unset.
    pub fn default_addr(self) -> SocketAddr {
        let port = match self {
            Self::Adapters => 9101,
            Self::Analytics => 9102,
            Self::Replay => 9103,
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// What the probe routes read.
#[derive(Clone)]
pub struct ProbeState {
    /// PostgreSQL, for readiness.
    pub pool: PgPool,
    /// The broker probe, for readiness.
    pub broker: Arc<BrokerGauges>,
    /// Whether the process's consumer loop runs.
    pub consumer: ConsumerRunning,
    /// The operator credential check of `/metrics`.
    pub auth: Arc<Authenticator>,
}

/// The probe listener and the gauge sampler of a process; both stop when this is dropped.
pub struct Probes {
    tasks: Vec<JoinHandle<()>>,
    /// The address the listener bound.
    pub addr: SocketAddr,
}

impl Drop for Probes {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Binds `process`'s probe listener and starts serving it and sampling `broker`.
pub async fn start(
    config: &Config,
    process: Process,
    pool: PgPool,
    broker: BrokerGauges,
    consumer: ConsumerRunning,
) -> anyhow::Result<Probes> {
    let addr = config.metrics_addr.unwrap_or(process.default_addr());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics listener {addr} (metrics_addr)"))?;
    let addr = listener.local_addr()?;
    let broker = Arc::new(broker);
    let state = ProbeState {
        pool: pool.clone(),
        broker: broker.clone(),
        consumer,
        auth: Arc::new(Authenticator::new(
            ApiKeys::new(pool),
            None,
            config.operator_token.clone(),
        )),
    };
    // Render once so the recorder is installed before the first sample is recorded.
    let _ = metrics_handle();
    let app = routes::router(state);
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    });
    let gauges = SampledGauges {
        broker,
        outbox: None,
    };
    let interval = Duration::from_millis(config.metrics_sample_interval_ms);
    let sampler = tokio::spawn(gauges.run(interval, std::future::pending()));
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    Ok(Probes {
        tasks: vec![server, sampler],
        addr,
    })
}
