//! The outbox relay: publishes the event store's outbox rows to Kafka, in position order.
//!
//! # Guarantees
//! At-least-once, in order per aggregate. A row is marked published only after the broker
//! acknowledged it; a crash between the acknowledgement and the mark publishes the row again
//! on restart with the same CloudEvents id (UUIDv5 of aggregate type, id and sequence), so
//! consumers de-duplicate on `ce_id`. Only one relay publishes at a time (a transaction-scoped
//! advisory lock), so several replicas may run it safely. Rows are selected as *unpublished*
//! rather than *after a high-water mark*, so a row whose transaction committed late is not
//! skipped; per-aggregate order holds because one aggregate's events commit one at a time.

use crate::kafka::{CloudEvent, EventProducer, OutgoingRecord, PublishError};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row};
use std::future::Future;
use std::time::Duration;

/// Advisory lock key held by the active relay ("sboutbox" in ASCII).
pub const RELAY_LOCK_KEY: i64 = 0x7362_6f75_7462_6f78;
/// The channel the outbox trigger notifies.
const NOTIFY_CHANNEL: &str = "switchboard_outbox";
/// How long an idle relay waits for a notification before it looks anyway.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Pause after a failed batch (broker or database down).
const FAILURE_BACKOFF: Duration = Duration::from_secs(1);

/// Why a batch was not (fully) published.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// PostgreSQL failed.
    #[error("outbox database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The broker did not acknowledge a record; it and the rows after it stay unpublished.
    #[error("publishing an outbox row failed: {0}")]
    Publish(#[from] PublishError),
}

/// Publishes outbox rows to one topic.
pub struct OutboxRelay {
    pool: PgPool,
    producer: EventProducer,
    topic: String,
    batch_size: i64,
}

impl OutboxRelay {
    /// A relay from `pool`'s outbox to `topic`.
    pub fn new(pool: PgPool, producer: EventProducer, topic: impl Into<String>) -> Self {
        Self {
            pool,
            producer,
            topic: topic.into(),
            batch_size: 500,
        }
    }

    /// Publishes until `shutdown` resolves, waking on the trigger's notifications.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut listener = None;
        loop {
            if listener.is_none() {
                listener = self.listen().await;
            }
            let wait = match self.publish_batch().await {
                Ok(count) if count as i64 == self.batch_size => Duration::ZERO,
                Ok(_) => IDLE_POLL,
                Err(error) => {
                    tracing::warn!(%error, "outbox relay batch failed");
                    FAILURE_BACKOFF
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                woke = wait_for_notification(&mut listener, wait) => if !woke { listener = None },
            }
        }
    }

    /// Publishes one batch of unpublished rows and marks the acknowledged ones. Returns how
    /// many rows were published (0 when another relay holds the lock).
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        let mut tx = self.pool.begin().await?;
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(RELAY_LOCK_KEY)
            .fetch_one(&mut *tx)
            .await?;
        if !leader {
            return Ok(0);
        }
        let rows = sqlx::query(
            "SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version,
                    payload::text AS payload, metadata->>'traceparent' AS traceparent,
                    metadata->>'actor' AS actor, recorded_at
             FROM outbox WHERE published_at IS NULL ORDER BY position LIMIT $1",
        )
        .bind(self.batch_size)
        .fetch_all(&mut *tx)
        .await?;
        let mut positions = Vec::with_capacity(rows.len());
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            positions.push(row.try_get::<i64, _>("position")?);
            records.push(self.record_for(row)?);
        }
        let outcomes = self.producer.publish_all(&records).await;
        let acked = outcomes.iter().take_while(|o| o.is_ok()).count();
        sqlx::query("UPDATE outbox SET published_at = clock_timestamp() WHERE position = ANY($1)")
            .bind(&positions[..acked])
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        metrics::counter!("switchboard_outbox_published_total").increment(acked as u64);
        match outcomes.into_iter().find_map(Result::err) {
            Some(error) => Err(error.into()),
            None => Ok(acked),
        }
    }

    /// How many rows wait to be published.
    pub async fn backlog(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&self.pool)
            .await
    }

    fn record_for(&self, row: &sqlx::postgres::PgRow) -> Result<OutgoingRecord, sqlx::Error> {
        let aggregate_type: String = row.try_get("aggregate_type")?;
        let aggregate_id: String = row.try_get("aggregate_id")?;
        let sequence: i64 = row.try_get("sequence")?;
        let event_type: String = row.try_get("event_type")?;
        let version: String = row.try_get("event_version")?;
        let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
        let payload: String = row.try_get("payload")?;
        let noun = aggregate_type.to_lowercase();
        let event = CloudEvent {
            id: CloudEvent::id_for(&[&aggregate_type, &aggregate_id, &sequence.to_string()]),
            event_type: format!("switchboard.{noun}.{event_type}.v{version}"),
            source: format!("switchboard/{noun}s"),
            subject: Some(aggregate_id.clone()),
            time: recorded_at,
            sequence: u64::try_from(sequence).ok(),
            actor: row.try_get("actor")?,
        };
        Ok(OutgoingRecord {
            topic: self.topic.clone(),
            key: aggregate_id,
            event,
            body: payload.into_bytes(),
            traceparent: row.try_get("traceparent")?,
        })
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await.ok()?;
        listener.listen(NOTIFY_CHANNEL).await.ok()?;
        Some(listener)
    }
}

/// Waits for a notification or `timeout`; `false` when the listener broke and must be rebuilt.
async fn wait_for_notification(listener: &mut Option<PgListener>, timeout: Duration) -> bool {
    let Some(active) = listener else {
        tokio::time::sleep(timeout).await;
        return false;
    };
    match tokio::time::timeout(timeout, active.recv()).await {
        Ok(Ok(_)) | Err(_) => true,
        Ok(Err(_)) => false,
    }
}
