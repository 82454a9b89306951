//! Rebuilding a projection from offset 0 of its topics into fresh tables, then swapping them
//! in while the live tables keep serving queries.
//!
//! # Guarantees
//! The rebuild writes schema `<name>_rebuild` with its own offsets, so an interrupted rebuild
//! resumes where it stopped. The hand-over holds the projection's advisory lock exclusively
//! (live batches hold it shared): no live batch runs while the rebuild reads up to the
//! partitions' end and renames its schema to the live name in one transaction. The live
//! consumer's next batch then finds the rebuilt tables and their offsets, skips what they
//! already hold and continues after it: no gap, no double.
//!
//! The rebuild's tables start without the indexes only queries use
//! ([`Projection::read_indexes_ddl`]); they are built once it has caught up, before the
//! hand-over, so the swapped-in tables have every index the live ones had.

use crate::engine::apply::{BatchTarget, SeekTo, LOCK_KEY_SQL};
use crate::engine::lanes::Lanes;
use crate::engine::projection::{Projection, ProjectionError};
use crate::engine::runner::ProjectorSettings;
use crate::engine::schema::{
    analyze, create_read_indexes, create_schema, live_version, vacuum_analyze, Indexes,
};
use crate::engine::starts::{partition_starts, store_starts, METADATA_TIMEOUT};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use sqlx::Executor;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};
use switchboard_adapters::kafka::lag::record_lag;
use switchboard_adapters::kafka::{to_record, ConsumedRecord, KafkaSettings, Topics};

const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// librdkafka's `max.partition.fetch.bytes` for a consumer catching up from offset 0 (unless
/// `kafka_properties` sets it): 8 MiB per partition and fetch instead of 1, so the broker is
/// asked an eighth as often and each fetch's fixed cost is spread over more records.
pub const CATCH_UP_PARTITION_FETCH_BYTES: &str = "8388608";
/// Records applied before the rebuilt tables' statistics are first refreshed; then again each
/// time the count doubles.
const FIRST_ANALYZE_AFTER: u64 = 10_000;

/// Where a rebuild stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayProgress {
    /// Records applied by this run.
    pub applied: u64,
    /// Records between the rebuild's offsets and the partitions' ends.
    pub lag: i64,
    /// Records applied per second, over this run.
    pub per_second: f64,
    /// Estimated time to catch up at that rate.
    pub eta: Option<Duration>,
    /// Whether the rebuilt tables are live now.
    pub swapped: bool,
    /// How long each part of the run took, once it is swapped in.
    pub phases: Option<ReplayPhases>,
}

/// Where a finished rebuild spent its time, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayPhases {
    /// Reading and applying up to the partitions' ends, statistics refreshes included.
    pub catch_up: Duration,
    /// Records applied in that time.
    pub caught_up_with: u64,
    /// Building the indexes only queries use.
    pub read_indexes: Duration,
    /// Vacuuming and analyzing the rebuilt tables.
    pub vacuum: Duration,
    /// Taking the exclusive lock, the records that arrived meanwhile, and the rename.
    pub hand_over: Duration,
}

impl ReplayPhases {
    /// Records applied per second while catching up.
    pub fn catch_up_per_second(&self) -> f64 {
        self.caught_up_with as f64 / self.catch_up.as_secs_f64().max(1e-3)
    }
}

/// "caught up in 12.3s (45678 events/s), read indexes 1.2s, vacuum 0.8s, hand-over 0.1s".
impl fmt::Display for ReplayPhases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "caught up in {:.1}s ({:.0} events/s), read indexes {:.1}s, vacuum {:.1}s, hand-over {:.1}s",
            self.catch_up.as_secs_f64(),
            self.catch_up_per_second(),
            self.read_indexes.as_secs_f64(),
            self.vacuum.as_secs_f64(),
            self.hand_over.as_secs_f64()
        )
    }
}

type Positions = BTreeMap<(String, i32), i64>;

/// Rebuilds `projection` and makes the result live; `report` is called about once a second.
pub async fn replay(
    pool: &PgPool,
    projection: &dyn Projection,
    kafka: &KafkaSettings,
    topics: &Topics,
    settings: &ProjectorSettings,
    mut report: impl FnMut(&ReplayProgress),
) -> Result<ReplayProgress, ProjectionError> {
    let name = projection.name();
    let rebuild = format!("{name}_rebuild");
    if live_version(pool, &rebuild)
        .await?
        .is_some_and(|v| v != projection.version())
    {
        drop_schema(pool, &rebuild).await?;
    }
    create_schema(pool, projection, &rebuild, Indexes::WritesOnly).await?;
    let group = format!("{}switchboard.replay.{name}", topics.prefix());
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "max.partition.fetch.bytes",
            kafka
                .extra
                .get("max.partition.fetch.bytes")
                .map_or(CATCH_UP_PARTITION_FETCH_BYTES, |v| v.expose()),
        )
        .create()?;
    // Metadata and watermarks come from a plain client: the stream consumer's synchronous
    // calls were seen to time out while it had not been polled yet.
    let watermarks: BaseConsumer = kafka
        .client_config()
        .set(
            "group.id",
            format!("{}switchboard.replay.{name}.watermarks", topics.prefix()),
        )
        .create()?;
    let mut positions =
        assign_from_stored(pool, kafka, &consumer, &rebuild, &projection.topics(topics)).await?;
    let target = BatchTarget {
        pool,
        projection,
        schema: &rebuild,
        topics,
    };
    let mut run = Run::new(HashSet::new());
    let mut ends = end_offsets(&watermarks, &positions)?;
    record_lags(&group, &positions, &ends);
    let mut left = lag(&positions, &ends);
    while left > 0 {
        run.step(
            target,
            &consumer,
            settings,
            &mut positions,
            ReadAhead::While(left),
        )
        .await?;
        left = lag(&positions, &ends);
        if left == 0 {
            // Caught up with the ends seen last: look again (records may have arrived since).
            ends = end_offsets(&watermarks, &positions)?;
            left = lag(&positions, &ends);
        }
        record_lags(&group, &positions, &ends);
        run.maybe_report(left, &mut report);
        run.maybe_analyze(pool, &rebuild).await?;
    }
    let catch_up = run.started.elapsed();
    let caught_up_with = run.applied;
    let indexing = Instant::now();
    create_read_indexes(pool, projection, &rebuild).await?;
    let read_indexes = indexing.elapsed();
    let vacuuming = Instant::now();
    vacuum_analyze(pool, &rebuild).await?;
    let vacuum = vacuuming.elapsed();
    let handing_over = Instant::now();
    let mut lock = pool.acquire().await?;
    advisory(&mut lock, "pg_advisory_lock", name).await?;
    let handed_over = async {
        let ends = end_offsets(&watermarks, &positions)?;
        while lag(&positions, &ends) > 0 {
            run.step(target, &consumer, settings, &mut positions, ReadAhead::No)
                .await?;
        }
        swap(&mut lock, name, &rebuild).await
    }
    .await;
    advisory(&mut lock, "pg_advisory_unlock", name).await?;
    handed_over?;
    record_lags(&group, &positions, &positions);
    let done = ReplayProgress {
        phases: Some(ReplayPhases {
            catch_up,
            caught_up_with,
            read_indexes,
            vacuum,
            hand_over: handing_over.elapsed(),
        }),
        ..run.progress(0, true)
    };
    report(&done);
    Ok(done)
}

/// Whether a step reads the next batch while it applies its own.
#[derive(Clone, Copy)]
enum ReadAhead {
    /// Only if more than the batch is left of this lag: a read with nothing left to read
    /// waits out its timeout.
    While(i64),
    /// Never (the hand-over: it reads only what arrived since the catch-up).
    No,
}

/// Throughput bookkeeping of one rebuild run, and the batch it read ahead.
struct Run {
    from_beginning: HashSet<(String, i32)>,
    /// Records read while the previous batch applied, applied next.
    ahead: Option<Vec<ConsumedRecord>>,
    started: Instant,
    last_report: Instant,
    applied: u64,
    next_analyze: u64,
}

impl Run {
    fn new(from_beginning: HashSet<(String, i32)>) -> Self {
        Self {
            from_beginning,
            ahead: None,
            started: Instant::now(),
            last_report: Instant::now(),
            applied: 0,
            next_analyze: FIRST_ANALYZE_AFTER,
        }
    }

    /// Applies the next batch (the one read ahead, if any) and, as `read_ahead` allows, reads
    /// the one after it meanwhile, so the lanes do not sit idle while a batch is read.
    /// A batch read ahead is checked against the stored offsets like any other, so a seek
    /// this batch makes only turns the records it read past into skipped ones or a gap that
    /// is sought back.
    async fn step(
        &mut self,
        target: BatchTarget<'_>,
        consumer: &StreamConsumer,
        settings: &ProjectorSettings,
        positions: &mut Positions,
        read_ahead: ReadAhead,
    ) -> Result<(), ProjectionError> {
        let records = match self.ahead.take() {
            Some(records) => records,
            None => next_batch(consumer, settings).await?,
        };
        let batch = Lanes::split(records, settings.lanes);
        if batch.is_empty() {
            return Ok(());
        }
        let applying = batch.apply(target, &self.from_beginning);
        let (outcome, ahead) = match read_ahead {
            ReadAhead::While(lag) if lag > batch.len() as i64 => {
                let (outcome, ahead) = tokio::join!(applying, next_batch(consumer, settings));
                (outcome, Some(ahead))
            }
            _ => (applying.await, None),
        };
        let outcome = outcome?;
        for record in batch.records() {
            let position = positions
                .entry((record.topic.clone(), record.partition))
                .or_default();
            *position = (*position).max(record.offset + 1);
        }
        for (topic, partition, to) in outcome.seek {
            if let SeekTo::Offset(offset) = to {
                positions.insert((topic.clone(), partition), offset);
            } else {
                self.from_beginning.insert((topic.clone(), partition));
            }
            consumer.seek(&topic, partition, to.into(), Duration::from_secs(5))?;
        }
        self.applied += outcome.applied as u64;
        self.ahead = ahead.transpose()?;
        Ok(())
    }

    fn progress(&self, lag: i64, swapped: bool) -> ReplayProgress {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let per_second = self.applied as f64 / seconds;
        let eta = (per_second > 0.0).then(|| Duration::from_secs_f64(lag as f64 / per_second));
        ReplayProgress {
            applied: self.applied,
            lag,
            per_second,
            eta,
            swapped,
            phases: None,
        }
    }

    /// Refreshes the statistics of the tables being filled as their size doubles.
    async fn maybe_analyze(&mut self, pool: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
        if self.applied >= self.next_analyze {
            self.next_analyze = self.applied * 2;
            analyze(pool, schema).await?;
        }
        Ok(())
    }

    fn maybe_report(&mut self, lag: i64, report: &mut impl FnMut(&ReplayProgress)) {
        if self.last_report.elapsed() >= PROGRESS_EVERY {
            self.last_report = Instant::now();
            report(&self.progress(lag, false));
        }
    }
}

/// Assigns every partition of `topic_names` at the rebuild's stored offset, storing the
/// log start first for the partitions it has none for; returns the positions.
async fn assign_from_stored(
    pool: &PgPool,
    kafka: &KafkaSettings,
    consumer: &StreamConsumer,
    schema: &str,
    topic_names: &[String],
) -> Result<Positions, ProjectionError> {
    let starts = partition_starts(kafka, topic_names).await?;
    store_starts(pool, schema, &starts).await?;
    let stored: Vec<(String, i32, i64)> = sqlx::query_as(&format!(
        "SELECT topic, partition, next_offset FROM \"{schema}\".projection_offsets"
    ))
    .fetch_all(pool)
    .await?;
    let mut positions = Positions::new();
    let mut assignment = TopicPartitionList::new();
    for (topic, partition, next) in stored {
        if starts
            .iter()
            .any(|((t, p), _)| *t == topic && *p == partition)
        {
            assignment.add_partition_offset(&topic, partition, Offset::Offset(next))?;
            positions.insert((topic, partition), next);
        }
    }
    consumer.assign(&assignment)?;
    Ok(positions)
}

/// The current end (high watermark) of every assigned partition.
fn end_offsets(
    watermarks: &BaseConsumer,
    positions: &Positions,
) -> Result<Positions, ProjectionError> {
    let mut ends = Positions::new();
    for (topic, partition) in positions.keys() {
        let (_, high) = tokio::task::block_in_place(|| {
            watermarks.fetch_watermarks(topic, *partition, METADATA_TIMEOUT)
        })?;
        ends.insert((topic.clone(), *partition), high);
    }
    Ok(ends)
}

fn lag(positions: &Positions, ends: &Positions) -> i64 {
    ends.iter()
        .map(|(key, end)| (end - positions.get(key).copied().unwrap_or(0)).max(0))
        .sum()
}

/// The rebuild's lag per partition as the consumer-lag gauge of its group (the rebuild
/// commits no group offsets: its positions live with its tables).
fn record_lags(group: &str, positions: &Positions, ends: &Positions) {
    for ((topic, partition), end) in ends {
        let at = positions
            .get(&(topic.clone(), *partition))
            .copied()
            .unwrap_or(0);
        record_lag(group, topic, *partition, end - at);
    }
}

/// Up to `max_batch` records, waiting at most a second for the first.
async fn next_batch(
    consumer: &StreamConsumer,
    settings: &ProjectorSettings,
) -> Result<Vec<ConsumedRecord>, ProjectionError> {
    let mut batch = Vec::new();
    let first_deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    match tokio::time::timeout_at(first_deadline, consumer.recv()).await {
        Ok(message) => batch.push(to_record(&message?)),
        Err(_) => return Ok(batch),
    }
    let deadline = tokio::time::Instant::now() + settings.max_wait;
    while batch.len() < settings.max_batch {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(message) => batch.push(to_record(&message?)),
            Err(_) => break,
        }
    }
    Ok(batch)
}

async fn advisory(conn: &mut PgConnection, function: &str, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("SELECT {function}({LOCK_KEY_SQL})"))
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// Renames the rebuilt schema to the live name, dropping the old tables, in one transaction
/// (a multi-statement simple query is one implicit transaction).
async fn swap(conn: &mut PgConnection, live: &str, rebuilt: &str) -> Result<(), ProjectionError> {
    let retired = format!("{live}_retired");
    let sql = format!(
        "DROP SCHEMA IF EXISTS \"{retired}\" CASCADE;
         ALTER SCHEMA \"{live}\" RENAME TO \"{retired}\";
         ALTER SCHEMA \"{rebuilt}\" RENAME TO \"{live}\";
         DROP SCHEMA \"{retired}\" CASCADE;"
    );
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(live)
            .fetch_one(&mut *conn)
            .await?;
    if exists {
        (&mut *conn).execute(sql.as_str()).await?;
    } else {
        let rename = format!("ALTER SCHEMA \"{rebuilt}\" RENAME TO \"{live}\"");
        (&mut *conn).execute(rename.as_str()).await?;
    }
    Ok(())
}

async fn drop_schema(pool: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_read_as_one_line_with_the_catch_up_rate() {
        let phases = ReplayPhases {
            catch_up: Duration::from_millis(12_500),
            caught_up_with: 50_000,
            read_indexes: Duration::from_millis(1_250),
            vacuum: Duration::from_millis(800),
            hand_over: Duration::from_millis(60),
        };
        assert_eq!(
            phases.to_string(),
            "caught up in 12.5s (4000 events/s), read indexes 1.2s, vacuum 0.8s, hand-over 0.1s"
        );
    }
}
