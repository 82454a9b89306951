//! Dead-letter depth: how many records each `*.dlq` topic holds (high minus low watermark,
//! summed over its partitions). A redrive does not remove records, so the depth falls only as
//! retention deletes them; a rising depth is what to alert on.

use crate::kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use std::time::Duration;

/// The gauge of records held per dead-letter topic.
pub const DLQ_DEPTH: &str = "switchboard_kafka_dlq_depth";

/// Reads the watermarks of the dead-letter topics.
pub struct DlqDepth {
    client: BaseConsumer,
    topics: Vec<String>,
}

impl DlqDepth {
    /// A reader of `topics`' depth. `observer_group` only names the client to the broker;
    /// it never joins nor commits.
    pub fn new(
        kafka: &KafkaSettings,
        observer_group: &str,
        topics: Vec<String>,
    ) -> Result<Self, KafkaError> {
        let client = kafka
            .client_config()
            .set("group.id", observer_group)
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Self { client, topics })
    }

    /// Samples every topic's depth (blocking) and records the gauges; a topic that does not
    /// exist is skipped.
    pub fn sample(&self, timeout: Duration) -> Result<Vec<(String, i64)>, KafkaError> {
        let mut depths = Vec::new();
        for topic in &self.topics {
            let metadata = self.client.fetch_metadata(Some(topic.as_str()), timeout)?;
            let mut depth = 0;
            let mut exists = false;
            for found in metadata.topics() {
                if found.error().is_some() {
                    continue;
                }
                for partition in found.partitions() {
                    exists = true;
                    let (low, high) =
                        self.client
                            .fetch_watermarks(found.name(), partition.id(), timeout)?;
                    depth += (high - low).max(0);
                }
            }
            if exists {
                metrics::gauge!(DLQ_DEPTH, "topic" => topic.clone()).set(depth as f64);
                depths.push((topic.clone(), depth));
            }
        }
        Ok(depths)
    }
}
