//! Message rows and their conversations, a batch at a time, whatever topic they came from:
//! one multi-row insert of messages, then one statement that updates existing conversations
//! and inserts new ones, with counters computed from the rows actually inserted (so a
//! duplicate moves nothing).

use crate::inbox::conversation_id;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// A message to record in a conversation.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Its id (event id of an inbound message, message id of a send).
    pub id: Uuid,
    /// `integration_id:contact_id`.
    pub conversation_key: String,
    /// Its workspace.
    pub workspace_id: String,
    /// Its integration.
    pub integration_id: Uuid,
    /// Its channel.
    pub channel: String,
    /// The contact's platform id.
    pub contact_id: String,
    /// The contact's display name, when given.
    pub contact_name: Option<String>,
    /// The platform's thread with the contact, where replies are addressed to it.
    pub contact_thread_id: Option<String>,
    /// Whether the business sent it (an echo or a send).
    pub outbound: bool,
    /// The platform's id, once known.
    pub platform_message_id: Option<String>,
    /// Normalised content, as JSON.
    pub content: serde_json::Value,
    /// A short text for conversation lists.
    pub preview: String,
    /// The platform id of the message it replies to.
    pub reply_to: Option<String>,
    /// Sent outside Switchboard (an echo).
    pub is_echo: bool,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// When an inbound message reached us, by our clock (unknown for older events).
    pub received_at: Option<DateTime<Utc>>,
    /// Delivery status of an outbound message and its rank (queued 0, sent 1).
    pub status: Option<(&'static str, i16)>,
}

/// The SQL of a conversation's unread count, one rule wherever it is recounted: inbound
/// messages sent (platform time) at or after its latest reply and after the agents' read mark.
/// The arguments are SQL expressions for the conversation id, the latest reply time and the
/// read mark.
pub fn unread_count_sql(conversation: &str, last_reply: &str, read_up_to: &str) -> String {
    format!(
        "(SELECT count(*) FROM messages m
          WHERE m.conversation_id = {conversation} AND m.direction = 'inbound'
            AND m.sent_at >= COALESCE({last_reply}, '-infinity')
            AND m.sent_at > COALESCE({read_up_to}, '-infinity'))::int"
    )
}

/// Records `messages` (duplicates by id dropped) and updates their conversations.
pub async fn record(tx: &mut PgConnection, messages: &[NewMessage]) -> Result<(), sqlx::Error> {
    let mut seen = HashSet::new();
    let unique: Vec<&NewMessage> = messages.iter().filter(|m| seen.insert(m.id)).collect();
    let inserted = insert_messages(tx, &unique).await?;
    let fresh: Vec<&NewMessage> = unique
        .into_iter()
        .filter(|m| inserted.contains(&m.id))
        .collect();
    upsert_conversations(tx, &fresh).await
}

async fn insert_messages(
    tx: &mut PgConnection,
    messages: &[&NewMessage],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    if messages.is_empty() {
        return Ok(HashSet::new());
    }
    // Borrowed columns: the batch outlives the statement, so nothing is copied to bind it.
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let conversations: Vec<Uuid> = messages
        .iter()
        .map(|m| conversation_id(&m.conversation_key))
        .collect();
    let workspaces: Vec<&str> = messages.iter().map(|m| m.workspace_id.as_str()).collect();
    let directions: Vec<&str> = messages
        .iter()
        .map(|m| if m.outbound { "outbound" } else { "inbound" })
        .collect();
    let platform_ids: Vec<Option<&str>> = messages
        .iter()
        .map(|m| m.platform_message_id.as_deref())
        .collect();
    let contents: Vec<&serde_json::Value> = messages.iter().map(|m| &m.content).collect();
    let replies: Vec<Option<&str>> = messages.iter().map(|m| m.reply_to.as_deref()).collect();
    let echoes: Vec<bool> = messages.iter().map(|m| m.is_echo).collect();
    let sent: Vec<DateTime<Utc>> = messages.iter().map(|m| m.sent_at).collect();
    let statuses: Vec<Option<&str>> = messages.iter().map(|m| m.status.map(|(s, _)| s)).collect();
    let ranks: Vec<i16> = messages
        .iter()
        .map(|m| m.status.map_or(-1, |(_, r)| r))
        .collect();
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO messages (id, conversation_id, workspace_id, direction, platform_message_id,
                               content, reply_to, is_echo, sent_at, status, status_rank)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
                              $7::text[], $8::bool[], $9::timestamptz[], $10::text[], $11::smallint[])
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(ids)
    .bind(conversations)
    .bind(workspaces)
    .bind(directions)
    .bind(platform_ids)
    .bind(contents)
    .bind(replies)
    .bind(echoes)
    .bind(sent)
    .bind(statuses)
    .bind(ranks)
    .fetch_all(tx)
    .await?;
    Ok(inserted.into_iter().collect())
}

/// What a batch changes in one conversation.
struct ConversationChange {
    key: String,
    workspace_id: String,
    integration_id: Uuid,
    channel: String,
    contact_id: String,
    contact_name: Option<String>,
    thread_id: Option<String>,
    preview: Option<String>,
    last_at: DateTime<Utc>,
    first_at: DateTime<Utc>,
    last_reply_at: Option<DateTime<Utc>>,
    last_inbound_at: Option<DateTime<Utc>>,
    messages_added: i64,
}

/// Per conversation, what `messages` change, so that the result never depends on where
/// batches happen to split or how the topics interleave: the last message is the latest by
/// platform time (a tie goes to the later arrival); the latest reply (outbound message) by
/// platform time, from which the unread count is recounted; the latest inbound message by
/// when it reached us, which reopens a conversation resolved before it.
fn changes(messages: &[&NewMessage]) -> BTreeMap<Uuid, ConversationChange> {
    let mut changes: BTreeMap<Uuid, ConversationChange> = BTreeMap::new();
    for message in messages {
        let change = changes
            .entry(conversation_id(&message.conversation_key))
            .or_insert_with(|| ConversationChange {
                key: message.conversation_key.clone(),
                workspace_id: message.workspace_id.clone(),
                integration_id: message.integration_id,
                channel: message.channel.clone(),
                contact_id: message.contact_id.clone(),
                contact_name: None,
                thread_id: None,
                preview: None,
                last_at: message.sent_at,
                first_at: message.sent_at,
                last_reply_at: None,
                last_inbound_at: None,
                messages_added: 0,
            });
        if message.contact_name.is_some() {
            change.contact_name = message.contact_name.clone();
        }
        if message.contact_thread_id.is_some() {
            change.thread_id = message.contact_thread_id.clone();
        }
        if change.preview.is_none() || message.sent_at >= change.last_at {
            change.preview = Some(message.preview.clone());
            change.last_at = message.sent_at;
        }
        change.first_at = change.first_at.min(message.sent_at);
        change.messages_added += 1;
        if message.outbound {
            change.last_reply_at = change.last_reply_at.max(Some(message.sent_at));
        } else {
            // Compared with agents' actions, which are on our clock: the platform's only
            // for events recorded before receive times were.
            let arrived = message.received_at.unwrap_or(message.sent_at);
            change.last_inbound_at = change.last_inbound_at.max(Some(arrived));
        }
    }
    changes
}

async fn upsert_conversations(
    tx: &mut PgConnection,
    messages: &[&NewMessage],
) -> Result<(), sqlx::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let changes = changes(messages);
    let ids: Vec<Uuid> = changes.keys().copied().collect();
    let text = |f: &dyn Fn(&ConversationChange) -> Option<String>| -> Vec<Option<String>> {
        changes.values().map(f).collect()
    };
    let keys = text(&|c| Some(c.key.clone()));
    let workspaces = text(&|c| Some(c.workspace_id.clone()));
    let channels = text(&|c| Some(c.channel.clone()));
    let contacts = text(&|c| Some(c.contact_id.clone()));
    let names = text(&|c| c.contact_name.clone());
    let threads = text(&|c| c.thread_id.clone());
    let previews = text(&|c| c.preview.clone());
    let integrations: Vec<Uuid> = changes.values().map(|c| c.integration_id).collect();
    let last: Vec<DateTime<Utc>> = changes.values().map(|c| c.last_at).collect();
    let first: Vec<DateTime<Utc>> = changes.values().map(|c| c.first_at).collect();
    let replies: Vec<Option<DateTime<Utc>>> = changes.values().map(|c| c.last_reply_at).collect();
    let inbound: Vec<Option<DateTime<Utc>>> = changes.values().map(|c| c.last_inbound_at).collect();
    let counts: Vec<i64> = changes.values().map(|c| c.messages_added).collect();
    // A batch's messages that all come after the conversation's last one, none of them a
    // reply, leave the earlier rows' count as it was, and are all inbound: when they also all
    // come after the read mark, each is unread and nothing is counted; otherwise only the
    // batch's rows are (an index range). Recounting the whole conversation every batch made a
    // rebuild quadratic in a conversation's length.
    let unread_recounted = unread_count_sql(
        "c.id",
        "GREATEST(c.last_reply_at, i.last_reply_at)",
        "c.last_read_at",
    );
    let unread_of_batch = unread_count_sql("c.id", "i.first_at", "c.last_read_at");
    let unread_updated = format!(
        "CASE WHEN i.last_reply_at IS NOT NULL OR i.first_at <= c.last_message_at
                  THEN {unread_recounted}
              WHEN i.first_at > COALESCE(c.last_read_at, '-infinity')
                  THEN c.unread_count + i.messages_added::int
              ELSE c.unread_count + {unread_of_batch} END"
    );
    let unread_inserted = format!(
        "CASE WHEN input.last_reply_at IS NULL
                   AND input.first_at > COALESCE(mk.read_up_to, '-infinity')
                  THEN input.messages_added::int
              ELSE {} END",
        unread_count_sql("input.id", "input.last_reply_at", "mk.read_up_to")
    );
    sqlx::query(&format!(
        "WITH input AS (
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[],
                                  $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[],
                                  $11::timestamptz[], $12::bigint[], $13::text[], $14::timestamptz[])
                 AS t(id, key, workspace_id, integration_id, channel, contact_id, contact_name, preview,
                      last_at, first_at, last_reply_at, messages_added, thread_id, last_inbound_at)
         ),
         updated AS (
             UPDATE conversations c SET
                 contact_name = COALESCE(i.contact_name, c.contact_name),
                 contact_thread_id = COALESCE(i.thread_id, c.contact_thread_id),
                 last_message_preview = CASE WHEN i.last_at >= c.last_message_at
                                             THEN i.preview ELSE c.last_message_preview END,
                 last_message_at = GREATEST(c.last_message_at, i.last_at),
                 last_reply_at = GREATEST(c.last_reply_at, i.last_reply_at),
                 last_inbound_at = GREATEST(c.last_inbound_at, i.last_inbound_at),
                 unread_count = {unread_updated},
                 message_count = c.message_count + i.messages_added,
                 first_seen_at = LEAST(c.first_seen_at, i.first_at),
                 last_seen_at = GREATEST(c.last_seen_at, i.last_at)
             FROM input i WHERE c.id = i.id
             RETURNING c.id
         )
         INSERT INTO conversations (id, conversation_key, workspace_id, integration_id, channel,
                                    contact_id, contact_name, last_message_preview, last_message_at,
                                    unread_count, message_count, first_seen_at, last_seen_at,
                                    contact_thread_id, last_reply_at, last_inbound_at,
                                    last_read_at, resolved_at, reopened_at)
         SELECT input.id, key, workspace_id, integration_id, channel, contact_id, contact_name,
                preview, last_at,
                {unread_inserted},
                messages_added, first_at, last_at, thread_id, last_reply_at, last_inbound_at,
                mk.read_up_to, mk.resolved_at, mk.reopened_at
         FROM input LEFT JOIN conversation_marks mk ON mk.conversation_id = input.id
         WHERE input.id NOT IN (SELECT id FROM updated)"
    ))
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
    .bind(replies)
    .bind(counts)
    .bind(threads)
    .bind(inbound)
    .execute(tx)
    .await?;
    Ok(())
}
