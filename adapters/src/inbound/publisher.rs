//! Publishes what a verified webhook became to `messages.received`.
//!
//! # Guarantees
//! [`InboundPublisher::publish`] returns `Ok` only after the broker acknowledged every record
//! of the request (idempotent producer, `acks=all`); otherwise the caller answers 503 and the
//! platform redelivers. Event ids are deterministic (UUIDv5 of the integration and the item),
//! so a redelivery that follows a partial publish yields the same ids: consumers de-duplicate.
//! Key = conversation key, so one conversation stays ordered in one partition.

use crate::inbound::targets::WebhookTarget;
use crate::kafka::{CloudEvent, EventProducer, OutgoingRecord, PublishError};
use std::time::Duration;
use switchboard_domain::message::{InboundDraft, InboundEvent};

/// Why a request's events are not known to be stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The broker refused a record or did not acknowledge it.
    #[error(transparent)]
    Broker(#[from] PublishError),
    /// The broker did not acknowledge every record before the deadline.
    #[error("the broker did not acknowledge within {0:?}")]
    Deadline(Duration),
}

/// Turns drafts into CloudEvents records and publishes them, pipelined, under a deadline.
#[derive(Clone)]
pub struct InboundPublisher {
    producer: EventProducer,
    topic: String,
    ack_deadline: Duration,
}

impl InboundPublisher {
    /// Publishes to `topic`, waiting at most `ack_deadline` for the broker.
    pub fn new(producer: EventProducer, topic: String, ack_deadline: Duration) -> Self {
        Self {
            producer,
            topic,
            ack_deadline,
        }
    }

    /// The events of one webhook for `target`.
    pub fn events(target: &WebhookTarget, drafts: Vec<InboundDraft>) -> Vec<InboundEvent> {
        drafts
            .into_iter()
            .map(|draft| {
                InboundEvent::from_draft(
                    target.integration_id,
                    target.workspace_id.clone(),
                    target.channel.clone(),
                    draft,
                )
            })
            .collect()
    }

    /// The Kafka record of one event.
    pub fn record(&self, event: &InboundEvent, traceparent: Option<String>) -> OutgoingRecord {
        OutgoingRecord {
            topic: self.topic.clone(),
            key: event.conversation_key.clone(),
            event: CloudEvent {
                id: event.event_id,
                event_type: format!("switchboard.message.{}.v1", event.kind.type_name()),
                source: format!("switchboard/webhooks/{}", event.channel),
                subject: Some(event.conversation_key.clone()),
                time: event.platform_timestamp,
                sequence: None,
                actor: None,
            },
            body: serde_json::to_vec(event).unwrap_or_default(),
            traceparent,
        }
    }

    /// Publishes `events` and waits until the broker acknowledged all of them.
    pub async fn publish(
        &self,
        events: &[InboundEvent],
        traceparent: Option<String>,
    ) -> Result<(), IngestError> {
        let records: Vec<OutgoingRecord> = events
            .iter()
            .map(|event| self.record(event, traceparent.clone()))
            .collect();
        let outcomes = tokio::time::timeout(self.ack_deadline, self.producer.publish_all(&records))
            .await
            .map_err(|_| IngestError::Deadline(self.ack_deadline))?;
        for outcome in outcomes {
            outcome?;
        }
        Ok(())
    }
}
