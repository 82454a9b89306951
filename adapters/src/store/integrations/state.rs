//! The `integration_states` table (migration 0004): one row per integration holding its
//! aggregate folded from its events, with plain copies of the fields lookups filter on
//! (workspace, channel, status, creation time).
//!
//! # How a read is answered
//! One statement reads the row and the events after its `last_sequence`, and applies those on
//! top. Normally there are none: [`super::event_store`] writes the row in the transaction that
//! appends the events. Events after the row come from a process that predates the table (a
//! rolling deploy). When there is no row (an integration created before the migration) or its
//! `state` no longer deserializes (the `Integration` struct changed), the whole history is
//! folded instead, as before the table existed; [`backfill`] writes such a fold back so the
//! next read is a row read again.
//!
//! # Why a write-back is safe
//! A row is a fold of events `1..=last_sequence`, and events never change, so two writers of
//! the same `last_sequence` write the same state. Every write is guarded by `last_sequence`:
//! a command's write must be newer than the row, a backfill's must not be older, so a
//! backfill racing a command can never put back an older state.

use super::accounts::{self, Claim, Taken};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, PgPool, Row};
use switchboard_domain::integration::{Integration, IntegrationEvent};
use switchboard_domain::{ChannelCatalog, ChannelKind, WorkspaceId};

/// An integration's state as read, and whether its row should be written back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Folded {
    /// The aggregate id (`events.aggregate_id`).
    pub aggregate_id: String,
    /// The state after every event read.
    pub state: Integration,
    /// The sequence of the last event in `state` (0 when it has none).
    pub sequence: i64,
    /// Whether the row is missing, unreadable or older than `state`.
    pub row_behind: bool,
}

/// Which rows a write may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    /// Only rows of a lower `last_sequence`: a command's write, whose events were just appended.
    Older,
    /// Rows of a lower or equal `last_sequence`: a backfill (equal replaces an unreadable row
    /// with the same fold).
    NotNewer,
}

/// A row ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct StateRow {
    aggregate_id: String,
    last_sequence: i64,
    workspace_id: String,
    channel: String,
    status: String,
    created_at: DateTime<Utc>,
    state: String,
}

impl StateRow {
    /// The row of `state` folded up to `last_sequence`; an error when `state` was never created
    /// (a row always describes an existing integration).
    pub fn new(
        aggregate_id: &str,
        last_sequence: i64,
        state: &Integration,
    ) -> Result<Self, StoreError> {
        let (Some(workspace_id), Some(channel), Some(created_at)) =
            (&state.workspace_id, &state.channel, state.created_at)
        else {
            return Err(StoreError::Corrupt(format!(
                "integration {aggregate_id} has events but no creation"
            )));
        };
        let status = match serde_json::to_value(state.status) {
            Ok(serde_json::Value::String(status)) => status,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "status serialized as {other:?}"
                )))
            }
        };
        let serialized =
            serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Self {
            aggregate_id: aggregate_id.to_owned(),
            last_sequence,
            workspace_id: workspace_id.as_str().to_owned(),
            channel: channel.as_str().to_owned(),
            status,
            created_at,
            state: serialized,
        })
    }
}

const UPSERT: &str = "
INSERT INTO integration_states
    (aggregate_id, last_sequence, workspace_id, channel, status, created_at, state)
SELECT a, s, w, c, st, ca, j::json
  FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
              $7::text[]) AS t(a, s, w, c, st, ca, j)
ON CONFLICT (aggregate_id) DO UPDATE SET
    last_sequence = EXCLUDED.last_sequence,
    workspace_id  = EXCLUDED.workspace_id,
    channel       = EXCLUDED.channel,
    status        = EXCLUDED.status,
    created_at    = EXCLUDED.created_at,
    state         = EXCLUDED.state,
    written_at    = now()";

/// Writes `rows` where `replace` allows; the aggregate ids of those written.
pub(crate) async fn upsert<'e>(
    executor: impl PgExecutor<'e>,
    rows: &[StateRow],
    replace: Replace,
) -> Result<Vec<String>, sqlx::Error> {
    let guard = match replace {
        Replace::Older => "\nWHERE integration_states.last_sequence < EXCLUDED.last_sequence",
        Replace::NotNewer => "\nWHERE integration_states.last_sequence <= EXCLUDED.last_sequence",
    };
    let column = |f: fn(&StateRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query_scalar(&format!(
        "{UPSERT}{guard}\nRETURNING integration_states.aggregate_id"
    ))
    .bind(column(|r| r.aggregate_id.clone()))
    .bind(rows.iter().map(|r| r.last_sequence).collect::<Vec<_>>())
    .bind(column(|r| r.workspace_id.clone()))
    .bind(column(|r| r.channel.clone()))
    .bind(column(|r| r.status.clone()))
    .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .bind(column(|r| r.state.clone()))
    .fetch_all(executor)
    .await
}

/// One integration: its row and the events after it, `None` when it has neither.
pub(crate) async fn read_one(
    pool: &PgPool,
    aggregate_id: &str,
) -> Result<Option<Folded>, StoreError> {
    let rows = sqlx::query(
        "SELECT aggregate_id, 0 AS part, last_sequence AS sequence, state::text AS payload
           FROM integration_states WHERE aggregate_id = $2
         UNION ALL
         SELECT aggregate_id, 1, sequence, payload::text FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2
            AND sequence > COALESCE(
                (SELECT last_sequence FROM integration_states WHERE aggregate_id = $2), 0)
         ORDER BY part, sequence",
    )
    .bind(Integration::TYPE)
    .bind(aggregate_id)
    .fetch_all(pool)
    .await?;
    Ok(complete(pool, fold(rows)?).await?.into_iter().next())
}

/// Every integration of `workspace` (of `channel`, when given) that is not deleted according
/// to its row, in no particular order. Deleted ones may still appear (deleted by a later event
/// than the row's, or without a row): the caller filters on the folded status.
pub(crate) async fn read_workspace(
    pool: &PgPool,
    workspace: &WorkspaceId,
    channel: Option<&ChannelKind>,
) -> Result<Vec<Folded>, StoreError> {
    // `deleted` is final, so a row saying so needs no further look. Integrations without a row
    // are found by their creation event (index `events_integration_created_by_workspace`).
    let rows = sqlx::query(
        "WITH live AS (
             SELECT aggregate_id, last_sequence, state FROM integration_states
              WHERE workspace_id = $2 AND ($3::text IS NULL OR channel = $3)
                AND status <> 'deleted'),
         rowless AS (
             SELECT c.aggregate_id FROM events c
              WHERE c.aggregate_type = $1 AND c.event_type = 'IntegrationCreated'
                AND c.payload ->> 'workspace_id' = $2
                AND ($3::text IS NULL OR c.payload ->> 'channel' = $3)
                AND NOT EXISTS (SELECT 1 FROM integration_states s
                                 WHERE s.aggregate_id = c.aggregate_id))
         SELECT aggregate_id, 0 AS part, last_sequence AS sequence, state::text AS payload
           FROM live
         UNION ALL
         SELECT e.aggregate_id, 1, e.sequence, e.payload::text
           FROM live JOIN events e ON e.aggregate_type = $1
                                  AND e.aggregate_id = live.aggregate_id
                                  AND e.sequence > live.last_sequence
         UNION ALL
         SELECT e.aggregate_id, 1, e.sequence, e.payload::text
           FROM rowless JOIN events e ON e.aggregate_type = $1
                                     AND e.aggregate_id = rowless.aggregate_id
         ORDER BY aggregate_id, part, sequence",
    )
    .bind(Integration::TYPE)
    .bind(workspace.as_str())
    .bind(channel.map(ChannelKind::as_str))
    .fetch_all(pool)
    .await?;
    complete(pool, fold(rows)?).await
}

/// Writes back the folds whose row is behind, with their account claims in the same
/// transaction (see [`super::accounts`]; a claim another integration holds is left to it).
/// Best effort: a failure is logged, the read stands. How many rows were written.
pub(crate) async fn backfill(
    pool: &PgPool,
    folds: &[Folded],
    channels: &dyn ChannelCatalog,
) -> u64 {
    let behind: Vec<&Folded> = folds
        .iter()
        .filter(|f| f.row_behind && f.sequence > 0)
        .collect();
    let rows: Vec<StateRow> = behind
        .iter()
        .filter_map(|f| StateRow::new(&f.aggregate_id, f.sequence, &f.state).ok())
        .collect();
    if rows.is_empty() {
        return 0;
    }
    let write = async {
        let mut tx = pool.begin().await?;
        let written = upsert(&mut *tx, &rows, Replace::NotNewer).await?;
        let claims: Vec<(String, Option<Claim>)> = behind
            .iter()
            .filter(|f| written.contains(&f.aggregate_id))
            .map(|f| (f.aggregate_id.clone(), accounts::claim(&f.state, channels)))
            .collect();
        accounts::replace(&mut tx, &claims, Taken::Skip).await?;
        tx.commit().await?;
        Ok::<u64, sqlx::Error>(written.len() as u64)
    };
    match write.await {
        Ok(written) => {
            tracing::debug!(written, "integration state rows backfilled");
            written
        }
        Err(error) => {
            tracing::warn!(%error, "cannot backfill integration state rows");
            0
        }
    }
}

/// A fold in progress: `None` state when the row did not deserialize.
struct Partial {
    aggregate_id: String,
    state: Option<Integration>,
    sequence: i64,
    row_sequence: Option<i64>,
}

/// Folds rows ordered by (aggregate id, part, sequence): part 0 is a state row, part 1 an
/// event to apply on top.
fn fold(rows: Vec<PgRow>) -> Result<Vec<Partial>, StoreError> {
    let mut folds: Vec<Partial> = Vec::new();
    for row in rows {
        let aggregate_id: String = row.try_get("aggregate_id")?;
        let part: i32 = row.try_get("part")?;
        let sequence: i64 = row.try_get("sequence")?;
        let payload: String = row.try_get("payload")?;
        if folds.last().is_none_or(|f| f.aggregate_id != aggregate_id) {
            folds.push(Partial {
                aggregate_id,
                state: Some(Integration::default()),
                sequence: 0,
                row_sequence: None,
            });
        }
        let Some(fold) = folds.last_mut() else {
            continue;
        };
        if part == 0 {
            fold.row_sequence = Some(sequence);
            fold.sequence = sequence;
            fold.state = match serde_json::from_str::<Integration>(&payload) {
                Ok(state) => Some(state),
                Err(error) => {
                    tracing::warn!(aggregate_id = %fold.aggregate_id, %error,
                        "integration state row unreadable, folding its events");
                    None
                }
            };
        } else if let Some(state) = fold.state.as_mut() {
            let event: IntegrationEvent =
                serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            state.apply(event);
            fold.sequence = sequence;
        }
    }
    Ok(folds)
}

/// Finishes `folds`: those whose row did not deserialize are folded from their first event.
async fn complete(pool: &PgPool, folds: Vec<Partial>) -> Result<Vec<Folded>, StoreError> {
    let unreadable: Vec<String> = folds
        .iter()
        .filter(|f| f.state.is_none())
        .map(|f| f.aggregate_id.clone())
        .collect();
    let mut refolded = if unreadable.is_empty() {
        Vec::new()
    } else {
        let rows = sqlx::query(
            "SELECT aggregate_id, 1 AS part, sequence, payload::text AS payload FROM events
              WHERE aggregate_type = $1 AND aggregate_id = ANY($2)
              ORDER BY aggregate_id, sequence",
        )
        .bind(Integration::TYPE)
        .bind(&unreadable)
        .fetch_all(pool)
        .await?;
        fold(rows)?
    };
    Ok(folds
        .into_iter()
        .filter_map(|partial| {
            let row_unreadable = partial.state.is_none();
            let (state, sequence) = match partial.state {
                Some(state) => (state, partial.sequence),
                None => {
                    let at = refolded
                        .iter()
                        .position(|r| r.aggregate_id == partial.aggregate_id)?;
                    let refold = refolded.swap_remove(at);
                    (refold.state?, refold.sequence)
                }
            };
            (sequence > 0).then(|| Folded {
                row_behind: row_unreadable || partial.row_sequence.is_none_or(|row| row < sequence),
                aggregate_id: partial.aggregate_id,
                state,
                sequence,
            })
        })
        .collect())
}
