//! The inbox read model: one inbox per integration, conversations (inbox x contact) with
//! their last message, unread count and first/last seen, and messages with their delivery
//! status. Built from `integrations.lifecycle`, `messages.received`, `messages.outbound` (our
//! sends, queued), `messages.status` (their outcomes) and `conversations.activity` (agents'
//! read marks, resolve and reopen).
//!
//! Idempotent on event ids: a message row's id is its event id (inbound), and a platform's
//! message id is unique per conversation, so a redelivered webhook adds nothing; counters move
//! only for rows actually inserted.

mod activity;
mod lifecycle;
mod outbound;
mod received;
mod rows;

use crate::engine::{Projection, ProjectionError};
use async_trait::async_trait;
use sqlx::PgConnection;
use switchboard_adapters::kafka::{ConsumedRecord, Topics};
use switchboard_domain::message::{DeliveryUpdate, InboundEvent, SendMessage};

/// Namespace of conversation ids (UUIDv5 of the conversation key).
pub const CONVERSATION_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x7c0f_1d2e_93a4_4b5c_8d6e_0f1a_2b3c_4d5e);

/// The id of the conversation with key `conversation_key`.
pub fn conversation_id(conversation_key: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&CONVERSATION_NAMESPACE, conversation_key.as_bytes())
}

/// The inbox projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct InboxProjection;

#[async_trait]
impl Projection for InboxProjection {
    fn name(&self) -> &'static str {
        "inbox"
    }

    fn version(&self) -> i32 {
        4
    }

    fn topics(&self, topics: &Topics) -> Vec<String> {
        vec![
            topics.lifecycle.clone(),
            topics.received.clone(),
            topics.outbound.clone(),
            topics.status.clone(),
            topics.activity.clone(),
        ]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn read_indexes_ddl(&self) -> &'static str {
        include_str!("read_indexes.sql")
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        topics: &Topics,
        records: &[ConsumedRecord],
    ) -> Result<(), ProjectionError> {
        let of = |topic: &str| -> Vec<&ConsumedRecord> {
            records.iter().filter(|r| r.topic == topic).collect()
        };
        lifecycle::apply(tx, &of(&topics.lifecycle)).await?;
        let inbound: Vec<InboundEvent> =
            read_with(&of(&topics.received), InboundEvent::from_json_without_raw);
        let sends: Vec<SendMessage> = read(&of(&topics.outbound));
        let mut messages: Vec<rows::NewMessage> =
            inbound.iter().filter_map(received::message).collect();
        messages.extend(sends.iter().map(outbound::message));
        rows::record(tx, &messages).await?;
        let sent: Vec<uuid::Uuid> = sends.iter().map(|s| s.message_id).collect();
        outbound::apply_pending(tx, &sent).await?;
        // Our sends' outcomes first: they carry the platform ids that receipts name.
        for update in read::<DeliveryUpdate>(&of(&topics.status)) {
            outbound::apply_status(tx, &update).await?;
        }
        for event in &inbound {
            received::apply_receipt(tx, event).await?;
        }
        activity::apply(tx, &read(&of(&topics.activity))).await?;
        Ok(())
    }
}

/// Reads records of type `T` (unreadable ones are logged and skipped).
fn read<T: serde::de::DeserializeOwned>(records: &[&ConsumedRecord]) -> Vec<T> {
    read_with(records, |json| serde_json::from_slice(json))
}

/// Reads records with `decode` (unreadable ones are logged and skipped).
fn read_with<T>(
    records: &[&ConsumedRecord],
    decode: impl Fn(&[u8]) -> serde_json::Result<T>,
) -> Vec<T> {
    records
        .iter()
        .filter_map(|r| match decode(&r.payload) {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::warn!(topic = r.topic, offset = r.offset, %error, "unreadable record skipped");
                None
            }
        })
        .collect()
}
