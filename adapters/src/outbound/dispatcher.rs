//! The consume loop of the outbound engine: one queue per conversation, one task per busy
//! conversation, offsets committed per partition only up to the oldest unfinished record.
//!
//! A conversation's records run one after another in arrival order (Kafka keeps one key in
//! one partition, in order), so message 2 is never sent before message 1 is finished. Different
//! conversations run concurrently, so a slow, throttled or failing integration holds only its
//! own conversations. The dispatcher owns all of this state in one loop, without locks.
//! When `max_in_flight` records are consumed but unfinished, it stops taking records (they wait
//! in librdkafka's bounded fetch queue) until one finishes. Only when that lasts
//! `pause_after` ([`PAUSE_AFTER`] by default) does it pause its partitions and poll again, so the group does not evict it
//! (`max.poll.interval.ms`), resuming them at half the limit: a resumed partition may take a
//! second to fetch again, which a short wait must not pay.
//!
//! Pausing discards what librdkafka had prefetched, and resuming starts after the last record
//! handed to us, or, for a partition that handed us nothing since it was assigned, after the
//! discarded prefetch: those records would be skipped and committed past. So only partitions
//! with a consumer position (a record handed to us since assignment) are paused; the others
//! are paused as their first record arrives, which gives them one.

use crate::outbound::offsets::OffsetTracker;
use crate::outbound::record::CommandRecord;
use crate::outbound::worker::RecordHandler;
use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// How long the dispatcher stops taking records, by default, before it pauses its partitions.
pub const PAUSE_AFTER: Duration = Duration::from_secs(10);

/// Most records taken from the consumer's queue in one go once one arrived (those already
/// fetched; it never waits for more), so the loop's other work is paid per burst.
const RECORDS_PER_TURN: usize = 256;

/// A topic partition.
type Partition = (String, i32);

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
    worker: Arc<dyn RecordHandler>,
    max_in_flight: usize,
    pause_after: Duration,
    shutdown_grace: Duration,
    tracker: OffsetTracker,
    queues: HashMap<Vec<u8>, VecDeque<CommandRecord>>,
    tasks: JoinSet<CommandRecord>,
    /// Since when it has stopped taking records, being full (not yet paused).
    full_since: Option<tokio::time::Instant>,
    /// While consuming is paused: the partitions paused.
    paused: Option<HashSet<Partition>>,
    /// Commit points reached since offsets were last stored.
    to_store: HashMap<Partition, i64>,
    stopping: bool,
}

impl Dispatcher {
    /// A dispatcher with at most `max_in_flight` unfinished records, pausing its partitions
    /// when it stayed full for `pause_after`, and waiting up to `shutdown_grace` for running
    /// sends when asked to stop.
    pub fn new(
        worker: Arc<dyn RecordHandler>,
        max_in_flight: usize,
        pause_after: Duration,
        shutdown_grace: Duration,
    ) -> Self {
        Self {
            worker,
            max_in_flight: max_in_flight.max(1),
            pause_after,
            shutdown_grace,
            tracker: OffsetTracker::default(),
            queues: HashMap::new(),
            tasks: JoinSet::new(),
            full_since: None,
            paused: None,
            to_store: HashMap::new(),
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
            let waiting = self.full_since;
            let pause_at =
                waiting.map_or_else(tokio::time::Instant::now, |since| since + self.pause_after);
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(joined) = self.tasks.join_next() => {
                    self.finished(joined?);
                    // Every other send that finished meanwhile, then one offset store.
                    while let Some(joined) = self.tasks.try_join_next() {
                        self.finished(joined?);
                    }
                    self.store_offsets(consumer);
                }
                _ = tokio::time::sleep_until(pause_at), if waiting.is_some() => self.pause(consumer)?,
                message = consumer.recv(), if waiting.is_none() => {
                    self.take(consumer, message?)?;
                    // The records already fetched, without waiting, up to the limit.
                    for _ in 1..RECORDS_PER_TURN {
                        if self.tracker.in_flight() >= self.max_in_flight {
                            break;
                        }
                        match consumer.recv().now_or_never() {
                            Some(message) => self.take(consumer, message?)?,
                            None => break,
                        }
                    }
                }
            }
            self.apply_backpressure(consumer)?;
        }
        self.drain().await;
        self.store_offsets(consumer);
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(())
            | Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    fn take(
        &mut self,
        consumer: &StreamConsumer,
        message: rdkafka::message::BorrowedMessage<'_>,
    ) -> Result<(), KafkaError> {
        let record = CommandRecord::from_message(&message);
        drop(message);
        self.hold_back(consumer, &record)?;
        self.accept(record);
        Ok(())
    }

    fn accept(&mut self, record: CommandRecord) {
        if !self
            .tracker
            .begin(&record.topic, record.partition, record.offset)
        {
            tracing::debug!(
                partition = record.partition,
                offset = record.offset,
                "record delivered again after it was taken; not sent twice"
            );
            return;
        }
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

    fn finished(&mut self, record: CommandRecord) {
        if let Some(next) = self
            .tracker
            .finish(&record.topic, record.partition, record.offset)
        {
            self.to_store
                .insert((record.topic.clone(), record.partition), next);
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

    /// Stops taking records at `max_in_flight` unfinished ones and takes them again below it;
    /// once paused (see [`Self::pause`]), resumes at half the limit.
    fn apply_backpressure(&mut self, consumer: &StreamConsumer) -> Result<(), KafkaError> {
        let in_flight = self.tracker.in_flight();
        match &self.paused {
            None if in_flight >= self.max_in_flight => {
                self.full_since
                    .get_or_insert_with(tokio::time::Instant::now);
            }
            None => self.full_since = None,
            Some(_) if in_flight <= self.max_in_flight / 2 => {
                // Every held partition, assigned or not: librdkafka keeps a partition's pause
                // across a revoke and a later re-assignment, so one left out would stay paused.
                let held = self.paused.take().unwrap_or_default();
                consumer.resume(&partition_list(&held))?;
                tracing::debug!(in_flight, "outbound consumer resumed");
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Pauses the partitions that have a position (a record handed to us since assignment)
    /// and takes records again, so polling goes on while the sends stay stuck.
    fn pause(&mut self, consumer: &StreamConsumer) -> Result<(), KafkaError> {
        let positioned: HashSet<Partition> = consumer
            .position()?
            .elements()
            .iter()
            .filter(|e| matches!(e.offset(), Offset::Offset(_)))
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        consumer.pause(&partition_list(&positioned))?;
        self.paused = Some(positioned);
        self.full_since = None;
        tracing::info!(
            in_flight = self.tracker.in_flight(),
            "outbound consumer paused: sends are stuck"
        );
        Ok(())
    }

    /// While consuming is held back, pauses the partition of `record` too: a record arrives
    /// only from a partition that is not paused (it had no position when the others were, or
    /// was assigned since), and now that it handed us one it has a position to resume from.
    fn hold_back(
        &mut self,
        consumer: &StreamConsumer,
        record: &CommandRecord,
    ) -> Result<(), KafkaError> {
        let Some(held) = &mut self.paused else {
            return Ok(());
        };
        let partition = (record.topic.clone(), record.partition);
        consumer.pause(&partition_list(&HashSet::from([partition.clone()])))?;
        held.insert(partition);
        Ok(())
    }

    /// Lets running sends finish for up to the grace period, then abandons the rest: their
    /// offsets stay uncommitted, so they are redelivered after a restart.
    async fn drain(&mut self) {
        self.stopping = true;
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(Some(Ok(record))) => self.finished(record),
                Ok(Some(Err(_))) | Ok(None) => {}
                Err(_) => break,
            }
        }
        self.tasks.abort_all();
    }
}

fn partition_list(partitions: &HashSet<Partition>) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for (topic, partition) in partitions {
        list.add_partition(topic, *partition);
    }
    list
}

impl Dispatcher {
    /// Stores the commit points reached since the last call, one call for all partitions (the
    /// consumer's auto-commit sends them).
    fn store_offsets(&mut self, consumer: &StreamConsumer) {
        if self.to_store.is_empty() {
            return;
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in self.to_store.drain() {
            if let Err(error) =
                offsets.add_partition_offset(&topic, partition, Offset::Offset(next))
            {
                tracing::debug!(%error, partition, "offset not listed");
            }
        }
        if let Err(error) = consumer.store_offsets(&offsets) {
            // One partition no longer assigned fails the whole call: store them one by one.
            tracing::debug!(%error, "offsets not stored together; storing them one by one");
            for element in offsets.elements() {
                let mut one = TopicPartitionList::new();
                let stored = one
                    .add_partition_offset(element.topic(), element.partition(), element.offset())
                    .and_then(|()| consumer.store_offsets(&one));
                if let Err(error) = stored {
                    tracing::debug!(%error, partition = element.partition(), "offset not stored (partition no longer assigned?)");
                }
            }
        }
    }
}
