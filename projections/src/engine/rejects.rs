//! Records PostgreSQL refuses to store (a NUL character in a text, a value out of range): set
//! aside in the projection's `projection_rejects` table with the database's words, instead of
//! being retried forever and stalling every record behind them.
//!
//! # Guarantees
//! Only a *data* error (SQLSTATE class 22) rejects a record, and only once the record was tried
//! alone, so one bad record never takes its batch with it; any other failure (the database
//! being down, a deadlock) is retried. A rejected record moves its partition's stored offset
//! past it in the same transaction as its reject row, so it is rejected exactly once.

use crate::engine::apply::{
    apply_batch, begin_batch, store_offset, stored_offset, BatchOutcome, BatchTarget,
};
use crate::engine::projection::ProjectionError;
use sqlx::PgPool;
use std::collections::HashSet;
use switchboard_adapters::kafka::ConsumedRecord;

/// [`apply_batch`], except that when PostgreSQL refuses the batch's data the records are
/// applied one by one and each one refused is set aside ([`reject`]). Other failures are
/// returned for the caller to retry.
pub async fn apply_or_set_aside(
    target: BatchTarget<'_>,
    records: &[ConsumedRecord],
    from_beginning: &HashSet<(String, i32)>,
) -> Result<BatchOutcome, ProjectionError> {
    let name = target.projection.name();
    match apply_batch(target, records, from_beginning).await {
        Err(error) if is_refused_data(&error) => {
            tracing::warn!(projection = name, %error, "PostgreSQL refused a record of this batch; applying its records one by one");
        }
        outcome => return outcome,
    }
    let mut total = BatchOutcome::default();
    for record in records.chunks(1) {
        let outcome = match apply_batch(target, record, from_beginning).await {
            Err(refusal) if is_refused_data(&refusal) => {
                set_aside(target.pool, name, target.schema, &record[0], &refusal).await?
            }
            outcome => outcome?,
        };
        total.absorb(outcome);
    }
    Ok(total)
}

async fn set_aside(
    pool: &PgPool,
    projection: &'static str,
    schema: &str,
    record: &ConsumedRecord,
    refusal: &ProjectionError,
) -> Result<BatchOutcome, ProjectionError> {
    let mut outcome = BatchOutcome::default();
    if reject(pool, schema, record, &refusal.to_string()).await? {
        tracing::warn!(projection, topic = %record.topic, partition = record.partition, offset = record.offset, error = %refusal, "record refused by PostgreSQL set aside in projection_rejects");
        metrics::counter!("switchboard_projection_rejected_total", "projection" => projection)
            .increment(1);
        outcome
            .stored
            .push((record.topic.clone(), record.partition, record.offset + 1));
    } else {
        outcome.skipped = 1;
    }
    Ok(outcome)
}

/// Whether `error` is PostgreSQL refusing the data itself (SQLSTATE class 22), which no retry
/// can mend.
pub fn is_refused_data(error: &ProjectionError) -> bool {
    match error {
        ProjectionError::Database(sqlx::Error::Database(db)) => {
            db.code().is_some_and(|code| code.starts_with("22"))
        }
        _ => false,
    }
}

/// Sets `record` aside in schema `schema` with `error`, and moves its partition past it.
/// Returns `false`, changing nothing, when the partition's stored offset is another (the record
/// was applied or rejected before); a partition with none yet starts at this record.
async fn reject(
    pool: &PgPool,
    schema: &str,
    record: &ConsumedRecord,
    error: &str,
) -> Result<bool, ProjectionError> {
    let mut tx = begin_batch(pool, schema).await?;
    let stored = stored_offset(&mut tx, &record.topic, record.partition).await?;
    if stored.is_some_and(|next| next != record.offset) {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO projection_rejects (topic, partition, \"offset\", event_id, error)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&record.topic)
    .bind(record.partition)
    .bind(record.offset)
    .bind(record.event.as_ref().map(|e| e.id.to_string()))
    .bind(error)
    .execute(&mut *tx)
    .await?;
    store_offset(&mut tx, &record.topic, record.partition, record.offset + 1).await?;
    tx.commit().await?;
    Ok(true)
}
