//! Response bodies of the inbox API (inboxes, conversations, messages), read from the inbox
//! projection's tables, and the opaque keyset cursor they page with.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most items on one page.
pub const MAX_PAGE_ITEMS: i64 = 200;
/// Items on a page when `limit` is not given.
pub const DEFAULT_PAGE_ITEMS: i64 = 50;

/// One inbox (one per integration).
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct InboxView {
    /// The integration behind it.
    pub id: Uuid,
    /// Its channel.
    pub channel: String,
    /// Its name.
    pub name: String,
    /// `created`, `connected` or `disconnected`.
    pub status: String,
    /// Conversations in it.
    pub conversation_count: i64,
    /// Unread messages across its conversations.
    pub unread_count: i64,
    /// When the integration was created.
    pub created_at: DateTime<Utc>,
}

/// `GET /v1/workspaces/{ws}/inboxes`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxList {
    /// The workspace's inboxes, oldest first.
    pub items: Vec<InboxView>,
}

/// One conversation.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ConversationView {
    /// Its id.
    pub id: Uuid,
    /// The inbox (integration) it belongs to.
    pub inbox_id: Uuid,
    /// Its channel.
    pub channel: String,
    /// The contact's platform id.
    pub contact_id: String,
    /// The contact's display name, when a platform gave one.
    pub contact_name: Option<String>,
    /// `open`, or `resolved` (set with `POST …/status`; a later message from the contact opens
    /// it again).
    pub status: String,
    /// A short text of the last message.
    pub last_message_preview: Option<String>,
    /// When the last message was sent, per the platform.
    pub last_message_at: DateTime<Utc>,
    /// Inbound messages after both the last reply and the agents' read mark.
    pub unread_count: i32,
    /// Platform time up to which agents have read it (`POST …/read`), if they have.
    pub last_read_at: Option<DateTime<Utc>>,
    /// Messages in it.
    pub message_count: i64,
    /// The contact's first message.
    pub first_seen_at: DateTime<Utc>,
    /// The latest message.
    pub last_seen_at: DateTime<Utc>,
}

/// A page of conversations, most recent first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    /// This page.
    pub items: Vec<ConversationView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// One message.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct MessageView {
    /// Its id (the event id of an inbound message).
    pub id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The platform's message id.
    pub platform_message_id: Option<String>,
    /// Normalised content.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    /// The platform id of the message it replies to.
    pub reply_to: Option<String>,
    /// Sent by the page or its staff outside Switchboard (an echo).
    pub is_echo: bool,
    /// When it was sent, per the platform.
    pub sent_at: DateTime<Utc>,
    /// Delivery status of an outbound message: queued, sent, delivered, read or failed.
    pub status: Option<String>,
}

/// A page of messages, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// This page.
    pub items: Vec<MessageView>,
    /// Pass as `cursor` for the next (older) page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Filters and paging of the conversation list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConversationQuery {
    /// Only this inbox.
    pub inbox: Option<Uuid>,
    /// Only this status: `open` or `resolved`.
    #[param(value_type = Option<String>, pattern = "^(open|resolved)$")]
    pub status: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Paging of a message list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// A keyset position: the sort time and id of the last item seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Sort time of the last item.
    pub at: DateTime<Utc>,
    /// Its id (the tiebreak).
    pub id: Uuid,
}

impl Cursor {
    /// The opaque text form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.at.timestamp_micros(), self.id))
    }

    /// Reads the opaque text form; `None` when it is not one of ours.
    pub fn decode(text: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let (micros, id) = raw.split_once('|')?;
        Some(Self {
            at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// A page size within bounds, or `None` when `limit` is out of range.
pub fn page_size(limit: Option<i64>) -> Option<i64> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_ITEMS);
    (1..=MAX_PAGE_ITEMS).contains(&limit).then_some(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_foreign_text() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "abc", "!!!", &URL_SAFE_NO_PAD.encode("12|not-a-uuid")] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn page_sizes_stay_within_bounds() {
        assert_eq!(page_size(None), Some(DEFAULT_PAGE_ITEMS));
        assert_eq!(page_size(Some(200)), Some(200));
        assert_eq!(page_size(Some(0)), None);
        assert_eq!(page_size(Some(201)), None);
    }
}
