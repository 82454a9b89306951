//! The live consumer of one projection: a consumer group reading the projection's topics in
//! batches, each applied with its offsets in one transaction (see [`apply_batch`]).
//!
//! # Guarantees
//! Effectively once: PostgreSQL's stored offsets, not the group's committed offsets, decide
//! what is applied. After a crash, a rebalance or a rebuild's hand-over, records the tables
//! already reflect are skipped and the partition is sought to the stored offset; group
//! offsets are committed after each batch only so lag dashboards stay meaningful.

use crate::engine::apply::{BatchOutcome, BatchTarget};
use crate::engine::lanes::Lanes;
use crate::engine::projection::{Projection, ProjectionError};
use crate::engine::rebalance::{FromBeginning, SeekToStored, StoredOffsets};
use crate::engine::schema::ensure_live_schema;
use crate::engine::starts::{partition_starts, store_starts};
use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::kafka::{to_record, ConsumedRecord, KafkaSettings, Topics};
use tracing::Instrument;

/// How much a live projector lets librdkafka prefetch (librdkafka's default, 64 MiB per
/// consumer, made two live projectors most of `serve`'s memory under ingest load; a batch is at
/// most a few MiB).
const LIVE_FETCH_QUEUE_KBYTES: &str = "8192";

/// How much a live projector asks the broker to gather before it answers a fetch; the broker
/// holds a fetch at most `max_wait` (the batching window). librdkafka's default, 1 byte, had
/// every fetch answered with the few records produced since the last one, and under webhook
/// load those answers cost the broker more CPU than the webhooks (README "Benchmarks", ingest).
const LIVE_FETCH_MIN_BYTES: &str = "1048576";

/// Pause after a failed batch before it is read again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// How a projector batches.
#[derive(Debug, Clone)]
pub struct ProjectorSettings {
    /// Most records in one transaction.
    pub max_batch: usize,
    /// How long to wait for more records once one arrived.
    pub max_wait: Duration,
    /// Transactions a batch is applied in at once, split by partition (see `lanes.rs`).
    pub lanes: usize,
}

impl ProjectorSettings {
    /// What `switchboard replay` uses: a rebuild has its tables to itself and a backlog to
    /// read, so bigger batches over more lanes (4 measured 2x one lane on 2 cores). A batch
    /// updates each of its conversations once, so fewer, bigger batches write them less often:
    /// 50,000 records a batch rebuilt the inbox 1.5x as fast as 5,000 (some 60 MB held).
    pub fn for_replay() -> Self {
        Self {
            max_batch: 50_000,
            lanes: 4,
            ..Self::default()
        }
    }
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            max_batch: 1000,
            max_wait: Duration::from_millis(20),
            lanes: 2,
        }
    }
}

/// Keeps one projection's live tables up to date.
pub struct Projector {
    pool: PgPool,
    projection: Arc<dyn Projection>,
    kafka: KafkaSettings,
    topics: Topics,
    settings: ProjectorSettings,
}

impl Projector {
    /// A projector of `projection` reading `topics` through `kafka` into `pool`.
    pub fn new(
        pool: PgPool,
        projection: Arc<dyn Projection>,
        kafka: KafkaSettings,
        topics: Topics,
        settings: ProjectorSettings,
    ) -> Self {
        Self {
            pool,
            projection,
            kafka,
            topics,
            settings,
        }
    }

    /// The consumer group of a projection (prefixed like the topics).
    pub fn group_id(projection: &dyn Projection, topics: &Topics) -> String {
        format!(
            "{}switchboard.projection.{}",
            topics.prefix(),
            projection.name()
        )
    }

    /// Runs until `shutdown` resolves. Fails only when the live tables are outdated (a
    /// rebuild is needed) or the consumer cannot be created; everything else is retried.
    pub fn run<'a>(
        &'a self,
        shutdown: impl Future<Output = ()> + Send + 'a,
    ) -> futures::future::BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(self.run_until(shutdown))
    }

    async fn run_until(
        &self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ProjectionError> {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        ensure_live_schema(&self.pool, self.projection.as_ref()).await?;
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            () = self.store_partition_starts() => {}
        }
        let offsets = self.load_offsets().await?;
        let from_beginning = FromBeginning::default();
        let context = SeekToStored::new(
            self.projection.name(),
            offsets.clone(),
            from_beginning.clone(),
        );
        let consumer: StreamConsumer<SeekToStored> = self
            .kafka
            .client_config()
            .set(
                "group.id",
                Self::group_id(self.projection.as_ref(), &self.topics),
            )
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("queued.max.messages.kbytes", LIVE_FETCH_QUEUE_KBYTES)
            .set("fetch.min.bytes", LIVE_FETCH_MIN_BYTES)
            .set(
                "fetch.wait.max.ms",
                self.settings.max_wait.as_millis().max(1).to_string(),
            )
            .create_with_context(context)?;
        let names = self.projection.topics(&self.topics);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        loop {
            let batch = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                batch = self.next_batch(&consumer) => batch,
            };
            let batch = match batch {
                Ok(batch) => Lanes::split(batch, self.settings.lanes),
                Err(error) => {
                    tracing::warn!(projection = self.projection.name(), %error, "consume failed");
                    tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                    continue;
                }
            };
            let fresh = from_beginning
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            // A batch that keeps failing must not hold up shutdown: dropping it mid-way rolls
            // its transaction back, and the next start applies it from the stored offsets.
            let stored = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                stored = self.settle(&consumer, &batch, &fresh) => stored,
            };
            let mut known = offsets.lock().unwrap_or_else(|e| e.into_inner());
            for (topic, partition, next) in stored {
                known.insert((topic, partition), next);
            }
        }
    }

    /// Applies a batch, retrying until it commits; then seeks and commits group offsets.
    fn settle<'a>(
        &'a self,
        consumer: &'a StreamConsumer<SeekToStored>,
        batch: &'a Lanes,
        from_beginning: &'a HashSet<(String, i32)>,
    ) -> futures::future::BoxFuture<'a, Vec<(String, i32, i64)>> {
        Box::pin(self.settle_inner(consumer, batch, from_beginning))
    }

    async fn settle_inner(
        &self,
        consumer: &StreamConsumer<SeekToStored>,
        batch: &Lanes,
        from_beginning: &HashSet<(String, i32)>,
    ) -> Vec<(String, i32, i64)> {
        let span = tracing::info_span!(
            "projection.batch",
            projection = self.projection.name(),
            records = batch.len()
        );
        if let Some(first) = batch.records().next() {
            first.continue_trace(&span);
        }
        loop {
            let target = BatchTarget {
                pool: &self.pool,
                projection: self.projection.as_ref(),
                schema: self.projection.name(),
                topics: &self.topics,
            };
            let outcome = batch
                .apply(target, from_beginning)
                .instrument(span.clone())
                .await;
            match outcome {
                Ok(outcome) => {
                    let stored = outcome.stored.clone();
                    self.after_batch(consumer, batch, outcome);
                    return stored;
                }
                Err(error) => {
                    tracing::warn!(parent: &span, %error, "projection batch failed; retrying");
                    tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                }
            }
        }
    }

    fn after_batch(
        &self,
        consumer: &StreamConsumer<SeekToStored>,
        batch: &Lanes,
        outcome: BatchOutcome,
    ) {
        let name = self.projection.name();
        metrics::counter!("switchboard_projection_applied_total", "projection" => name)
            .increment(outcome.applied as u64);
        metrics::counter!("switchboard_projection_skipped_total", "projection" => name)
            .increment(outcome.skipped as u64);
        for (topic, partition, offset) in &outcome.seek {
            tracing::info!(
                projection = name,
                topic,
                partition,
                ?offset,
                "seeking to the stored offset"
            );
            if let Err(error) =
                consumer.seek(topic, *partition, (*offset).into(), Duration::from_secs(5))
            {
                tracing::warn!(projection = name, %error, "seek failed; records will be skipped instead");
            }
        }
        let mut commits = TopicPartitionList::new();
        for record in batch.records() {
            if !outcome
                .seek
                .iter()
                .any(|(t, p, _)| t == &record.topic && *p == record.partition)
            {
                let _ = commits.add_partition_offset(
                    &record.topic,
                    record.partition,
                    Offset::Offset(record.offset + 1),
                );
            }
        }
        if commits.count() > 0 {
            let _ = consumer.commit(&commits, CommitMode::Async);
        }
    }

    /// Stores the log start of every partition without a stored offset, so each partition is
    /// applied from an explicit position; retried until the broker and PostgreSQL answer.
    async fn store_partition_starts(&self) {
        let names = self.projection.topics(&self.topics);
        loop {
            let stored = match partition_starts(&self.kafka, &names).await {
                Ok(starts) => store_starts(&self.pool, self.projection.name(), &starts)
                    .await
                    .map_err(ProjectionError::from),
                Err(error) => Err(error),
            };
            match stored {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(projection = self.projection.name(), %error, "cannot read the partitions' starts; retrying");
                    tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                }
            }
        }
    }

    /// The projection's stored offsets, read once at start.
    async fn load_offsets(&self) -> Result<StoredOffsets, ProjectionError> {
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(&format!(
            "SELECT topic, partition, next_offset FROM \"{}\".projection_offsets",
            self.projection.name()
        ))
        .fetch_all(&self.pool)
        .await?;
        let offsets = rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect();
        Ok(std::sync::Arc::new(std::sync::Mutex::new(offsets)))
    }

    /// Waits for one record, then takes whatever else arrives within `max_wait`.
    async fn next_batch(
        &self,
        consumer: &StreamConsumer<SeekToStored>,
    ) -> Result<Vec<ConsumedRecord>, ProjectionError> {
        let first = consumer.recv().await?;
        let mut batch = vec![to_record(&first)];
        drop(first);
        let deadline = tokio::time::Instant::now() + self.settings.max_wait;
        while batch.len() < self.settings.max_batch {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(message)) => batch.push(to_record(&message)),
                Ok(Err(error)) => return Err(error.into()),
                Err(_) => break,
            }
        }
        metrics::counter!("switchboard_kafka_consumed_total", "projection" => self.projection.name())
            .increment(batch.len() as u64);
        Ok(batch)
    }
}
