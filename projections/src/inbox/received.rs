//! Inbound events: messages (and echoes) into rows, receipts into delivery status.
//!
//! A message ends at its furthest status whatever order they arrive in: queued < sent <
//! delivered < read; failed replaces queued or sent only, and a receipt that the contact has
//! the message (delivered, read) replaces failed. A receipt naming a platform id no message
//! carries yet (its `MessageSent`, which brings the id, is not applied yet) waits in
//! `pending_receipts` and is applied when the id arrives (see `outbound::apply_status`).

use crate::inbox::conversation_id;
use crate::inbox::rows::NewMessage;
use sqlx::PgConnection;
use switchboard_domain::message::{InboundEvent, InboundKind, MessageContent};

const PREVIEW_CHARS: usize = 200;

/// The message row of an inbound message or echo; `None` for a receipt.
pub fn message(event: &InboundEvent) -> Option<NewMessage> {
    let InboundKind::MessageReceived {
        platform_message_id,
        content,
        reply_to,
        is_echo,
    } = &event.kind
    else {
        return None;
    };
    Some(NewMessage {
        id: event.event_id,
        conversation_key: event.conversation_key.clone(),
        workspace_id: event.workspace_id.to_string(),
        integration_id: event.integration_id.as_uuid(),
        channel: event.channel.to_string(),
        contact_id: event.contact.platform_id.clone(),
        contact_name: event.contact.display_name.clone(),
        contact_thread_id: event.contact.thread_id.clone(),
        outbound: *is_echo,
        platform_message_id: Some(platform_message_id.clone()),
        content: serde_json::to_value(content).unwrap_or_default(),
        preview: preview(content),
        reply_to: reply_to.clone(),
        is_echo: *is_echo,
        sent_at: event.platform_timestamp,
        received_at: event.received_at,
        status: is_echo.then_some(("sent", 1)),
    })
}

/// A short text for conversation lists.
pub fn preview(content: &MessageContent) -> String {
    let text = match content {
        MessageContent::Text { text } => text.clone(),
        MessageContent::Media {
            caption: Some(caption),
            ..
        } => caption.clone(),
        MessageContent::Media { attachments, .. } => attachments
            .first()
            .map(|a| {
                format!(
                    "[{}]",
                    serde_json::to_value(a.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_else(|| "[attachment]".into()),
        MessageContent::Location { name, .. } => {
            name.clone().unwrap_or_else(|| "[location]".into())
        }
        MessageContent::Postback { title, payload } => {
            title.clone().unwrap_or_else(|| payload.clone())
        }
        MessageContent::QuickReply { text, payload } => {
            text.clone().unwrap_or_else(|| payload.clone())
        }
        MessageContent::Sticker { .. } => "[sticker]".into(),
        MessageContent::Unsupported { kind } => format!("[{kind}]"),
    };
    text.chars().take(PREVIEW_CHARS).collect()
}

/// SQL: whether status `status` of rank `rank` (placeholders) goes further than a row's:
/// failed (rank 4) only past queued or sent; sent past queued; delivered and read past a
/// lower rank or past failed. So the order statuses arrive in does not change where a
/// message ends.
pub(crate) fn advances(status: &str, rank: &str) -> String {
    format!(
        "(CASE WHEN {status} = 'failed' THEN status_rank < 2
               ELSE status_rank < {rank}
                    OR (status IS NOT DISTINCT FROM 'failed' AND {rank} >= 2) END)"
    )
}

/// SQL: the row's failure once status `status` with failure `failure` applies (kept only
/// while the message is failed).
pub(crate) fn failure_after(status: &str, failure: &str) -> String {
    format!("CASE WHEN {status} = 'failed' THEN COALESCE({failure}, failure) ELSE NULL END")
}

/// Moves the delivery status of our messages forward for a receipt.
pub async fn apply_receipt(tx: &mut PgConnection, event: &InboundEvent) -> Result<(), sqlx::Error> {
    let (status, rank, ids, watermark, failure) = match &event.kind {
        InboundKind::MessageSent {
            platform_message_ids,
        } => ("sent", 1i16, platform_message_ids, None, None),
        InboundKind::MessageDelivered {
            platform_message_ids,
            watermark,
        } => ("delivered", 2, platform_message_ids, *watermark, None),
        InboundKind::MessageRead {
            platform_message_ids,
            watermark,
        } => ("read", 3, platform_message_ids, *watermark, None),
        InboundKind::MessageFailed {
            platform_message_ids,
            errors,
        } => (
            "failed",
            4,
            platform_message_ids,
            None,
            serde_json::to_value(errors).ok(),
        ),
        InboundKind::MessageReceived { .. } => return Ok(()),
    };
    let conversation = conversation_id(&event.conversation_key);
    sqlx::query(&format!(
        "UPDATE messages SET status = $2, status_rank = $3, failure = {}
         WHERE conversation_id = $1 AND direction = 'outbound' AND {}
           AND (platform_message_id = ANY($4) OR ($5::timestamptz IS NOT NULL AND sent_at <= $5))",
        failure_after("$2", "$6::jsonb"),
        advances("$2::text", "$3::smallint"),
    ))
    .bind(conversation)
    .bind(status)
    .bind(rank)
    .bind(ids)
    .bind(watermark)
    .bind(&failure)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO pending_receipts (conversation_id, platform_message_id, status, status_rank, failure)
         SELECT $1, named.platform_id, $2, $3, $5 FROM unnest($4::text[]) AS named(platform_id)
         WHERE NOT EXISTS (SELECT 1 FROM messages m
                           WHERE m.conversation_id = $1 AND m.platform_message_id = named.platform_id)
         ON CONFLICT DO NOTHING",
    )
    .bind(conversation)
    .bind(status)
    .bind(rank)
    .bind(ids)
    .bind(&failure)
    .execute(tx)
    .await?;
    Ok(())
}
