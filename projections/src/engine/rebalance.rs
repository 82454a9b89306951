//! Where a projector's consumer starts reading a partition it was just assigned: at the
//! offset stored with the projection's rows (or the partition's beginning when none is), not
//! at the consumer group's committed offset, which is informational only.

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Next offsets by (topic, partition), as last stored with the projection's rows.
pub type StoredOffsets = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// Partitions assigned from their beginning (nothing stored): their first record starts them.
pub type FromBeginning = Arc<Mutex<HashSet<(String, i32)>>>;

/// A consumer context that positions assigned partitions at their stored offsets.
pub struct SeekToStored {
    offsets: StoredOffsets,
    from_beginning: FromBeginning,
    projection: &'static str,
}

impl SeekToStored {
    /// A context reading positions from `offsets`, recording in `from_beginning` the partitions
    /// it starts from their beginning.
    pub fn new(
        projection: &'static str,
        offsets: StoredOffsets,
        from_beginning: FromBeginning,
    ) -> Self {
        Self {
            offsets,
            from_beginning,
            projection,
        }
    }

    fn position(&self, topic: &str, partition: i32) -> Offset {
        let offsets = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        offsets
            .get(&(topic.to_owned(), partition))
            .map_or(Offset::Beginning, |next| Offset::Offset(*next))
    }

    fn assign(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> KafkaResult<()> {
        let partitions: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        for (topic, partition) in partitions {
            let position = self.position(&topic, partition);
            if position == Offset::Beginning {
                let mut fresh = self
                    .from_beginning
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                fresh.insert((topic.clone(), partition));
            }
            tracing::info!(
                projection = self.projection,
                topic,
                partition,
                ?position,
                "partition assigned"
            );
            tpl.set_partition_offset(&topic, partition, position)?;
        }
        consumer.assign(tpl)
    }
}

impl ClientContext for SeekToStored {}

impl ConsumerContext for SeekToStored {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let outcome = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => consumer.unassign(),
            other => {
                tracing::warn!(projection = self.projection, error = ?other, "rebalance error");
                Ok(())
            }
        };
        if let Err(error) = outcome {
            tracing::warn!(projection = self.projection, %error, "rebalance failed");
        }
    }
}
