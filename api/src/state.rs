//! What every handler can reach.

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::sync::Arc;
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::inbound::{InboundPublisher, WebhookTargets};
use switchboard_adapters::kafka::{EventProducer, Topics};
use switchboard_adapters::store::IntegrationStore;

/// Shared handles, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Integration commands and reads.
    pub integrations: IntegrationStore,
    /// Known channels.
    pub channels: Arc<ChannelRegistry>,
    /// PostgreSQL, for readiness.
    pub pool: PgPool,
    /// Kafka, for readiness (and, later, ingest).
    pub producer: EventProducer,
    /// Integrations as webhooks see them.
    pub webhook_targets: WebhookTargets,
    /// Publishes verified webhook items.
    pub inbound: InboundPublisher,
    /// Topic names (send commands go to `outbound`, agents' actions to `activity`).
    pub topics: Topics,
    /// Prometheus rendering.
    pub metrics: PrometheusHandle,
}
