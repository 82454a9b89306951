//! Queuing a checked `SendMessage`, shared by the routes that send (a reply in a conversation,
//! a first message through an integration): the idempotency key, the message id it names, and
//! producing the command to `messages.outbound` once the broker acknowledges it.
//!
//! # Guarantees
//! With an idempotency key (`Idempotency-Key` header or `idempotency_key` field), the same key
//! in a workspace always names the same message and produces it once: a concurrent or later
//! repeat waits on the first request's row lock (`send_requests`) and then answers with the
//! same message id. Reusing a key for a different request is refused with 409. Without one,
//! each request is its own message. A command the broker did not acknowledge is answered 503
//! and, with a key, produced by the retry.

use crate::error::Problem;
use crate::state::AppState;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Postgres, Transaction};
use switchboard_adapters::kafka::trace_context::current_traceparent;
use switchboard_adapters::outbound::commands::command_record;
use switchboard_domain::message::{SendMessage, EVENT_ID_NAMESPACE};
use switchboard_domain::WorkspaceId;
use uuid::Uuid;

const IDEMPOTENCY_HEADER: &str = "idempotency-key";
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// A request already produced under its idempotency key.
#[derive(Debug, Clone, Copy)]
pub struct Produced {
    /// The message it named.
    pub message_id: Uuid,
    /// The conversation it went to.
    pub conversation_id: Uuid,
}

/// The request's idempotency key: the header, else `in_body`; at most 200 characters.
pub fn idempotency_key(
    headers: &HeaderMap,
    in_body: Option<&String>,
) -> Result<Option<String>, Problem> {
    let header = headers
        .get(IDEMPOTENCY_HEADER)
        .map(|v| v.to_str().map(str::to_owned));
    let key = match header {
        Some(Ok(key)) => Some(key),
        Some(Err(_)) => {
            return Err(Problem::bad_request(
                "Idempotency-Key must be visible ASCII",
            ))
        }
        None => in_body.cloned(),
    };
    match key {
        Some(key) if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS => {
            Err(Problem::invalid("an idempotency key is 1-200 characters"))
        }
        other => Ok(other),
    }
}

/// The id of the message a request with `key` names (a fresh one without a key).
pub fn message_id(ws: &WorkspaceId, key: Option<&str>) -> Uuid {
    match key {
        Some(key) => Uuid::new_v5(
            &EVENT_ID_NAMESPACE,
            format!("send\u{1f}{ws}\u{1f}{key}").as_bytes(),
        ),
        None => Uuid::new_v4(),
    }
}

/// The fingerprint of a request: the SHA-256 of `canonical` as JSON.
pub fn request_hash(canonical: &impl Serialize) -> String {
    Sha256::digest(serde_json::to_vec(canonical).unwrap_or_default())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The earlier request with this key that was produced, if any; 409 when the key named
/// another request.
pub async fn already_produced(
    state: &AppState,
    ws: &WorkspaceId,
    key: &str,
    hash: &str,
) -> Result<Option<Produced>, Problem> {
    let row: Option<(Uuid, Uuid, String, bool)> = sqlx::query_as(
        "SELECT message_id, conversation_id, request_hash, produced_at IS NOT NULL FROM send_requests
         WHERE workspace_id = $1 AND idempotency_key = $2",
    )
    .bind(ws.as_str())
    .bind(key)
    .fetch_optional(&state.pool)
    .await
    .map_err(Problem::from)?;
    match row {
        Some((_, _, stored, _)) if stored != hash => Err(key_reused()),
        Some((message_id, conversation_id, _, true)) => Ok(Some(Produced {
            message_id,
            conversation_id,
        })),
        _ => Ok(None),
    }
}

/// Produces `command` (once per `key`, when there is one) for conversation `conversation`.
pub async fn queue(
    state: &AppState,
    ws: &WorkspaceId,
    key: Option<String>,
    conversation: Uuid,
    hash: String,
    command: SendMessage,
) -> Result<(), Problem> {
    match key {
        Some(key) => {
            // Run to completion even if the client goes away, so a produced command is
            // always marked produced and a retry never produces it again.
            let task = tokio::spawn(produce_once(
                state.clone(),
                ws.clone(),
                key,
                conversation,
                hash,
                command,
            ));
            task.await.map_err(|e| Problem::internal(&e))?
        }
        None => produce(state, &command).await,
    }
}

/// 422 for a send a channel's rules do not allow, naming the rule as `slug`.
pub fn rule(slug: &str, detail: String) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        slug,
        "Not allowed by the channel's rules",
        detail,
    )
}

fn key_reused() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency-key-reused",
        "Idempotency key reused",
        "this idempotency key was used for a different request",
    )
}

async fn produce(state: &AppState, command: &SendMessage) -> Result<(), Problem> {
    let record = command_record(command, &state.topics.outbound, current_traceparent());
    state.producer.publish(&record).await.map_err(|error| {
        tracing::warn!(%error, "send command not acknowledged by the broker");
        Problem::unavailable("the message broker did not acknowledge the command; retry with the same idempotency key")
    })?;
    metrics::counter!("switchboard_send_requests_total", "channel" => command.channel.to_string())
        .increment(1);
    Ok(())
}

/// Produces `command` unless a request with the same key already did; holds the key's row
/// lock meanwhile so a concurrent repeat waits and then finds it produced.
async fn produce_once(
    state: AppState,
    ws: WorkspaceId,
    key: String,
    conversation: Uuid,
    hash: String,
    command: SendMessage,
) -> Result<(), Problem> {
    let (ws, key) = (&ws, key.as_str());
    let mut tx = state.pool.begin().await.map_err(Problem::from)?;
    sqlx::query(
        "INSERT INTO send_requests (workspace_id, idempotency_key, message_id, conversation_id, request_hash)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(ws.as_str())
    .bind(key)
    .bind(command.message_id)
    .bind(conversation)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .map_err(Problem::from)?;
    let (stored_hash, produced): (String, bool) = sqlx::query_as(
        "SELECT request_hash, produced_at IS NOT NULL FROM send_requests
         WHERE workspace_id = $1 AND idempotency_key = $2 FOR UPDATE",
    )
    .bind(ws.as_str())
    .bind(key)
    .fetch_one(&mut *tx)
    .await
    .map_err(Problem::from)?;
    if stored_hash != hash {
        return Err(key_reused());
    }
    if !produced {
        produce(&state, &command).await?;
        mark_produced(&mut tx, ws, key)
            .await
            .map_err(Problem::from)?;
    }
    tx.commit().await.map_err(Problem::from)
}

async fn mark_produced(
    tx: &mut Transaction<'_, Postgres>,
    ws: &WorkspaceId,
    key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE send_requests SET produced_at = now() WHERE workspace_id = $1 AND idempotency_key = $2")
        .bind(ws.as_str())
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
