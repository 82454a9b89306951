//! The `SendMessage` command as a Kafka record on `messages.outbound`: key = conversation key
//! (one conversation stays ordered), `ce_id` = the message id (a re-produced command carries
//! the same id), `ce_type` `switchboard.message.SendMessage.v1`.

use crate::kafka::{CloudEvent, OutgoingRecord};
use switchboard_domain::message::SendMessage;

/// The CloudEvents type of a send command.
pub const SEND_MESSAGE_TYPE: &str = "switchboard.message.SendMessage.v1";

/// The record of `command` on `topic`, continuing `traceparent`.
pub fn command_record(
    command: &SendMessage,
    topic: &str,
    traceparent: Option<String>,
) -> OutgoingRecord {
    OutgoingRecord {
        topic: topic.to_owned(),
        key: command.conversation_key.clone(),
        event: CloudEvent {
            id: command.message_id,
            event_type: SEND_MESSAGE_TYPE.to_owned(),
            source: "switchboard/api".to_owned(),
            subject: Some(command.conversation_key.clone()),
            time: command.requested_at,
            sequence: None,
            actor: None,
        },
        body: serde_json::to_vec(command).unwrap_or_default(),
        traceparent,
    }
}
