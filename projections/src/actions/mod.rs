//! The actions read model: one row per requested action with its status (`requested`,
//! `completed`, `failed`), output or failure, for `GET /v1/workspaces/{ws}/actions/{id}`.
//! Built from `actions.requested` and `actions.results`.
//!
//! The two topics are not ordered with each other, so a result may be applied before its
//! request: each creates the row if it is missing, a request never changes an existing row,
//! and a result never replaces a completion (a redriven action may fail once, then complete).
//! Applying the same record again changes nothing.

use crate::engine::{Projection, ProjectionError};
use async_trait::async_trait;
use sqlx::PgConnection;
use switchboard_adapters::kafka::{ConsumedRecord, Topics};
use switchboard_domain::action::{ActionOutcome, ActionRequested, ActionResult};

/// The actions projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct ActionsProjection;

#[async_trait]
impl Projection for ActionsProjection {
    fn name(&self) -> &'static str {
        "actions"
    }

    fn version(&self) -> i32 {
        1
    }

    fn topics(&self, topics: &Topics) -> Vec<String> {
        vec![
            topics.actions_requested.clone(),
            topics.action_results.clone(),
        ]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        topics: &Topics,
        records: &[ConsumedRecord],
    ) -> Result<(), ProjectionError> {
        for record in records {
            if record.topic == topics.actions_requested {
                match serde_json::from_slice::<ActionRequested>(&record.payload) {
                    Ok(request) => requested(tx, &request).await?,
                    Err(error) => {
                        tracing::warn!(offset = record.offset, %error, "unreadable action request skipped")
                    }
                }
            } else {
                match serde_json::from_slice::<ActionResult>(&record.payload) {
                    Ok(result) => finished(tx, &result).await?,
                    Err(error) => {
                        tracing::warn!(offset = record.offset, %error, "unreadable action result skipped")
                    }
                }
            }
        }
        Ok(())
    }
}

async fn requested(tx: &mut PgConnection, request: &ActionRequested) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO actions (action_id, workspace_id, integration_id, channel, action, status, requested_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'requested', $6, $6)
         ON CONFLICT (action_id) DO UPDATE SET requested_at = COALESCE(actions.requested_at, EXCLUDED.requested_at)",
    )
    .bind(request.action_id.as_uuid())
    .bind(request.workspace_id.as_str())
    .bind(request.integration_id.as_uuid())
    .bind(request.channel.as_str())
    .bind(request.action.as_str())
    .bind(request.requested_at)
    .execute(tx)
    .await?;
    Ok(())
}

async fn finished(tx: &mut PgConnection, result: &ActionResult) -> Result<(), sqlx::Error> {
    let (status, output, reason, detail, attempts) = match &result.outcome {
        ActionOutcome::ActionCompleted { output, attempts } => {
            ("completed", Some(output.clone()), None, None, *attempts)
        }
        ActionOutcome::ActionFailed {
            reason,
            detail,
            attempts,
        } => (
            "failed",
            None,
            Some(reason.as_str()),
            Some(detail.clone()),
            *attempts,
        ),
    };
    sqlx::query(
        "INSERT INTO actions (action_id, workspace_id, integration_id, channel, action, status, output, reason, detail,
                              attempts, finished_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
         ON CONFLICT (action_id) DO UPDATE SET status = EXCLUDED.status, output = EXCLUDED.output,
             reason = EXCLUDED.reason, detail = EXCLUDED.detail, attempts = EXCLUDED.attempts,
             finished_at = EXCLUDED.finished_at, updated_at = EXCLUDED.updated_at
         WHERE actions.status <> 'completed'",
    )
    .bind(result.action_id.as_uuid())
    .bind(result.workspace_id.as_str())
    .bind(result.integration_id.as_uuid())
    .bind(result.channel.as_str())
    .bind(result.action.as_str())
    .bind(status)
    .bind(output)
    .bind(reason)
    .bind(detail)
    .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
    .bind(result.at)
    .execute(tx)
    .await?;
    Ok(())
}
