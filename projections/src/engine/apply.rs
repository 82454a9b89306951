//! One batch of records applied to a projection's tables together with its offsets.
//!
//! # Guarantees
//! Rows and the next offset of every partition commit in one PostgreSQL transaction, so a
//! crash at any point leaves tables and offsets consistent: the records after the stored
//! offset are applied on restart, the ones before it are never applied again. Records below
//! the stored offset (a redelivery after a crash, a rebalance, or a hand-over from a rebuild)
//! are skipped; records above it (a gap) are not applied and their partition is sought back.

use crate::engine::projection::{Projection, ProjectionError};
use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use switchboard_adapters::kafka::{ConsumedRecord, Topics};

/// The advisory lock of projection schema `$1`: live batches hold it shared, a rebuild's
/// hand-over exclusively (see `replay.rs`). One definition, so the two can never drift apart.
pub const LOCK_KEY_SQL: &str = "hashtext('switchboard.projection.' || $1)";

/// Where batches of a projection are applied: its pool, its code, the schema holding its
/// tables (also the advisory lock's name), and its topics' names.
#[derive(Clone, Copy)]
pub struct BatchTarget<'a> {
    /// The database.
    pub pool: &'a PgPool,
    /// The projection's code.
    pub projection: &'a dyn Projection,
    /// The schema written: the live one, or the rebuild's.
    pub schema: &'a str,
    /// The topic names, to tell records apart.
    pub topics: &'a Topics,
}

/// What a batch did, and where its partitions must be read from next when that is not simply
/// "after the last record".
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Records applied now.
    pub applied: usize,
    /// Records skipped because they were applied before.
    pub skipped: usize,
    /// Partitions to seek: (topic, partition, where).
    pub seek: Vec<(String, i32, SeekTo)>,
    /// The next offset stored for each partition the batch advanced.
    pub stored: Vec<(String, i32, i64)>,
}

impl BatchOutcome {
    /// Adds what `other`, a part of the same batch, did.
    pub fn absorb(&mut self, other: BatchOutcome) {
        self.applied += other.applied;
        self.skipped += other.skipped;
        self.seek.extend(other.seek);
        self.stored.extend(other.stored);
    }
}

/// Where a partition must be read from next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTo {
    /// The stored next offset.
    Offset(i64),
    /// Its first record: nothing of it was ever applied.
    Beginning,
}

impl From<SeekTo> for rdkafka::Offset {
    fn from(seek: SeekTo) -> Self {
        match seek {
            SeekTo::Offset(offset) => rdkafka::Offset::Offset(offset),
            SeekTo::Beginning => rdkafka::Offset::Beginning,
        }
    }
}

/// Applies `records` to the projection's tables in schema `schema`, with their offsets.
///
/// `schema` is also the advisory lock the batch holds (shared): a rebuild takes it exclusively
/// to hand over, so no live batch straddles the swap. A partition with no stored offset is
/// read from its beginning: its records are applied only once it was sought there (it is in
/// `from_beginning`), never from wherever a consumer group happened to stand.
///
/// The future is boxed and `Send` so that callers spawned on the runtime stay `Send` (the
/// compiler cannot prove it through sqlx's higher-ranked executor bounds otherwise).
pub fn apply_batch<'a>(
    target: BatchTarget<'a>,
    records: &'a [ConsumedRecord],
    from_beginning: &'a HashSet<(String, i32)>,
) -> BoxFuture<'a, Result<BatchOutcome, ProjectionError>> {
    Box::pin(apply_batch_inner(target, records, from_beginning))
}

async fn apply_batch_inner(
    target: BatchTarget<'_>,
    records: &[ConsumedRecord],
    from_beginning: &HashSet<(String, i32)>,
) -> Result<BatchOutcome, ProjectionError> {
    let BatchTarget {
        pool,
        projection,
        schema,
        topics,
    } = target;
    let mut tx = begin_batch(pool, schema).await?;
    let mut outcome = BatchOutcome::default();
    let mut accepted = vec![false; records.len()];
    let mut next_offsets = BTreeMap::new();
    for ((topic, partition), mine) in by_partition(records) {
        let stored = stored_offset(&mut tx, &topic, partition).await?;
        let key = (topic.clone(), partition);
        let expected = match stored {
            Some(next) => next,
            None if from_beginning.contains(&key) => records[mine[0]].offset,
            None => {
                outcome.skipped += mine.len();
                outcome.seek.push((topic, partition, SeekTo::Beginning));
                continue;
            }
        };
        let fresh: Vec<usize> = mine
            .iter()
            .copied()
            .filter(|&i| records[i].offset >= expected)
            .collect();
        outcome.skipped += mine.len() - fresh.len();
        match fresh.first() {
            Some(&first) if records[first].offset == expected => {
                let last = fresh.last().map_or(expected, |&i| records[i].offset);
                next_offsets.insert((topic, partition), last + 1);
                fresh.iter().for_each(|&i| accepted[i] = true);
            }
            _ => outcome
                .seek
                .push((topic, partition, SeekTo::Offset(expected))),
        }
    }
    // Usually every record is new: no copy then.
    let owned: Cow<'_, [ConsumedRecord]> = if accepted.iter().all(|&ok| ok) {
        Cow::Borrowed(records)
    } else {
        let new = records.iter().zip(&accepted).filter(|(_, &ok)| ok);
        Cow::Owned(new.map(|(r, _)| r.clone()).collect())
    };
    if !owned.is_empty() {
        projection.apply(&mut tx, topics, &owned).await?;
    }
    for ((topic, partition), next) in next_offsets {
        store_offset(&mut tx, &topic, partition, next).await?;
        outcome.stored.push((topic, partition, next));
    }
    tx.commit().await?;
    outcome.applied = owned.len();
    Ok(outcome)
}

/// A transaction on schema `schema` (first on the `search_path`) holding the projection's
/// advisory lock shared, as every write of a live batch or a rebuild does.
pub async fn begin_batch<'a>(
    pool: &'a PgPool,
    schema: &str,
) -> Result<sqlx::Transaction<'a, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("SET LOCAL search_path TO \"{schema}\", public"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "SELECT pg_advisory_xact_lock_shared({LOCK_KEY_SQL})"
    ))
    .bind(schema)
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// The indices of each partition's records, in offset order, without repeated offsets.
fn by_partition(records: &[ConsumedRecord]) -> BTreeMap<(String, i32), Vec<usize>> {
    let mut groups: BTreeMap<(String, i32), Vec<usize>> = BTreeMap::new();
    for (index, record) in records.iter().enumerate() {
        groups
            .entry((record.topic.clone(), record.partition))
            .or_default()
            .push(index);
    }
    for group in groups.values_mut() {
        group.sort_by_key(|&i| records[i].offset);
        group.dedup_by_key(|i| records[*i].offset);
    }
    groups
}

/// The next offset to apply for a partition, locked until the transaction ends.
pub async fn stored_offset(
    tx: &mut PgConnection,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT next_offset FROM projection_offsets WHERE topic = $1 AND partition = $2 FOR UPDATE",
    )
    .bind(topic)
    .bind(partition)
    .fetch_optional(tx)
    .await
}

/// Stores the next offset of a partition (in the caller's transaction).
pub async fn store_offset(
    tx: &mut PgConnection,
    topic: &str,
    partition: i32,
    next: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_offsets (topic, partition, next_offset) VALUES ($1, $2, $3)
         ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
    )
    .bind(topic)
    .bind(partition)
    .bind(next)
    .execute(tx)
    .await?;
    Ok(())
}
