//! What a visitor's frames become: `MessageReceived` (on `messages.received`) for what they
//! write, and `MessageDelivered` / `MessageRead` status events (on `messages.status`, like
//! every outcome of a send) for their widget's acknowledgements of agents' messages.
//!
//! # Guarantees
//! The message id is derived from the visitor and the widget's own id for the message, so a
//! resend (after a reconnect, from a retry) is the same event and the same message; another
//! visitor using the same widget id makes a different one. An acknowledgement's event id is
//! that of the message and the status, so acknowledging twice is one event; it names the
//! visitor's own conversation, so naming another visitor's message changes nothing.

use crate::channels::webchat::session::VisitorSession;
use crate::channels::webchat::wire::AckStatus;
use chrono::{DateTime, Utc};
use serde_json::json;
use switchboard_domain::message::{
    conversation_key, Contact, DeliveryOutcome, DeliveryUpdate, InboundDraft, InboundKind,
    MessageContent,
};
use switchboard_domain::{ChannelKind, WorkspaceId};

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

/// The status events of a widget's acknowledgement of agents' messages (`message_ids`, as
/// the service sent them) in the visitor's conversation of `workspace_id`, at `now`.
pub fn receipts(
    session: &VisitorSession,
    workspace_id: &WorkspaceId,
    message_ids: &[String],
    status: AckStatus,
    now: DateTime<Utc>,
) -> Result<Vec<DeliveryUpdate>, VisitorInputError> {
    if message_ids.is_empty() || message_ids.len() > MAX_ACK_IDS {
        return Err(VisitorInputError::AckIds);
    }
    let ids: Vec<uuid::Uuid> = message_ids
        .iter()
        .map(|id| uuid::Uuid::parse_str(id).map_err(|_| VisitorInputError::AckIds))
        .collect::<Result<_, _>>()?;
    let outcome = match status {
        AckStatus::Delivered => DeliveryOutcome::Delivered {},
        AckStatus::Read => DeliveryOutcome::Read {},
    };
    let channel = ChannelKind::parse(super::KIND).expect("valid channel name");
    let key = conversation_key(session.integration_id, &session.visitor.contact_id());
    Ok(ids
        .into_iter()
        .map(|message_id| DeliveryUpdate {
            event_id: DeliveryUpdate::event_id_for(message_id, &outcome),
            message_id,
            integration_id: session.integration_id,
            workspace_id: workspace_id.clone(),
            channel: channel.clone(),
            conversation_key: key.clone(),
            outcome: outcome.clone(),
            at: now,
        })
        .collect())
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
        let acme: WorkspaceId = "acme".parse().unwrap();
        assert_eq!(
            receipts(&s, &acme, &["not-a-uuid".into()], AckStatus::Read, now),
            Err(VisitorInputError::AckIds)
        );
        assert_eq!(
            receipts(&s, &acme, &[], AckStatus::Read, now),
            Err(VisitorInputError::AckIds)
        );
    }

    #[test]
    fn an_acknowledgement_is_one_status_event_per_message_in_the_visitors_conversation() {
        let s = session();
        let acme: WorkspaceId = "acme".parse().unwrap();
        let ids = [
            uuid::Uuid::new_v4().to_string(),
            uuid::Uuid::new_v4().to_string(),
        ];
        let read = receipts(&s, &acme, &ids, AckStatus::Read, Utc::now()).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].message_id.to_string(), ids[0]);
        assert_eq!(read[0].outcome, DeliveryOutcome::Read {});
        assert_eq!(
            read[0].conversation_key,
            conversation_key(s.integration_id, &s.visitor.contact_id())
        );
        let again = receipts(&s, &acme, &ids[..1], AckStatus::Read, Utc::now()).unwrap();
        assert_eq!(
            again[0].event_id, read[0].event_id,
            "the same ack is one event"
        );
        let delivered = receipts(&s, &acme, &ids[..1], AckStatus::Delivered, Utc::now()).unwrap();
        assert_ne!(delivered[0].event_id, read[0].event_id);
    }
}
