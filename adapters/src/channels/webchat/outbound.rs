//! The webchat sender: an agent's or bot's reply is announced to every replica of the
//! service (PostgreSQL `NOTIFY` on [`NOTIFY_CHANNEL`]), each of which pushes it to the
//! visitor's sockets it holds (every tab).
//!
//! # Guarantees
//! A send succeeds once PostgreSQL accepted the notification: every replica listening then
//! receives it. A visitor with no socket open at that moment gets the reply from the inbox
//! history when the widget next connects, so nothing is lost; the widget drops a message it
//! already shows (same id), so nothing is doubled. Delivered and read follow from the
//! widget's acknowledgements, not from here.

use crate::channels::sender::{ChannelSender, SendError, SendTarget, SentMessage};
use crate::channels::webchat::wire::{Author, ChatMessage, Delivery, Push, NOTIFY_CHANNEL};
use async_trait::async_trait;
use serde_json::json;
use sqlx::PgPool;
use switchboard_domain::message::SendMessage;

/// The largest notification PostgreSQL carries is 8000 bytes; a reply must fit with room.
pub const MAX_NOTIFY_BYTES: usize = 7900;

/// Announces replies on the database the replicas listen to.
#[derive(Clone, Default)]
pub struct WebchatSender {
    pool: Option<PgPool>,
}

impl WebchatSender {
    /// A sender announcing on `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        Self { pool: Some(pool) }
    }

    /// A sender for registries that only declare channels (validation, the API's checks);
    /// it cannot send, and says so as a temporary failure.
    pub fn unbound() -> Self {
        Self { pool: None }
    }
}

/// The delivery of `message`, as the replicas are told of it.
pub fn delivery(target: &SendTarget, message: &SendMessage) -> Delivery {
    let content = &message.content;
    let extras = if content.attachments.is_empty() && content.quick_replies.is_empty() {
        serde_json::Value::Null
    } else {
        json!({"attachments": content.attachments, "quick_replies": content.quick_replies})
    };
    Delivery {
        integration_id: target.integration_id,
        visitor: message.recipient.clone(),
        push: Push::Message(ChatMessage {
            id: message.message_id.to_string(),
            author: Author::Agent,
            text: content.text.clone(),
            extras,
            sent_at: message.requested_at,
            client_id: None,
        }),
    }
}

/// Why a delivery was not announced.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// Over [`MAX_NOTIFY_BYTES`] as serialised.
    #[error("a web chat delivery must be under {MAX_NOTIFY_BYTES} bytes as sent")]
    TooLarge,
    /// The database did not take the notification.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Announces `delivery` to every replica (each pushes it to the visitor's sockets it holds).
pub async fn announce(pool: &PgPool, delivery: &Delivery) -> Result<(), AnnounceError> {
    let payload = serde_json::to_string(delivery).map_err(|_| AnnounceError::TooLarge)?;
    if payload.len() > MAX_NOTIFY_BYTES {
        return Err(AnnounceError::TooLarge);
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(NOTIFY_CHANNEL)
        .bind(&payload)
        .execute(pool)
        .await?;
    Ok(())
}

#[async_trait]
impl ChannelSender for WebchatSender {
    fn default_api_base(&self) -> &'static str {
        ""
    }

    async fn send(
        &self,
        target: &SendTarget,
        message: &SendMessage,
    ) -> Result<SentMessage, SendError> {
        let Some(pool) = &self.pool else {
            return Err(SendError::retryable(
                "this process does not deliver web chat replies",
            ));
        };
        announce(pool, &delivery(target, message))
            .await
            .map_err(|error| match error {
                AnnounceError::TooLarge => SendError::Invalid(error.to_string()),
                AnnounceError::Database(_) => SendError::retryable(error.to_string()),
            })?;
        Ok(SentMessage {
            platform_message_id: message.message_id.to_string(),
        })
    }
}
