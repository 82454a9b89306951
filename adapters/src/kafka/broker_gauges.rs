//! The broker-side gauges of one process, sampled every interval: the lag of each consumer
//! group it runs ([`GroupLag`]) and the depth of the dead-letter topics it writes
//! ([`DlqDepth`]); and a broker probe for its readiness. The caller decides how often. Sampling uses clients of its own that
//! never join a group, so it cannot disturb the consumers it watches.

use crate::kafka::dlq_depth::DlqDepth;
use crate::kafka::lag::GroupLag;
use crate::kafka::{KafkaSettings, Topics};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use std::sync::Arc;
use std::time::Duration;

/// How long one broker request of a sample may take.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a process samples from the brokers.
pub struct BrokerGauges {
    probe: BaseConsumer,
    groups: Vec<GroupLag>,
    dead_letters: Option<DlqDepth>,
    observer_group: String,
}

impl BrokerGauges {
    /// [`BrokerGauges::new`] with the observer group under the topics' prefix.
    pub fn for_topics(kafka: &KafkaSettings, topics: &Topics) -> Result<Self, KafkaError> {
        Self::new(kafka, &format!("{}switchboard.observer", topics.prefix()))
    }

    /// Nothing sampled yet but the probe; `observer_group` names the sampling clients to the
    /// broker (e.g. `switchboard.observer`, prefixed like the topics).
    pub fn new(kafka: &KafkaSettings, observer_group: &str) -> Result<Self, KafkaError> {
        let probe = kafka
            .client_config()
            .set("group.id", observer_group)
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Self {
            probe,
            groups: Vec::new(),
            dead_letters: None,
            observer_group: observer_group.to_owned(),
        })
    }

    /// Also samples the lag of `group` over `topics`.
    pub fn with_group(
        mut self,
        kafka: &KafkaSettings,
        group: &str,
        topics: Vec<String>,
    ) -> Result<Self, KafkaError> {
        self.groups.push(GroupLag::new(kafka, group, topics)?);
        Ok(self)
    }

    /// Also samples the depth of the dead-letter `topics`.
    pub fn with_dead_letters(
        mut self,
        kafka: &KafkaSettings,
        topics: Vec<String>,
    ) -> Result<Self, KafkaError> {
        self.dead_letters = Some(DlqDepth::new(kafka, &self.observer_group, topics)?);
        Ok(self)
    }

    /// The groups whose lag is sampled.
    pub fn groups(&self) -> Vec<&str> {
        self.groups.iter().map(GroupLag::group).collect()
    }

    /// Samples everything once (blocking), recording the gauges; the first failure is
    /// returned after the rest was still tried.
    pub fn sample(&self) -> Result<(), KafkaError> {
        let mut failed = None;
        for group in &self.groups {
            if let Err(error) = group.sample(SAMPLE_TIMEOUT) {
                failed.get_or_insert(error);
            }
        }
        if let Some(dead_letters) = &self.dead_letters {
            if let Err(error) = dead_letters.sample(SAMPLE_TIMEOUT) {
                failed.get_or_insert(error);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// [`BrokerGauges::sample`] off the async threads.
    pub async fn sample_now(self: &Arc<Self>) -> Result<(), String> {
        let gauges = self.clone();
        tokio::task::spawn_blocking(move || gauges.sample())
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())
    }

    /// Whether a broker answers a metadata request within `timeout`.
    pub async fn broker_reachable(self: &Arc<Self>, timeout: Duration) -> Result<(), String> {
        let gauges = self.clone();
        tokio::task::spawn_blocking(move || {
            gauges
                .probe
                .fetch_metadata(None, timeout)
                .map(|_| ())
                .map_err(|error| error.to_string())
        })
        .await
        .map_err(|error| error.to_string())?
    }
}
