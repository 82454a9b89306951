//! The completed actions the adapters remember (`action_runs`), so that a request delivered
//! again after its result was published is answered from here instead of being performed a
//! second time.
//!
//! # Guarantees
//! A completion is stored before its result is published, so any redelivery after the result
//! finds it. What remains is the window between the platform's answer and this write: a crash
//! there performs the action again, as a send would be. Failures are not stored (a redrive
//! must be able to run the action again). While PostgreSQL is unreachable nothing is found and
//! nothing stored, which is the engine's behaviour without this table; the action's own call
//! still needs the integration store, so it waits for the database anyway.

use sqlx::PgPool;
use switchboard_domain::action::{ActionId, ActionOutcome};

/// Completed actions, by id; [`ActionRuns::none`] remembers nothing (engines without a database).
#[derive(Debug, Clone, Default)]
pub struct ActionRuns {
    pool: Option<PgPool>,
}

impl ActionRuns {
    /// Completions kept in `pool`'s `action_runs` table.
    pub fn new(pool: PgPool) -> Self {
        Self { pool: Some(pool) }
    }

    /// Remembers nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// The stored outcome of `id`, if it completed before.
    pub async fn completed(&self, id: ActionId) -> Option<ActionOutcome> {
        let pool = self.pool.as_ref()?;
        let row: Result<Option<(serde_json::Value,)>, _> =
            sqlx::query_as("SELECT outcome FROM action_runs WHERE action_id = $1")
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await;
        match row {
            Ok(row) => row.and_then(|(outcome,)| serde_json::from_value(outcome).ok()),
            Err(error) => {
                tracing::warn!(%error, action_id = %id, "completed actions unreadable");
                None
            }
        }
    }

    /// Stores `outcome` as the completion of `id` (the first one stored wins).
    pub async fn record(&self, id: ActionId, outcome: &ActionOutcome) {
        let Some(pool) = &self.pool else { return };
        let Ok(outcome) = serde_json::to_value(outcome) else {
            return;
        };
        let stored = sqlx::query(
            "INSERT INTO action_runs (action_id, outcome) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_uuid())
        .bind(outcome)
        .execute(pool)
        .await;
        if let Err(error) = stored {
            tracing::warn!(%error, action_id = %id, "completed action not remembered");
        }
    }
}
