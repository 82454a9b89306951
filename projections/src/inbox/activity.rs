//! Agents' actions (`conversations.activity`): read marks and resolve/reopen times, kept in
//! `conversation_marks` and copied onto the conversation, whose unread count is recounted
//! and whose status follows from the marks (a generated column).
//!
//! Every mark only moves forward (the latest time wins), so the result is the same whatever
//! the order of the actions, their repeats, or their interleaving with the messages: a mark
//! read before the conversation's first message waits in `conversation_marks` and is taken up
//! when the conversation row is created (see `rows.rs`). A contact's typing notice changes
//! nothing here: it is for live consumers only.

use crate::inbox::conversation_id;
use crate::inbox::rows::unread_count_sql;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::BTreeMap;
use switchboard_domain::message::{ConversationAction, ConversationActivity};
use uuid::Uuid;

/// The latest of each mark in a batch, per conversation.
#[derive(Default)]
struct Marks {
    read_up_to: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    reopened_at: Option<DateTime<Utc>>,
}

/// Applies `activities` to the marks and their conversations.
pub async fn apply(
    tx: &mut PgConnection,
    activities: &[ConversationActivity],
) -> Result<(), sqlx::Error> {
    if activities.is_empty() {
        return Ok(());
    }
    let mut marks: BTreeMap<Uuid, Marks> = BTreeMap::new();
    for activity in activities.iter().filter(|a| a.action.is_mark()) {
        let mark = marks
            .entry(conversation_id(&activity.conversation_key))
            .or_default();
        let (slot, at) = match activity.action {
            ConversationAction::Read { up_to } => (&mut mark.read_up_to, up_to),
            ConversationAction::Resolved => (&mut mark.resolved_at, activity.at),
            ConversationAction::Reopened => (&mut mark.reopened_at, activity.at),
            ConversationAction::ContactTyping => continue,
        };
        *slot = (*slot).max(Some(at));
    }
    if marks.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = marks.keys().copied().collect();
    let column = |f: fn(&Marks) -> Option<DateTime<Utc>>| -> Vec<Option<DateTime<Utc>>> {
        marks.values().map(f).collect()
    };
    let unread = unread_count_sql("c.id", "c.last_reply_at", "marks.read_up_to");
    sqlx::query(&format!(
        "WITH marks AS (
             INSERT INTO conversation_marks AS mk (conversation_id, read_up_to, resolved_at, reopened_at)
             SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[])
             ON CONFLICT (conversation_id) DO UPDATE SET
                 read_up_to = GREATEST(mk.read_up_to, EXCLUDED.read_up_to),
                 resolved_at = GREATEST(mk.resolved_at, EXCLUDED.resolved_at),
                 reopened_at = GREATEST(mk.reopened_at, EXCLUDED.reopened_at)
             RETURNING mk.*
         )
         UPDATE conversations c SET
             last_read_at = marks.read_up_to,
             resolved_at = marks.resolved_at,
             reopened_at = marks.reopened_at,
             unread_count = {unread}
         FROM marks WHERE c.id = marks.conversation_id"
    ))
    .bind(ids)
    .bind(column(|m| m.read_up_to))
    .bind(column(|m| m.resolved_at))
    .bind(column(|m| m.reopened_at))
    .execute(tx)
    .await?;
    Ok(())
}
