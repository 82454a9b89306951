//! The gauges a process samples rather than counts, every `metrics_sample_interval_ms`: the
//! broker's (consumer lag of the process's groups, dead-letter depth) and, where the outbox
//! relay runs, the outbox backlog. A failed sample keeps the previous values and is retried
//! at the next tick; it never stops the process.

use futures::FutureExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::kafka::BrokerGauges;
use switchboard_adapters::store::OutboxBacklog;

/// What one process samples.
#[derive(Clone)]
pub struct SampledGauges {
    /// Lag and dead-letter depth.
    pub broker: Arc<BrokerGauges>,
    /// The outbox backlog, where the relay runs.
    pub outbox: Option<OutboxBacklog>,
}

impl SampledGauges {
    /// Samples once now, then every `interval`, until `shutdown` resolves.
    pub async fn run(self, interval: Duration, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.broker.sample_now().await {
                tracing::debug!(%error, "sampling the broker gauges failed");
            }
            if let Some(outbox) = &self.outbox {
                if let Err(error) = outbox.sample().await {
                    tracing::debug!(%error, "sampling the outbox backlog failed");
                }
            }
        }
    }
}
