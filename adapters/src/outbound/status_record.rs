//! A `DeliveryUpdate` as a Kafka record on `messages.status`: key = conversation key (the
//! conversation's partition), `ce_id` = the update's deterministic event id, `ce_type`
//! `switchboard.message.<MessageSent|MessageFailed|MessageDelivered|MessageRead>.v1`. The
//! outbound engine and the web chat widget's acknowledgements both publish through it.

use crate::kafka::{CloudEvent, OutgoingRecord};
use switchboard_domain::message::DeliveryUpdate;

/// The record of `update` on `topic`, from `source` (`switchboard/adapters/<channel>` for the
/// engine), continuing `traceparent`.
pub fn status_record(
    update: &DeliveryUpdate,
    topic: &str,
    source: String,
    traceparent: Option<String>,
) -> OutgoingRecord {
    OutgoingRecord {
        topic: topic.to_owned(),
        key: update.conversation_key.clone(),
        event: CloudEvent {
            id: update.event_id,
            event_type: format!("switchboard.message.{}.v1", update.outcome.type_name()),
            source,
            subject: Some(update.conversation_key.clone()),
            time: update.at,
            sequence: None,
            actor: None,
        },
        body: serde_json::to_vec(update).unwrap_or_default(),
        traceparent,
    }
}
