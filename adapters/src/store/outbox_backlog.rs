//! The outbox's backlog as gauges: how many rows wait to be published and how old the oldest
//! of them is. A relay that is stopped, or cannot reach the broker, shows as an age that keeps
//! rising; both fall back to 0 once the relay has caught up.

use sqlx::PgPool;

/// Rows not yet published.
pub const OUTBOX_BACKLOG: &str = "switchboard_outbox_backlog";
/// Seconds since the oldest unpublished row was recorded (0 when none waits).
pub const OUTBOX_OLDEST_AGE: &str = "switchboard_outbox_oldest_unpublished_age_seconds";

/// The backlog as sampled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    /// Rows not yet published.
    pub rows: i64,
    /// Age of the oldest of them, in seconds.
    pub oldest_age_seconds: f64,
}

/// Samples the outbox of one database.
#[derive(Clone)]
pub struct OutboxBacklog {
    pool: PgPool,
}

impl OutboxBacklog {
    /// A sampler of `pool`'s outbox.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Reads the backlog (both through the unpublished rows' partial index) and records the
    /// gauges.
    pub async fn sample(&self) -> Result<Backlog, sqlx::Error> {
        let (rows, oldest_age_seconds): (i64, Option<f64>) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL),
                    (SELECT extract(epoch FROM clock_timestamp() - recorded_at)::float8
                     FROM outbox WHERE published_at IS NULL ORDER BY position LIMIT 1)",
        )
        .fetch_one(&self.pool)
        .await?;
        let backlog = Backlog {
            rows,
            oldest_age_seconds: oldest_age_seconds.unwrap_or(0.0).max(0.0),
        };
        metrics::gauge!(OUTBOX_BACKLOG).set(backlog.rows as f64);
        metrics::gauge!(OUTBOX_OLDEST_AGE).set(backlog.oldest_age_seconds);
        Ok(backlog)
    }
}
