//! Our own sends: a `SendMessage` command becomes a queued outbound message (an agent's reply,
//! so the conversation's unread count resets), and its status events (`MessageSent`,
//! `MessageFailed`, and for channels whose client acknowledges, `MessageDelivered` /
//! `MessageRead`) move it on, to the furthest status whatever their order (see
//! `received::advances`). A platform echo of the same message (same platform id) is folded
//! into it. An outcome read before its command (the two are on different topics) waits in
//! `pending_statuses` until the message row exists; platform receipts that named the platform
//! id before `MessageSent` brought it wait in `pending_receipts` and are applied then.

use crate::inbox::conversation_id;
use crate::inbox::received::{advances, failure_after, preview};
use crate::inbox::rows::NewMessage;
use serde_json::Value;
use sqlx::PgConnection;
use switchboard_domain::message::{
    Attachment, DeliveryOutcome, DeliveryUpdate, MessageContent, OutboundContent, SendMessage,
};

/// The queued message row of a send command.
pub fn message(command: &SendMessage) -> NewMessage {
    let content = normalised(&command.content);
    let mut json = serde_json::to_value(&content).unwrap_or_default();
    if let (Value::Object(map), false) = (&mut json, command.content.quick_replies.is_empty()) {
        map.insert(
            "quick_replies".into(),
            serde_json::to_value(&command.content.quick_replies).unwrap_or_default(),
        );
    }
    // A template's text is the platform's: the row keeps the template sent, and the
    // conversation list shows its name.
    let mut preview = preview(&content);
    if let (Value::Object(map), Some(template)) = (&mut json, &command.content.template) {
        map.insert(
            "template".into(),
            serde_json::to_value(template).unwrap_or_default(),
        );
        preview = format!("[template {}]", template.name);
    }
    NewMessage {
        id: command.message_id,
        conversation_key: command.conversation_key.clone(),
        workspace_id: command.workspace_id.to_string(),
        integration_id: command.integration_id.as_uuid(),
        channel: command.channel.to_string(),
        contact_id: contact_of(&command.conversation_key).to_owned(),
        contact_name: None,
        contact_thread_id: None,
        outbound: true,
        platform_message_id: None,
        content: json,
        preview,
        reply_to: None,
        is_echo: false,
        sent_at: command.requested_at,
        received_at: None,
        status: Some(("queued", 0)),
    }
}

fn normalised(content: &OutboundContent) -> MessageContent {
    if content.attachments.is_empty() {
        return MessageContent::Text {
            text: content.text.clone().unwrap_or_default(),
        };
    }
    MessageContent::Media {
        attachments: content
            .attachments
            .iter()
            .map(|a| Attachment {
                kind: a.kind,
                url: Some(a.url.clone()),
                mime_type: None,
                media_id: None,
            })
            .collect(),
        caption: content.text.clone(),
    }
}

/// The contact's platform id in a conversation key (`integration_id:contact_id`): a send's
/// recipient may be a thread rather than the contact (TikTok).
fn contact_of(conversation_key: &str) -> &str {
    conversation_key
        .split_once(':')
        .map_or(conversation_key, |(_, contact)| contact)
}

/// Applies a send's outcome to its message, or keeps it for later when the message row does
/// not exist yet.
pub async fn apply_status(
    tx: &mut PgConnection,
    update: &DeliveryUpdate,
) -> Result<(), sqlx::Error> {
    let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1)")
        .bind(update.message_id)
        .fetch_one(&mut *tx)
        .await?;
    if !known {
        sqlx::query(
            "INSERT INTO pending_statuses (event_id, message_id, outcome) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(update.event_id)
        .bind(update.message_id)
        .bind(serde_json::to_value(update).unwrap_or_default())
        .execute(tx)
        .await?;
        return Ok(());
    }
    apply_known_status(tx, update).await
}

/// Applies the outcomes that were waiting for the messages `ids`, and forgets them.
pub async fn apply_pending(tx: &mut PgConnection, ids: &[uuid::Uuid]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let waiting: Vec<serde_json::Value> = sqlx::query_scalar(
        "DELETE FROM pending_statuses WHERE message_id = ANY($1) RETURNING outcome",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    for update in waiting {
        match serde_json::from_value::<DeliveryUpdate>(update) {
            Ok(update) => apply_known_status(tx, &update).await?,
            Err(error) => tracing::warn!(%error, "unreadable pending status dropped"),
        }
    }
    Ok(())
}

async fn apply_known_status(
    tx: &mut PgConnection,
    update: &DeliveryUpdate,
) -> Result<(), sqlx::Error> {
    let conversation = conversation_id(&update.conversation_key);
    match &update.outcome {
        DeliveryOutcome::Sent {
            platform_message_id,
            ..
        } => {
            fold_echo(tx, conversation, update, platform_message_id).await?;
            sqlx::query(
                "UPDATE messages SET platform_message_id = $3,
                        status = CASE WHEN status_rank < 1 THEN 'sent' ELSE status END,
                        status_rank = GREATEST(status_rank, 1)
                 WHERE id = $1 AND conversation_id = $2 AND status IS DISTINCT FROM 'failed'",
            )
            .bind(update.message_id)
            .bind(conversation)
            .bind(platform_message_id)
            .execute(&mut *tx)
            .await?;
            apply_waiting_receipts(tx, conversation, update.message_id, platform_message_id).await
        }
        DeliveryOutcome::Failed {
            reason,
            detail,
            attempts,
        } => {
            let failure =
                serde_json::json!({"reason": reason, "detail": detail, "attempts": attempts});
            advance(
                tx,
                conversation,
                update.message_id,
                ("failed", 4),
                Some(failure),
            )
            .await
        }
        DeliveryOutcome::Delivered {} => {
            advance(tx, conversation, update.message_id, ("delivered", 2), None).await
        }
        DeliveryOutcome::Read {} => {
            advance(tx, conversation, update.message_id, ("read", 3), None).await
        }
    }
}

/// Moves message `id` of `conversation` to `status` if that goes further than where it is.
async fn advance(
    tx: &mut PgConnection,
    conversation: uuid::Uuid,
    id: uuid::Uuid,
    (status, rank): (&str, i16),
    failure: Option<Value>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE messages SET status = $3, status_rank = $4, failure = {}
         WHERE id = $1 AND conversation_id = $2 AND {}",
        failure_after("$3", "$5::jsonb"),
        advances("$3::text", "$4::smallint"),
    ))
    .bind(id)
    .bind(conversation)
    .bind(status)
    .bind(rank)
    .bind(failure)
    .execute(tx)
    .await?;
    Ok(())
}

/// Applies the platform receipts that named `platform_message_id` before our message
/// `id` carried it, and forgets them.
async fn apply_waiting_receipts(
    tx: &mut PgConnection,
    conversation: uuid::Uuid,
    id: uuid::Uuid,
    platform_message_id: &str,
) -> Result<(), sqlx::Error> {
    let waiting: Vec<(String, i16, Option<Value>)> = sqlx::query_as(
        "DELETE FROM pending_receipts WHERE conversation_id = $1 AND platform_message_id = $2
         RETURNING status, status_rank, failure",
    )
    .bind(conversation)
    .bind(platform_message_id)
    .fetch_all(&mut *tx)
    .await?;
    for (status, rank, failure) in waiting {
        advance(tx, conversation, id, (&status, rank), failure).await?;
    }
    Ok(())
}

/// Removes the echo row of our own message (the platform's copy, recorded first), so the
/// message appears once, with the platform id on our row; a receipt the echo row already
/// took (delivered, read) moves over to ours.
async fn fold_echo(
    tx: &mut PgConnection,
    conversation: uuid::Uuid,
    update: &DeliveryUpdate,
    platform_message_id: &str,
) -> Result<(), sqlx::Error> {
    let removed: Vec<(Option<String>, i16, Option<Value>)> = sqlx::query_as(
        "DELETE FROM messages WHERE conversation_id = $1 AND platform_message_id = $2 AND id <> $3 AND is_echo
         RETURNING status, status_rank, failure",
    )
    .bind(conversation)
    .bind(platform_message_id)
    .bind(update.message_id)
    .fetch_all(&mut *tx)
    .await?;
    if removed.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE conversations SET message_count = message_count - $2 WHERE id = $1")
        .bind(conversation)
        .bind(removed.len() as i64)
        .execute(&mut *tx)
        .await?;
    for (status, rank, failure) in removed {
        if let Some(status) = status.filter(|_| (2..=3).contains(&rank)) {
            advance(
                tx,
                conversation,
                update.message_id,
                (&status, rank),
                failure,
            )
            .await?;
        }
    }
    Ok(())
}
