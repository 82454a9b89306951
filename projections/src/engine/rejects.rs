//! Records PostgreSQL refuses to store (a NUL character in a text, a value out of range): set
//! aside in the projection's `projection_rejects` table with the database's words, instead of
//! being retried forever and stalling every record behind them.
//!
//! # Guarantees
//! Only a *data* error (SQLSTATE class 22) rejects a record, and only once the record was tried
//! alone, so one bad record never takes its batch with it; any other failure (the database
//! being down, a deadlock) is retried. A rejected record moves its partition's stored offset
//! past it in the same transaction as its reject row, so it is rejected exactly once.

use crate::engine::apply::{store_offset, stored_offset, LOCK_KEY_SQL};
use crate::engine::projection::ProjectionError;
use sqlx::PgPool;
use switchboard_adapters::kafka::ConsumedRecord;

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
/// Returns `false`, changing nothing, when the record is not its partition's next one (it was
/// applied or rejected before).
pub async fn reject(
    pool: &PgPool,
    schema: &str,
    record: &ConsumedRecord,
    error: &str,
) -> Result<bool, ProjectionError> {
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
    if stored_offset(&mut tx, &record.topic, record.partition).await? != Some(record.offset) {
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
