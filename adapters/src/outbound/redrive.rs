//! Reading and redriving the outbound dead-letter topic (`switchboard dlq list|redrive`).
//!
//! Both read each partition up to the end it had when they started, so they terminate even
//! while new dead letters arrive. `list` reads everything and commits nothing. `redrive`
//! remembers its progress in its own consumer group: each dead letter is re-produced to
//! `messages.outbound` (original key, body and headers, the `dlq_*` headers removed) and its
//! offset committed only after the broker acknowledged the copy, so a redrive interrupted
//! half-way resumes where it stopped and never skips one (one may be redriven twice, which
//! the status events' deterministic ids make visible).

use crate::kafka::{EventProducer, KafkaSettings, PublishError, Topics};
use crate::outbound::dlq::redriven;
use crate::outbound::prefix_of;
use crate::outbound::record::CommandRecord;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::Duration;

/// How long one metadata request or one wait for a record may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(15);
/// The consumer group that remembers what was redriven, after the topic prefix.
pub const REDRIVE_GROUP: &str = "switchboard-dlq-redrive";

/// Why a listing or a redrive stopped.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    /// The broker could not be read.
    #[error("reading the dead-letter topic failed: {0}")]
    Kafka(#[from] KafkaError),
    /// A record did not arrive although the partition's end said it exists.
    #[error("timed out reading the dead-letter topic")]
    Timeout,
    /// A redriven copy was not acknowledged; it and the ones after it stay dead-lettered.
    #[error("re-producing a dead letter failed: {0}")]
    Publish(#[from] PublishError),
}

/// The outbound dead-letter topic.
pub struct DeadLetters {
    settings: KafkaSettings,
    dead_letter_topic: String,
    outbound_topic: String,
    redrive_group: String,
}

impl DeadLetters {
    /// The dead letters of `topics.outbound`.
    pub fn new(settings: KafkaSettings, topics: &Topics) -> Self {
        Self {
            dead_letter_topic: format!("{}.dlq", topics.outbound),
            outbound_topic: topics.outbound.clone(),
            redrive_group: format!("{}{REDRIVE_GROUP}", prefix_of(topics)),
            settings,
        }
    }

    /// The dead letters of `topics.actions_requested` (`actions.requested.dlq`), redriven
    /// back to `actions.requested` with a progress group of their own.
    pub fn of_actions(settings: KafkaSettings, topics: &Topics) -> Self {
        Self {
            dead_letter_topic: format!("{}.dlq", topics.actions_requested),
            outbound_topic: topics.actions_requested.clone(),
            redrive_group: format!("{}{REDRIVE_GROUP}-actions", prefix_of(topics)),
            settings,
        }
    }

    /// Every dead letter, oldest first per partition.
    pub async fn list(&self) -> Result<Vec<CommandRecord>, RedriveError> {
        let group = format!("switchboard-dlq-list-{}", uuid::Uuid::new_v4());
        let consumer = self.reader(&group)?;
        let mut records = Vec::new();
        let assigned = self.assign_to_end(&consumer, false)?;
        read_to_end(&consumer, assigned, |record| {
            records.push(record);
            async { Ok(()) }
        })
        .await?;
        records.sort_by_key(|r| (r.partition, r.offset));
        Ok(records)
    }

    /// Re-produces every dead letter not redriven before to `messages.outbound`; returns how many.
    pub async fn redrive(&self, producer: &EventProducer) -> Result<usize, RedriveError> {
        let consumer = self.reader(&self.redrive_group)?;
        let assigned = self.assign_to_end(&consumer, true)?;
        let mut count = 0;
        let consumer = &consumer;
        read_to_end(consumer, assigned, |record| {
            count += 1;
            let copy = redriven(&record, &self.outbound_topic);
            async move {
                producer.publish_raw(&copy).await?;
                let mut done = TopicPartitionList::new();
                done.add_partition_offset(
                    &record.topic,
                    record.partition,
                    Offset::Offset(record.offset + 1),
                )?;
                consumer.commit(&done, CommitMode::Sync)?;
                Ok(())
            }
        })
        .await?;
        Ok(count)
    }

    fn reader(&self, group: &str) -> Result<StreamConsumer, KafkaError> {
        self.settings
            .client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
    }

    /// Assigns every partition that has records past the start point (the group's committed
    /// offset when `from_committed`, else the beginning); returns each one's end.
    fn assign_to_end(
        &self,
        consumer: &StreamConsumer,
        from_committed: bool,
    ) -> Result<HashMap<i32, i64>, KafkaError> {
        let topic = &self.dead_letter_topic;
        let metadata = consumer.fetch_metadata(Some(topic), READ_TIMEOUT)?;
        let mut all = TopicPartitionList::new();
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            all.add_partition(topic, partition.id());
        }
        let committed = if from_committed {
            consumer.committed_offsets(all.clone(), READ_TIMEOUT)?
        } else {
            TopicPartitionList::new()
        };
        let mut start = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for element in all.elements() {
            let partition = element.partition();
            let (low, high) = consumer.fetch_watermarks(topic, partition, READ_TIMEOUT)?;
            let from = match committed
                .find_partition(topic, partition)
                .map(|e| e.offset())
            {
                Some(Offset::Offset(offset)) => offset.max(low),
                _ => low,
            };
            if from < high {
                start.add_partition_offset(topic, partition, Offset::Offset(from))?;
                ends.insert(partition, high);
            }
        }
        if !ends.is_empty() {
            consumer.assign(&start)?;
        }
        Ok(ends)
    }
}

/// Hands every record up to each partition's end to `each`, in offset order per partition.
async fn read_to_end<F, Fut>(
    consumer: &StreamConsumer,
    mut ends: HashMap<i32, i64>,
    mut each: F,
) -> Result<(), RedriveError>
where
    F: FnMut(CommandRecord) -> Fut,
    Fut: std::future::Future<Output = Result<(), RedriveError>>,
{
    while !ends.is_empty() {
        let message = tokio::time::timeout(READ_TIMEOUT, consumer.recv())
            .await
            .map_err(|_| RedriveError::Timeout)??;
        let record = CommandRecord::from_message(&message);
        let Some(end) = ends.get(&record.partition).copied() else {
            continue;
        };
        if record.offset >= end {
            continue;
        }
        if record.offset + 1 >= end {
            ends.remove(&record.partition);
        }
        each(record).await?;
    }
    Ok(())
}
