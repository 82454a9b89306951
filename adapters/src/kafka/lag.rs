//! Consumer lag: how many records of each partition a consumer group has not committed yet
//! (the partition's high watermark minus the group's committed offset), read from the broker
//! by a client that never joins the group, so sampling cannot trigger a rebalance.

use crate::kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

/// The gauge every process sets per consumer group, topic and partition.
pub const CONSUMER_LAG: &str = "switchboard_kafka_consumer_lag";

/// Sets [`CONSUMER_LAG`] for one partition of `group`.
pub fn record_lag(group: &str, topic: &str, partition: i32, lag: i64) {
    metrics::gauge!(CONSUMER_LAG, "group" => group.to_owned(), "topic" => topic.to_owned(),
        "partition" => partition.to_string())
    .set(lag.max(0) as f64);
}

/// One partition's lag as sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Records after the committed offset (after the log start when nothing was committed).
    pub lag: i64,
}

/// Reads the committed offsets of one consumer group over its topics.
pub struct GroupLag {
    client: BaseConsumer,
    group: String,
    topics: Vec<String>,
}

impl GroupLag {
    /// A reader of `group`'s offsets on `topics`. The client carries the group's id (the
    /// broker answers committed offsets per group) but never subscribes.
    pub fn new(
        kafka: &KafkaSettings,
        group: &str,
        topics: Vec<String>,
    ) -> Result<Self, KafkaError> {
        let client = kafka
            .client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Self {
            client,
            group: group.to_owned(),
            topics,
        })
    }

    /// The group's id.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Samples every partition of the group's topics (blocking: call off the async threads)
    /// and records the gauges.
    pub fn sample(&self, timeout: Duration) -> Result<Vec<PartitionLag>, KafkaError> {
        let mut partitions = TopicPartitionList::new();
        for topic in &self.topics {
            let metadata = self.client.fetch_metadata(Some(topic.as_str()), timeout)?;
            for found in metadata.topics() {
                for partition in found.partitions() {
                    partitions.add_partition(found.name(), partition.id());
                }
            }
        }
        let committed = self.client.committed_offsets(partitions, timeout)?;
        let mut lags = Vec::new();
        for element in committed.elements() {
            let (low, high) =
                self.client
                    .fetch_watermarks(element.topic(), element.partition(), timeout)?;
            let from = match element.offset() {
                Offset::Offset(offset) => offset,
                _ => low,
            };
            let lag = (high - from).max(0);
            record_lag(&self.group, element.topic(), element.partition(), lag);
            lags.push(PartitionLag {
                topic: element.topic().to_owned(),
                partition: element.partition(),
                lag,
            });
        }
        Ok(lags)
    }
}
