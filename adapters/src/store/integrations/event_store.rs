//! The cqrs-es event store of the Integration aggregate: events in postgres-es's `events`
//! table (rows as postgres-es writes them, so the outbox trigger and every reader see no
//! difference) and the current-state row of [`super::state`], written in one transaction.
//!
//! # Why not postgres-es's snapshots
//! cqrs-es 0.5's snapshot store (`PersistedEventStore::new_snapshot_store`, with
//! `PostgresEventRepository`) cannot serve as this row: it re-applies the new events to an
//! aggregate the `EventSink` already applied them to (the snapshot would count every event
//! twice in `Integration::version`); postgres-es commits the events before checking that its
//! snapshot `UPDATE` matched a row (a "conflict" reported after the events were committed,
//! which the retry loop would then apply a second time); and its snapshot table has no columns
//! to list a workspace by.
//!
//! # Guarantees
//! A command's events, their outbox rows (trigger), the state row and the integration's account
//! claims ([`super::accounts`]) commit in one transaction or not at all; a claim another
//! integration holds refuses the command ([`IntegrationError::AccountInUse`]). The state row is the loaded state with the new events applied, i.e. the fold
//! of events `1..=last_sequence`. A racing writer loses on the events' primary key
//! `(aggregate_type, aggregate_id, sequence)`, or on the row's `last_sequence` guard, before
//! anything commits, and is told [`AggregateError::AggregateConflict`].

use super::accounts::{self, Taken};
use super::state::{self, Replace, StateRow};
use crate::store::integrations::is_connectivity;
use crate::store::StoreError;
use cqrs_es::{
    Aggregate, AggregateContext, AggregateError, DomainEvent, EventEnvelope, EventStore,
};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::sync::Arc;
use switchboard_domain::integration::{Integration, IntegrationError, IntegrationEvent};
use switchboard_domain::ChannelCatalog;

type Failure = AggregateError<IntegrationError>;

/// Events and state rows of integrations on `pool` (migrated).
pub(crate) struct IntegrationEventStore {
    pool: PgPool,
    /// The channels' specs: which auth field an integration's account claim is read from.
    channels: Arc<dyn ChannelCatalog>,
}

impl IntegrationEventStore {
    /// A store on `pool`, claiming accounts as `channels` declare them.
    pub fn new(pool: PgPool, channels: Arc<dyn ChannelCatalog>) -> Self {
        Self { pool, channels }
    }
}

/// An integration loaded for a command.
pub(crate) struct IntegrationContext {
    aggregate_id: String,
    /// Handed to the command, which changes it.
    aggregate: Integration,
    /// As loaded: the base the new events are folded onto for the state row.
    loaded: Integration,
    /// The sequence of the last event in `loaded`.
    sequence: i64,
}

impl AggregateContext<Integration> for IntegrationContext {
    fn aggregate(&mut self) -> &mut Integration {
        &mut self.aggregate
    }
}

impl EventStore<Integration> for IntegrationEventStore {
    type AC = IntegrationContext;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<Integration>>, Failure> {
        let rows = sqlx::query(
            "SELECT sequence, payload::text AS payload, metadata::text AS metadata FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
        )
        .bind(Integration::TYPE)
        .bind(aggregate_id)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_failure)?;
        rows.into_iter()
            .map(|row| {
                let sequence: i64 = row.try_get("sequence").map_err(sql_failure)?;
                let payload: String = row.try_get("payload").map_err(sql_failure)?;
                let metadata: String = row.try_get("metadata").map_err(sql_failure)?;
                Ok(EventEnvelope {
                    aggregate_id: aggregate_id.to_owned(),
                    sequence: usize::try_from(sequence).unwrap_or_default(),
                    payload: serde_json::from_str(&payload)
                        .map_err(|e| AggregateError::DeserializationError(Box::new(e)))?,
                    metadata: serde_json::from_str(&metadata)
                        .map_err(|e| AggregateError::DeserializationError(Box::new(e)))?,
                })
            })
            .collect()
    }

    async fn load_aggregate(&self, aggregate_id: &str) -> Result<IntegrationContext, Failure> {
        let (state, sequence) = match state::read_one(&self.pool, aggregate_id).await {
            Ok(Some(folded)) => (folded.state, folded.sequence),
            Ok(None) => (Integration::default(), 0),
            Err(error) => return Err(store_failure(error)),
        };
        Ok(IntegrationContext {
            aggregate_id: aggregate_id.to_owned(),
            aggregate: state.clone(),
            loaded: state,
            sequence,
        })
    }

    async fn commit(
        &self,
        events: Vec<IntegrationEvent>,
        context: IntegrationContext,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<Integration>>, Failure> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let IntegrationContext {
            aggregate_id,
            loaded: mut next,
            sequence,
            ..
        } = context;
        let first = usize::try_from(sequence + 1).unwrap_or_default();
        let envelopes: Vec<EventEnvelope<Integration>> = events
            .into_iter()
            .zip(first..)
            .map(|(payload, sequence)| EventEnvelope {
                aggregate_id: aggregate_id.clone(),
                sequence,
                payload,
                metadata: metadata.clone(),
            })
            .collect();
        for envelope in &envelopes {
            next.apply(envelope.payload.clone());
        }
        let last = sequence + envelopes.len() as i64;
        let row = StateRow::new(&aggregate_id, last, &next).map_err(store_failure)?;
        let metadata = serde_json::to_value(&metadata)
            .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?;

        let mut tx = self.pool.begin().await.map_err(sql_failure)?;
        for envelope in &envelopes {
            let payload = serde_json::to_value(&envelope.payload)
                .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?;
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(Integration::TYPE)
            .bind(&aggregate_id)
            .bind(envelope.sequence as i64)
            .bind(envelope.payload.event_type())
            .bind(envelope.payload.event_version())
            .bind(&payload)
            .bind(&metadata)
            .execute(&mut *tx)
            .await
            .map_err(sql_failure)?;
        }
        let written = state::upsert(&mut *tx, &[row], Replace::Older)
            .await
            .map_err(sql_failure)?;
        if written.len() != 1 {
            // The row is already at or past these events: another writer got there first.
            tx.rollback().await.map_err(sql_failure)?;
            return Err(AggregateError::AggregateConflict);
        }
        let claim = accounts::claim(&next, self.channels.as_ref());
        let field = claim.as_ref().map(|c| c.field);
        accounts::replace(&mut tx, &[(aggregate_id, claim)], Taken::Refuse)
            .await
            .map_err(|error| match field {
                Some(field) if accounts::claim_refused(&error) => {
                    AggregateError::UserError(IntegrationError::AccountInUse(field.to_owned()))
                }
                _ => sql_failure(error),
            })?;
        tx.commit().await.map_err(sql_failure)?;
        Ok(envelopes)
    }
}

/// A unique violation (or a deadlock with a concurrent write-back) is a lost race; lost
/// connectivity says so; the rest is unexpected.
fn sql_failure(error: sqlx::Error) -> Failure {
    if let sqlx::Error::Database(db) = &error {
        if matches!(db.code().as_deref(), Some("23505" | "40P01")) {
            return AggregateError::AggregateConflict;
        }
    }
    if is_connectivity(&error) {
        AggregateError::DatabaseConnectionError(Box::new(error))
    } else {
        AggregateError::UnexpectedError(Box::new(error))
    }
}

fn store_failure(error: StoreError) -> Failure {
    match error {
        StoreError::Unavailable(message) => AggregateError::DatabaseConnectionError(message.into()),
        StoreError::Corrupt(message) => AggregateError::DeserializationError(message.into()),
        StoreError::Conflict(_) => AggregateError::AggregateConflict,
        StoreError::Rejected(rejected) => AggregateError::UserError(rejected),
    }
}
