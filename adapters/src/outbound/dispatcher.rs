//! The consume loop of the outbound engine: one queue per conversation, one task per busy
//! conversation, offsets committed per partition only up to the oldest unfinished record.
//!
//! A conversation's records run one after another in arrival order (Kafka keeps one key in
//! one partition, in order), so message 2 is never sent before message 1 is finished. Different
//! conversations run concurrently, so a slow, throttled or failing integration holds only its
//! own conversations. The dispatcher owns all of this state in one loop, without locks.
//! When `max_in_flight` records are consumed but unfinished, it pauses its partitions (and
//! keeps polling, so the group does not evict it) until some finish.

use crate::outbound::offsets::OffsetTracker;
use crate::outbound::record::CommandRecord;
use crate::outbound::worker::Worker;
use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Why the dispatcher stopped.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The consumer failed.
    #[error("outbound consumer failed: {0}")]
    Kafka(#[from] KafkaError),
    /// A worker task died without finishing its record; restarting redelivers it.
    #[error("an outbound worker task died: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

/// Runs records through workers, conversation by conversation.
pub struct Dispatcher {
    worker: Arc<Worker>,
    max_in_flight: usize,
    shutdown_grace: Duration,
    tracker: OffsetTracker,
    queues: HashMap<Vec<u8>, VecDeque<CommandRecord>>,
    tasks: JoinSet<CommandRecord>,
    paused: bool,
    stopping: bool,
}

impl Dispatcher {
    /// A dispatcher with at most `max_in_flight` unfinished records, waiting up to
    /// `shutdown_grace` for running sends when asked to stop.
    pub fn new(worker: Arc<Worker>, max_in_flight: usize, shutdown_grace: Duration) -> Self {
        Self {
            worker,
            max_in_flight: max_in_flight.max(1),
            shutdown_grace,
            tracker: OffsetTracker::default(),
            queues: HashMap::new(),
            tasks: JoinSet::new(),
            paused: false,
            stopping: false,
        }
    }

    /// Consumes from `consumer` (already subscribed) until `shutdown` resolves.
    pub async fn run(
        mut self,
        consumer: &StreamConsumer,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), DispatchError> {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(joined) = self.tasks.join_next() => self.finished(consumer, joined?),
                message = consumer.recv() => {
                    let record = CommandRecord::from_message(&message?);
                    self.accept(record);
                }
            }
            self.apply_backpressure(consumer)?;
        }
        self.drain(consumer).await;
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(())
            | Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    fn accept(&mut self, record: CommandRecord) {
        self.tracker
            .begin(&record.topic, record.partition, record.offset);
        let conversation = record.conversation();
        match self.queues.get_mut(&conversation) {
            Some(waiting) => waiting.push_back(record),
            None => {
                self.spawn(record.clone());
                self.queues.insert(conversation, VecDeque::from([record]));
            }
        }
    }

    fn spawn(&mut self, record: CommandRecord) {
        let worker = self.worker.clone();
        self.tasks.spawn(async move {
            worker.handle(&record).await;
            record
        });
    }

    fn finished(&mut self, consumer: &StreamConsumer, record: CommandRecord) {
        if let Some(next) = self
            .tracker
            .finish(&record.topic, record.partition, record.offset)
        {
            store_offset(consumer, &record.topic, record.partition, next);
        }
        let conversation = record.conversation();
        let Some(waiting) = self.queues.get_mut(&conversation) else {
            return;
        };
        waiting.pop_front();
        match waiting.front().cloned() {
            Some(next) if !self.stopping => self.spawn(next),
            Some(_) => {}
            None => {
                self.queues.remove(&conversation);
            }
        }
    }

    fn apply_backpressure(&mut self, consumer: &StreamConsumer) -> Result<(), KafkaError> {
        let full = self.tracker.in_flight() >= self.max_in_flight;
        if full != self.paused {
            let assignment = consumer.assignment()?;
            if full {
                consumer.pause(&assignment)?;
            } else {
                consumer.resume(&assignment)?;
            }
            self.paused = full;
            tracing::debug!(
                paused = full,
                in_flight = self.tracker.in_flight(),
                "outbound backpressure"
            );
        }
        Ok(())
    }

    /// Lets running sends finish for up to the grace period, then abandons the rest: their
    /// offsets stay uncommitted, so they are redelivered after a restart.
    async fn drain(&mut self, consumer: &StreamConsumer) {
        self.stopping = true;
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(Some(Ok(record))) => self.finished(consumer, record),
                Ok(Some(Err(_))) | Ok(None) => {}
                Err(_) => break,
            }
        }
        self.tasks.abort_all();
    }
}

fn store_offset(consumer: &StreamConsumer, topic: &str, partition: i32, next: i64) {
    let mut offsets = TopicPartitionList::new();
    let stored = offsets
        .add_partition_offset(topic, partition, Offset::Offset(next))
        .and_then(|()| consumer.store_offsets(&offsets));
    if let Err(error) = stored {
        tracing::debug!(%error, partition, "offset not stored (partition no longer assigned?)");
    }
}
