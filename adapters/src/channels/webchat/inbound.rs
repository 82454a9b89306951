//! What a visitor's frames become: `MessageReceived` for what they write, `MessageDelivered`
//! and `MessageRead` for their widget's acknowledgements of agents' messages.
//!
//! # Guarantees
//! The message id is derived from the visitor and the widget's own id for the message, so a
//! resend (after a reconnect, from a retry) is the same event and the same message; another
//! visitor using the same widget id makes a different one.

use crate::channels::webchat::session::VisitorSession;
use crate::channels::webchat::wire::AckStatus;
use chrono::{DateTime, Utc};
use serde_json::json;
use switchboard_domain::message::{Contact, InboundDraft, InboundKind, MessageContent};

/// The longest text a visitor may send, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// The longest widget message id, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 64;
/// The most messages one acknowledgement may name.
pub const MAX_ACK_IDS: usize = 100;

/// Why a visitor's frame is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisitorInputError {
    /// The widget's id is empty, too long or not of `[A-Za-z0-9_-]`.
    #[error("client_id must be 1 to 64 letters, digits, '-' or '_'")]
    ClientId,
    /// Nothing to send.
    #[error("the message is empty")]
    Empty,
    /// Over [`MAX_TEXT_CHARS`].
    #[error("the message is longer than 4000 characters")]
    TooLong,
    /// A NUL character.
    #[error("the message contains a NUL character")]
    Nul,
    /// An acknowledgement naming nothing or too much.
    #[error("an acknowledgement names 1 to 100 messages")]
    AckIds,
}

/// The draft of a visitor's message, received at `now`.
pub fn visitor_message(
    session: &VisitorSession,
    client_id: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<InboundDraft, VisitorInputError> {
    let valid_id = !client_id.is_empty()
        && client_id.len() <= MAX_CLIENT_ID_BYTES
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_id {
        return Err(VisitorInputError::ClientId);
    }
    if text.trim().is_empty() {
        return Err(VisitorInputError::Empty);
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(VisitorInputError::TooLong);
    }
    if text.contains('\0') {
        return Err(VisitorInputError::Nul);
    }
    let contact = session.visitor.contact_id();
    Ok(InboundDraft {
        contact: Contact::new(contact.clone()),
        platform_timestamp: now,
        kind: InboundKind::MessageReceived {
            platform_message_id: platform_message_id(&contact, client_id),
            content: MessageContent::Text { text: text.into() },
            reply_to: None,
            is_echo: false,
        },
        raw: json!({"client_id": client_id, "text": text}),
    })
}

/// The platform message id of a visitor's message: their contact id and the widget's id.
pub fn platform_message_id(contact_id: &str, client_id: &str) -> String {
    format!("{contact_id}/{client_id}")
}

/// The draft of a widget's acknowledgement of agents' messages, at `now`.
pub fn receipt(
    session: &VisitorSession,
    message_ids: &[String],
    status: AckStatus,
    now: DateTime<Utc>,
) -> Result<InboundDraft, VisitorInputError> {
    if message_ids.is_empty()
        || message_ids.len() > MAX_ACK_IDS
        || message_ids
            .iter()
            .any(|id| uuid::Uuid::parse_str(id).is_err())
    {
        return Err(VisitorInputError::AckIds);
    }
    let platform_message_ids = message_ids.to_vec();
    let kind = match status {
        AckStatus::Delivered => InboundKind::MessageDelivered {
            platform_message_ids,
            watermark: None,
        },
        AckStatus::Read => InboundKind::MessageRead {
            platform_message_ids,
            watermark: None,
        },
    };
    Ok(InboundDraft {
        contact: Contact::new(session.visitor.contact_id()),
        platform_timestamp: now,
        kind,
        raw: json!({"message_ids": message_ids, "status": status}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::webchat::session::VisitorId;
    use switchboard_domain::IntegrationId;

    fn session() -> VisitorSession {
        VisitorSession {
            integration_id: IntegrationId::new(),
            visitor: VisitorId::new(),
            expires_at: Utc::now(),
        }
    }

    #[test]
    fn a_resend_is_the_same_message_and_another_visitor_is_not() {
        let (one, two) = (session(), session());
        let id =
            |s: &VisitorSession| match visitor_message(s, "c-1", "hi", Utc::now()).unwrap().kind {
                InboundKind::MessageReceived {
                    platform_message_id,
                    ..
                } => platform_message_id,
                other => panic!("{other:?}"),
            };
        assert_eq!(id(&one), id(&one));
        assert_ne!(id(&one), id(&two));
    }

    #[test]
    fn bad_input_is_refused_precisely() {
        let s = session();
        let now = Utc::now();
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let cases = [
            ("", "hi", VisitorInputError::ClientId),
            ("a b", "hi", VisitorInputError::ClientId),
            ("c", "  ", VisitorInputError::Empty),
            ("c", long.as_str(), VisitorInputError::TooLong),
            ("c", "a\0b", VisitorInputError::Nul),
        ];
        for (client_id, text, expected) in cases {
            assert_eq!(visitor_message(&s, client_id, text, now), Err(expected));
        }
        assert_eq!(
            receipt(&s, &["not-a-uuid".into()], AckStatus::Read, now),
            Err(VisitorInputError::AckIds)
        );
    }
}
