//! The Integration aggregate on PostgreSQL: commands through cqrs-es with bounded retries on
//! optimistic-lock conflicts, and consistent reads folded straight from the event table.
//!
//! # Guarantees
//! A command's events, and their outbox rows (written by a trigger), commit in one transaction
//! or not at all. Two commands racing on one integration never lose an event: the loser sees
//! a conflict on `(aggregate_type, aggregate_id, sequence)`, reloads and decides again.

use cqrs_es::{Aggregate, AggregateError};
use postgres_es::{postgres_cqrs, PostgresCqrs};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::integration::{
    Integration, IntegrationCommand, IntegrationError, IntegrationEvent, IntegrationServices,
    IntegrationStatus,
};
use switchboard_domain::{ChannelKind, IntegrationId, WorkspaceId};

/// How many times a command is re-decided after losing a race before the caller is told.
pub const DEFAULT_CONFLICT_RETRIES: u32 = 24;
/// Upper bound of the random pause before a retry, so racing writers spread out.
const CONFLICT_JITTER_MAX: Duration = Duration::from_millis(20);

/// Who asked and within which trace, recorded in every event's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandMetadata {
    /// The HTTP request id.
    pub request_id: Option<String>,
    /// The caller (API key name, `adapter:<channel>`, …).
    pub actor: Option<String>,
    /// W3C trace context of the request, carried on to Kafka by the outbox relay.
    pub traceparent: Option<String>,
}

impl CommandMetadata {
    fn into_map(self) -> HashMap<String, String> {
        [
            ("request_id", self.request_id),
            ("actor", self.actor),
            ("traceparent", self.traceparent),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| (key.to_owned(), v)))
        .collect()
    }
}

/// Why a command or a read did not complete.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The aggregate refused the command.
    #[error(transparent)]
    Rejected(#[from] IntegrationError),
    /// Concurrent commands kept winning the race.
    #[error("the integration kept changing concurrently ({0} attempts)")]
    Conflict(u32),
    /// PostgreSQL could not be reached or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored events could not be read back.
    #[error("stored events are unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the same call may succeed later without change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict(_) | Self::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_connectivity(&error) {
            Self::Unavailable(error.to_string())
        } else {
            Self::Corrupt(error.to_string())
        }
    }
}

/// Whether a sqlx error means "the database is not reachable", as opposed to a bad query.
pub fn is_connectivity(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
    )
}

/// Commands and reads for integrations.
#[derive(Clone)]
pub struct IntegrationStore {
    cqrs: Arc<PostgresCqrs<Integration>>,
    pool: PgPool,
    conflict_retries: u32,
}

impl IntegrationStore {
    /// A store on `pool` (migrated) with the aggregate's services.
    pub fn new(pool: PgPool, services: IntegrationServices) -> Self {
        let cqrs = Arc::new(postgres_cqrs(pool.clone(), vec![], services));
        Self {
            cqrs,
            pool,
            conflict_retries: DEFAULT_CONFLICT_RETRIES,
        }
    }

    /// Runs a command, re-deciding it after a lost race up to the retry bound.
    pub async fn execute(
        &self,
        id: IntegrationId,
        command: IntegrationCommand,
        metadata: CommandMetadata,
    ) -> Result<(), StoreError> {
        let metadata = metadata.into_map();
        let aggregate_id = id.to_string();
        let name = command.name();
        for attempt in 1..=self.conflict_retries {
            let outcome = self
                .cqrs
                .execute_with_metadata(&aggregate_id, command.clone(), metadata.clone())
                .await;
            match outcome {
                Ok(()) => {
                    tracing::info!(integration_id = %id, command = name, attempt, "integration command committed");
                    return Ok(());
                }
                Err(AggregateError::AggregateConflict) => {
                    metrics::counter!("switchboard_aggregate_conflicts_total").increment(1);
                    tracing::debug!(attempt, integration_id = %id, "aggregate conflict, retrying");
                    let jitter = rand::random::<f64>() * CONFLICT_JITTER_MAX.as_secs_f64();
                    tokio::time::sleep(Duration::from_secs_f64(jitter)).await;
                }
                Err(error) => {
                    let error = classify(error);
                    tracing::info!(integration_id = %id, command = name, %error, "integration command refused");
                    return Err(error);
                }
            }
        }
        Err(StoreError::Conflict(self.conflict_retries))
    }

    /// The current state of one integration, `None` when it never existed.
    pub async fn load(&self, id: IntegrationId) -> Result<Option<Integration>, StoreError> {
        let rows = sqlx::query(
            "SELECT aggregate_id, payload::text AS payload FROM events
             WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
        )
        .bind(Integration::TYPE)
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(fold(rows)?.into_iter().next())
    }

    /// The live (not deleted) integrations of a workspace, optionally of one channel, oldest first.
    pub async fn list(
        &self,
        workspace: &WorkspaceId,
        channel: Option<&ChannelKind>,
    ) -> Result<Vec<Integration>, StoreError> {
        let rows = sqlx::query(
            "SELECT aggregate_id, payload::text AS payload FROM events
             WHERE aggregate_type = $1 AND aggregate_id IN (
                 SELECT aggregate_id FROM events
                 WHERE aggregate_type = $1 AND event_type = 'IntegrationCreated'
                   AND payload->>'workspace_id' = $2
                   AND ($3::text IS NULL OR payload->>'channel' = $3))
             ORDER BY aggregate_id, sequence",
        )
        .bind(Integration::TYPE)
        .bind(workspace.as_str())
        .bind(channel.map(ChannelKind::as_str))
        .fetch_all(&self.pool)
        .await?;
        let mut integrations: Vec<Integration> = fold(rows)?
            .into_iter()
            .filter(|i| i.status != IntegrationStatus::Deleted)
            .collect();
        integrations.sort_by_key(|i| (i.created_at, i.integration_id));
        Ok(integrations)
    }
}

/// Folds rows ordered by (aggregate id, sequence) into one state per aggregate.
fn fold(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<Integration>, StoreError> {
    let mut states: Vec<(String, Integration)> = Vec::new();
    for row in rows {
        let aggregate_id: String = row.try_get("aggregate_id")?;
        let payload: String = row.try_get("payload")?;
        let event: IntegrationEvent =
            serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if states.last().is_none_or(|(id, _)| id != &aggregate_id) {
            states.push((aggregate_id, Integration::default()));
        }
        if let Some((_, state)) = states.last_mut() {
            state.apply(event);
        }
    }
    Ok(states.into_iter().map(|(_, state)| state).collect())
}

fn classify(error: AggregateError<IntegrationError>) -> StoreError {
    match error {
        AggregateError::UserError(rejected) => StoreError::Rejected(rejected),
        AggregateError::AggregateConflict => StoreError::Conflict(1),
        AggregateError::DatabaseConnectionError(e) => StoreError::Unavailable(e.to_string()),
        AggregateError::DeserializationError(e) => StoreError::Corrupt(e.to_string()),
        AggregateError::UnexpectedError(e) => match e.downcast_ref::<sqlx::Error>() {
            Some(sql) if is_connectivity(sql) => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Corrupt(e.to_string()),
        },
    }
}
