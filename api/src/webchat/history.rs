//! What a widget resumes from: the conversation's messages in the inbox read model, oldest
//! first, from the latest one the widget already shows, and how far agents have read it.
//!
//! The bound is inclusive (messages at the same instant as the widget's latest are sent
//! again) and the widget drops what it already shows by id, so a message written in the
//! same millisecond as another is neither lost nor doubled.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use switchboard_adapters::channels::webchat::wire::{Author, ChatMessage};
use switchboard_domain::message::conversation_key;
use switchboard_domain::IntegrationId;
use switchboard_projections::inbox::conversation_id;

/// One `inbox.messages` row: id, direction, platform id, content, time.
type Row = (uuid::Uuid, String, Option<String>, Value, DateTime<Utc>);

/// The most messages one resume sends (the newest of them, when there are more).
pub const MAX_HISTORY: i64 = 200;

/// The messages of `visitor`'s conversation on `integration_id` at or after `after` (all,
/// when `None`), up to the latest [`MAX_HISTORY`], oldest first.
pub async fn since(
    pool: &PgPool,
    integration_id: IntegrationId,
    visitor: &str,
    after: Option<DateTime<Utc>>,
) -> Result<Vec<ChatMessage>, sqlx::Error> {
    let conversation = conversation_id(&conversation_key(integration_id, visitor));
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, direction, platform_message_id, content, sent_at FROM (
             SELECT id, direction, platform_message_id, content, sent_at
             FROM inbox.messages
             WHERE conversation_id = $1 AND NOT is_echo
               AND ($2::timestamptz IS NULL OR sent_at >= $2)
             ORDER BY sent_at DESC, id DESC
             LIMIT $3
         ) latest ORDER BY sent_at, id",
    )
    .bind(conversation)
    .bind(after)
    .bind(MAX_HISTORY)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, direction, platform_id, content, sent_at)| {
            message(id, &direction, platform_id.as_deref(), content, sent_at)
        })
        .collect())
}

fn message(
    id: uuid::Uuid,
    direction: &str,
    platform_id: Option<&str>,
    content: Value,
    sent_at: DateTime<Utc>,
) -> ChatMessage {
    let visitor = direction == "inbound";
    let text = content
        .get("text")
        .or_else(|| content.get("caption"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let extras = match (content.get("attachments"), content.get("quick_replies")) {
        (None, None) => Value::Null,
        (attachments, quick_replies) => serde_json::json!({
            "attachments": attachments.cloned().unwrap_or(Value::Array(vec![])),
            "quick_replies": quick_replies.cloned().unwrap_or(Value::Array(vec![])),
        }),
    };
    ChatMessage {
        id: id.to_string(),
        author: if visitor {
            Author::Visitor
        } else {
            Author::Agent
        },
        text,
        extras,
        sent_at,
        client_id: visitor
            .then(|| {
                platform_id
                    .and_then(|p| p.rsplit_once('/'))
                    .map(|(_, c)| c.to_owned())
            })
            .flatten(),
    }
}

/// How far agents have read `visitor`'s conversation on `integration_id` (the `sent_at` of
/// the latest message read), if they have.
pub async fn seen_up_to(
    pool: &PgPool,
    integration_id: IntegrationId,
    visitor: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let conversation = conversation_id(&conversation_key(integration_id, visitor));
    let mark: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "SELECT read_up_to FROM inbox.conversation_marks WHERE conversation_id = $1",
    )
    .bind(conversation)
    .fetch_optional(pool)
    .await?;
    Ok(mark.flatten())
}
