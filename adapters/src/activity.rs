//! A `ConversationActivity` as a Kafka record on `conversations.activity`: key = conversation
//! key (so it shares a partition number with the conversation's messages), `ce_id` = the
//! event id, `ce_type` `switchboard.conversation.<ConversationRead|Resolved|Reopened>.v1`.

use crate::kafka::{CloudEvent, OutgoingRecord};
use switchboard_domain::message::ConversationActivity;

/// The record of `activity` on `topic`, continuing `traceparent`.
pub fn activity_record(
    activity: &ConversationActivity,
    topic: &str,
    traceparent: Option<String>,
) -> OutgoingRecord {
    OutgoingRecord {
        topic: topic.to_owned(),
        key: activity.conversation_key.clone(),
        event: CloudEvent {
            id: activity.event_id,
            event_type: format!(
                "switchboard.conversation.{}.v1",
                activity.action.type_name()
            ),
            source: "switchboard/api".to_owned(),
            subject: Some(activity.conversation_key.clone()),
            time: activity.at,
            sequence: None,
            actor: None,
        },
        body: serde_json::to_vec(activity).unwrap_or_default(),
        traceparent,
    }
}
