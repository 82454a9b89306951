//! Every process hears of every lifecycle change, whichever replica made it: a consumer of
//! `integrations.lifecycle` (the outbox relay's topic) that tells the process's caches which
//! integration or platform app changed, so a Disconnect, a credential refresh or a Delete made
//! through one `serve` replica takes effect in every other replica and every `adapters` process
//! as soon as the relay has published it, not only when their caches' time-to-live runs out.
//!
//! Each process reads every partition of the topic itself (assigned, no consumer group, nothing
//! committed), from the records written since shortly before the watch was built
//! ([`REHEARD_MARGIN`] covers clocks of other hosts running behind): a cache needs to hear
//! the changes made after it started, and hearing a few older ones again only costs a re-read.
//! The time-to-live stays as the bound when this consumer lags or the broker is away.

use crate::kafka::{consume, ConsumedRecord, HandlerError, KafkaSettings};
use async_trait::async_trait;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::{ChannelKind, IntegrationId};

/// The `ce_type` prefix of the Integration aggregate's events.
const INTEGRATION_EVENTS: &str = "switchboard.integration.";
/// The `ce_type` prefix of the Platform aggregate's events (a channel's app credentials).
const PLATFORM_APP_EVENTS: &str = "switchboard.platform.";

/// A cache that forgets what a lifecycle change made stale.
#[async_trait]
pub trait LifecycleListener: Send + Sync {
    /// An event of integration `id` was recorded (by this process or another).
    async fn integration_changed(&self, _id: IntegrationId) {}

    /// The platform credentials of `channel` changed.
    async fn platform_app_changed(&self, _channel: &ChannelKind) {}
}

/// What a lifecycle record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleChange {
    /// An integration's event.
    Integration(IntegrationId),
    /// A channel's platform app event.
    PlatformApp(ChannelKind),
}

impl LifecycleChange {
    /// The change `record` announces; `None` for a record of another kind (or a malformed key).
    pub fn of(record: &ConsumedRecord) -> Option<Self> {
        let event_type = record.event.as_ref()?.event_type.as_str();
        let key = record.key.as_deref()?;
        if event_type.starts_with(INTEGRATION_EVENTS) {
            key.parse().ok().map(Self::Integration)
        } else if event_type.starts_with(PLATFORM_APP_EVENTS) {
            ChannelKind::parse(key).map(Self::PlatformApp)
        } else {
            None
        }
    }
}

/// How far before its construction a watch starts reading.
pub const REHEARD_MARGIN: Duration = Duration::from_secs(10);
/// How long one metadata or offset request may take.
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait before asking an unreachable broker again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The consumer of lifecycle records and the caches it tells.
pub struct LifecycleWatch {
    consumer: Arc<StreamConsumer>,
    topic: String,
    /// Unix milliseconds to read from.
    since_ms: i64,
    listeners: Vec<Arc<dyn LifecycleListener>>,
}

impl LifecycleWatch {
    /// A watch of `topic` (the lifecycle topic) telling `listeners` of the changes made from
    /// about now on; nothing is read, and the broker is not asked, until [`LifecycleWatch::run`].
    pub fn new(
        kafka: &KafkaSettings,
        topic: &str,
        listeners: Vec<Arc<dyn LifecycleListener>>,
    ) -> Result<Self, KafkaError> {
        let consumer: StreamConsumer = kafka
            .client_config()
            // Required by librdkafka; partitions are assigned, so no group is ever joined.
            .set("group.id", "switchboard-caches")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create()?;
        let since = chrono::Utc::now() - REHEARD_MARGIN;
        Ok(Self {
            consumer: Arc::new(consumer),
            topic: topic.to_owned(),
            since_ms: since.timestamp_millis(),
            listeners,
        })
    }

    /// Tells the listeners of every change until `shutdown` resolves. Waits for the broker
    /// first, when it is away.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), KafkaError> {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let consumer = self.consumer.clone();
            let (topic, since_ms) = (self.topic.clone(), self.since_ms);
            let start = tokio::task::spawn_blocking(move || start_at(&consumer, &topic, since_ms));
            let started = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                started = start => started.expect("the offset lookup does not panic"),
            };
            match started {
                Ok(positions) => {
                    self.consumer.assign(&positions)?;
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "lifecycle watch waits for the broker");
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        _ = tokio::time::sleep(RETRY_AFTER) => {}
                    }
                }
            }
        }
        consume(&self.consumer, shutdown, |record| self.tell(record)).await
    }

    async fn tell(&self, record: ConsumedRecord) -> Result<(), HandlerError> {
        let Some(change) = LifecycleChange::of(&record) else {
            return Ok(());
        };
        metrics::counter!("switchboard_lifecycle_changes_heard_total").increment(1);
        for listener in &self.listeners {
            match &change {
                LifecycleChange::Integration(id) => listener.integration_changed(*id).await,
                LifecycleChange::PlatformApp(channel) => {
                    listener.platform_app_changed(channel).await
                }
            }
        }
        Ok(())
    }
}

/// Where each partition of `topic` holds its first record written at or after `since_ms` (its
/// end where there is none yet).
fn start_at(
    consumer: &StreamConsumer,
    topic: &str,
    since_ms: i64,
) -> Result<TopicPartitionList, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), BROKER_TIMEOUT)?;
    let mut wanted = TopicPartitionList::new();
    let mut ends = Vec::new();
    for described in metadata.topics().iter().filter(|t| t.name() == topic) {
        for partition in described.partitions() {
            let (_, end) = consumer.fetch_watermarks(topic, partition.id(), BROKER_TIMEOUT)?;
            ends.push((partition.id(), end));
            wanted.add_partition_offset(topic, partition.id(), Offset::Offset(since_ms))?;
        }
    }
    if ends.is_empty() {
        return Err(KafkaError::MetadataFetch(
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    let mut found = consumer.offsets_for_times(wanted, BROKER_TIMEOUT)?;
    // No record since then: start at the end as it was before the lookup, so a record written
    // between the lookup and the assignment is not skipped.
    for (partition, end) in ends {
        let nothing_since = found
            .find_partition(topic, partition)
            .is_none_or(|p| !matches!(p.offset(), Offset::Offset(_)));
        if nothing_since {
            found.set_partition_offset(topic, partition, Offset::Offset(end))?;
        }
    }
    Ok(found)
}

mod listeners;
#[cfg(test)]
mod tests;
