//! Inbound events into conversations and messages, a batch at a time: one multi-row insert of
//! messages, then one insert of new conversations and one update of existing ones, with
//! counters computed from the rows actually inserted (so duplicates move nothing).
//! Receipts move delivery status forward only (queued < sent < delivered < read; failed stays).

use crate::inbox::conversation_id;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashSet};
use switchboard_adapters::kafka::ConsumedRecord;
use switchboard_domain::message::{InboundEvent, InboundKind, MessageContent};
use uuid::Uuid;

const PREVIEW_CHARS: usize = 200;

/// Applies `messages.received` records.
pub async fn apply(tx: &mut PgConnection, records: &[&ConsumedRecord]) -> Result<(), sqlx::Error> {
    let events: Vec<InboundEvent> = records
        .iter()
        .filter_map(|r| match serde_json::from_slice(&r.payload) {
            Ok(event) => Some(event),
            Err(error) => {
                tracing::warn!(offset = r.offset, %error, "unreadable inbound record skipped");
                None
            }
        })
        .collect();
    let mut seen = HashSet::new();
    let messages: Vec<&InboundEvent> = events
        .iter()
        .filter(|e| matches!(e.kind, InboundKind::MessageReceived { .. }))
        .filter(|e| seen.insert(e.event_id))
        .collect();
    let inserted = insert_messages(tx, &messages).await?;
    let fresh: Vec<&InboundEvent> = messages
        .into_iter()
        .filter(|e| inserted.contains(&e.event_id))
        .collect();
    upsert_conversations(tx, &fresh).await?;
    for event in &events {
        apply_receipt(tx, event).await?;
    }
    Ok(())
}

/// Inserts message rows; returns the ids that were new.
async fn insert_messages(
    tx: &mut PgConnection,
    events: &[&InboundEvent],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    let mut rows = MessageRows::default();
    for event in events {
        rows.push(event);
    }
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO messages (id, conversation_id, workspace_id, direction, platform_message_id,
                               content, reply_to, is_echo, sent_at, status, status_rank)
         SELECT id, conversation_id, workspace_id, direction, platform_message_id, content,
                reply_to, is_echo, sent_at, status, status_rank
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
                     $7::text[], $8::bool[], $9::timestamptz[], $10::text[], $11::smallint[])
              AS t(id, conversation_id, workspace_id, direction, platform_message_id, content,
                   reply_to, is_echo, sent_at, status, status_rank)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(rows.id)
    .bind(rows.conversation_id)
    .bind(rows.workspace_id)
    .bind(rows.direction)
    .bind(rows.platform_message_id)
    .bind(rows.content)
    .bind(rows.reply_to)
    .bind(rows.is_echo)
    .bind(rows.sent_at)
    .bind(rows.status)
    .bind(rows.status_rank)
    .fetch_all(tx)
    .await?;
    Ok(ids.into_iter().collect())
}

/// Column arrays of message rows, for one `UNNEST` insert.
#[derive(Default)]
struct MessageRows {
    id: Vec<Uuid>,
    conversation_id: Vec<Uuid>,
    workspace_id: Vec<String>,
    direction: Vec<&'static str>,
    platform_message_id: Vec<Option<String>>,
    content: Vec<serde_json::Value>,
    reply_to: Vec<Option<String>>,
    is_echo: Vec<bool>,
    sent_at: Vec<DateTime<Utc>>,
    status: Vec<Option<&'static str>>,
    status_rank: Vec<i16>,
}

impl MessageRows {
    fn push(&mut self, event: &InboundEvent) {
        let InboundKind::MessageReceived {
            platform_message_id,
            content,
            reply_to,
            is_echo,
        } = &event.kind
        else {
            return;
        };
        self.id.push(event.event_id);
        self.conversation_id
            .push(conversation_id(&event.conversation_key));
        self.workspace_id.push(event.workspace_id.to_string());
        self.direction
            .push(if *is_echo { "outbound" } else { "inbound" });
        self.platform_message_id
            .push(Some(platform_message_id.clone()));
        self.content
            .push(serde_json::to_value(content).unwrap_or_default());
        self.reply_to.push(reply_to.clone());
        self.is_echo.push(*is_echo);
        self.sent_at.push(event.platform_timestamp);
        self.status.push(is_echo.then_some("sent"));
        self.status_rank.push(if *is_echo { 1 } else { -1 });
    }
}

/// What a batch changes in one conversation.
struct ConversationChange {
    key: String,
    workspace_id: String,
    integration_id: Uuid,
    channel: String,
    contact_id: String,
    contact_name: Option<String>,
    preview: Option<String>,
    last_at: DateTime<Utc>,
    first_at: DateTime<Utc>,
    reset_unread: bool,
    unread_added: i32,
    messages_added: i64,
}

/// Per conversation, what `events` change, applied in arrival (offset) order so that the
/// result never depends on where batches happen to split: the last message is the latest by
/// platform time (a tie goes to the later arrival), unread counts inbound messages since the
/// last outbound one to arrive.
fn changes(events: &[&InboundEvent]) -> BTreeMap<Uuid, ConversationChange> {
    let mut changes: BTreeMap<Uuid, ConversationChange> = BTreeMap::new();
    for event in events {
        let InboundKind::MessageReceived {
            content, is_echo, ..
        } = &event.kind
        else {
            continue;
        };
        let change = changes
            .entry(conversation_id(&event.conversation_key))
            .or_insert_with(|| ConversationChange {
                key: event.conversation_key.clone(),
                workspace_id: event.workspace_id.to_string(),
                integration_id: event.integration_id.as_uuid(),
                channel: event.channel.to_string(),
                contact_id: event.contact.platform_id.clone(),
                contact_name: None,
                preview: None,
                last_at: event.platform_timestamp,
                first_at: event.platform_timestamp,
                reset_unread: false,
                unread_added: 0,
                messages_added: 0,
            });
        if event.contact.display_name.is_some() {
            change.contact_name = event.contact.display_name.clone();
        }
        if change.preview.is_none() || event.platform_timestamp >= change.last_at {
            change.preview = Some(preview(content));
            change.last_at = event.platform_timestamp;
        }
        change.first_at = change.first_at.min(event.platform_timestamp);
        change.messages_added += 1;
        if *is_echo {
            change.reset_unread = true;
            change.unread_added = 0;
        } else {
            change.unread_added += 1;
        }
    }
    changes
}

async fn upsert_conversations(
    tx: &mut PgConnection,
    events: &[&InboundEvent],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let changes = changes(events);
    let ids: Vec<Uuid> = changes.keys().copied().collect();
    let column = |f: &dyn Fn(&ConversationChange) -> String| -> Vec<String> {
        changes.values().map(f).collect()
    };
    let keys = column(&|c| c.key.clone());
    let workspaces = column(&|c| c.workspace_id.clone());
    let channels = column(&|c| c.channel.clone());
    let contacts = column(&|c| c.contact_id.clone());
    let names: Vec<Option<String>> = changes.values().map(|c| c.contact_name.clone()).collect();
    let previews: Vec<Option<String>> = changes.values().map(|c| c.preview.clone()).collect();
    let integrations: Vec<Uuid> = changes.values().map(|c| c.integration_id).collect();
    let last: Vec<DateTime<Utc>> = changes.values().map(|c| c.last_at).collect();
    let first: Vec<DateTime<Utc>> = changes.values().map(|c| c.first_at).collect();
    let resets: Vec<bool> = changes.values().map(|c| c.reset_unread).collect();
    let unread: Vec<i32> = changes.values().map(|c| c.unread_added).collect();
    let counts: Vec<i64> = changes.values().map(|c| c.messages_added).collect();
    sqlx::query(
        "WITH input AS (
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[],
                                  $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[],
                                  $11::bool[], $12::int[], $13::bigint[])
                 AS t(id, key, workspace_id, integration_id, channel, contact_id, contact_name, preview,
                      last_at, first_at, reset_unread, unread_added, messages_added)
         ),
         updated AS (
             UPDATE conversations c SET
                 contact_name = COALESCE(i.contact_name, c.contact_name),
                 last_message_preview = CASE WHEN i.last_at >= c.last_message_at
                                             THEN i.preview ELSE c.last_message_preview END,
                 last_message_at = GREATEST(c.last_message_at, i.last_at),
                 unread_count = CASE WHEN i.reset_unread THEN i.unread_added
                                     ELSE c.unread_count + i.unread_added END,
                 message_count = c.message_count + i.messages_added,
                 first_seen_at = LEAST(c.first_seen_at, i.first_at),
                 last_seen_at = GREATEST(c.last_seen_at, i.last_at)
             FROM input i WHERE c.id = i.id
             RETURNING c.id
         )
         INSERT INTO conversations (id, conversation_key, workspace_id, integration_id, channel,
                                    contact_id, contact_name, last_message_preview, last_message_at,
                                    unread_count, message_count, first_seen_at, last_seen_at)
         SELECT id, key, workspace_id, integration_id, channel, contact_id, contact_name, preview,
                last_at, unread_added, messages_added, first_at, last_at
         FROM input WHERE id NOT IN (SELECT id FROM updated)",
    )
    .bind(ids)
    .bind(keys)
    .bind(workspaces)
    .bind(integrations)
    .bind(channels)
    .bind(contacts)
    .bind(names)
    .bind(previews)
    .bind(last)
    .bind(first)
    .bind(resets)
    .bind(unread)
    .bind(counts)
    .execute(tx)
    .await?;
    Ok(())
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

/// Moves the delivery status of our messages forward for a receipt.
async fn apply_receipt(tx: &mut PgConnection, event: &InboundEvent) -> Result<(), sqlx::Error> {
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
    let guard = if status == "failed" {
        "status_rank < 2"
    } else {
        "status_rank < $3"
    };
    sqlx::query(&format!(
        "UPDATE messages SET status = $2, status_rank = $3, failure = COALESCE($6, failure)
         WHERE conversation_id = $1 AND direction = 'outbound'
           AND status IS DISTINCT FROM 'failed' AND {guard}
           AND (platform_message_id = ANY($4) OR ($5::timestamptz IS NOT NULL AND sent_at <= $5))"
    ))
    .bind(conversation_id(&event.conversation_key))
    .bind(status)
    .bind(rank)
    .bind(ids)
    .bind(watermark)
    .bind(failure)
    .execute(tx)
    .await?;
    Ok(())
}
