//! One command record from start to finish: read it, deliver it, and publish what became of
//! it (a status event on `messages.status`, and the record itself on the dead-letter topic
//! when it is poison or its retries ran out). Returns only once the broker acknowledged
//! every record it had to publish, so the dispatcher may then commit the command's offset.

use crate::kafka::trace_context::{current_traceparent, set_remote_parent};
use crate::kafka::{EventProducer, OutgoingRecord, PublishError, RawRecord};
use crate::outbound::delivery::{Deliverer, Verdict};
use crate::outbound::dlq::dead_letter;
use crate::outbound::record::CommandRecord;
use crate::outbound::retry::Backoff;
use crate::outbound::status_record::status_record;
use chrono::Utc;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use switchboard_domain::message::{DeliveryOutcome, DeliveryUpdate, SendMessage};
use tracing::Instrument;

/// Where a worker publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerTopics {
    /// `messages.status`.
    pub status: String,
    /// `messages.outbound.dlq`.
    pub dead_letter: String,
}

/// What became of one record.
enum Decision {
    /// Not a command at all: dead-letter it with this error.
    Poison(String),
    /// A command, delivered or not.
    Delivered {
        command: Box<SendMessage>,
        verdict: Verdict,
    },
}

/// What the dispatcher runs each record through: the send worker, the action worker, or the
/// router between them ([`crate::outbound::actions::ByTopic`]).
#[async_trait::async_trait]
pub trait RecordHandler: Send + Sync + 'static {
    /// Handles `record` to the end: returns once its outcome is acknowledged by the broker.
    async fn handle(&self, record: &CommandRecord);
}

#[async_trait::async_trait]
impl RecordHandler for Worker {
    async fn handle(&self, record: &CommandRecord) {
        Worker::handle(self, record).await
    }
}

/// Delivers records and publishes their outcomes.
pub struct Worker {
    deliverer: Arc<Deliverer>,
    producer: EventProducer,
    topics: WorkerTopics,
}

impl Worker {
    /// A worker delivering through `deliverer` and publishing with `producer` to `topics`.
    pub fn new(deliverer: Arc<Deliverer>, producer: EventProducer, topics: WorkerTopics) -> Self {
        Self {
            deliverer,
            producer,
            topics,
        }
    }

    /// Handles `record` to the end: returns once its outcome is acknowledged by the broker.
    pub async fn handle(&self, record: &CommandRecord) {
        let span = tracing::info_span!(
            "outbound.send",
            messaging.system = "kafka",
            messaging.kafka.partition = record.partition,
            messaging.kafka.offset = record.offset,
            message_id = tracing::field::Empty,
            channel = tracing::field::Empty,
        );
        if let Some(traceparent) = record.header("traceparent") {
            set_remote_parent(&span, traceparent);
        }
        async {
            let decision = AssertUnwindSafe(self.decide(record))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Decision::Poison("the adapter panicked on this record".into()));
            self.publish(record, decision).await;
        }
        .instrument(span)
        .await
    }

    async fn decide(&self, record: &CommandRecord) -> Decision {
        let command: SendMessage = match serde_json::from_slice(&record.payload) {
            Ok(command) => command,
            Err(error) => return Decision::Poison(format!("not a SendMessage: {error}")),
        };
        let span = tracing::Span::current();
        span.record("message_id", tracing::field::display(command.message_id));
        span.record("channel", tracing::field::display(&command.channel));
        let verdict = self.deliverer.deliver(&command).await;
        Decision::Delivered {
            command: Box::new(command),
            verdict,
        }
    }

    async fn publish(&self, record: &CommandRecord, decision: Decision) {
        let (command, verdict) = match decision {
            Decision::Poison(error) => {
                tracing::warn!(%error, "poison command dead-lettered");
                self.dead_letter(record, &error).await;
                return;
            }
            Decision::Delivered { command, verdict } => (command, verdict),
        };
        if let Some(error) = &verdict.dead_letter {
            self.dead_letter(record, error).await;
        }
        let update = DeliveryUpdate::new(&command, verdict.outcome, Utc::now());
        count(&update);
        let traceparent =
            current_traceparent().or_else(|| record.header("traceparent").map(str::to_owned));
        let status = self.status_record(&update, traceparent);
        until_acked("status", || self.producer.publish(&status)).await;
    }

    async fn dead_letter(&self, record: &CommandRecord, error: &str) {
        let dead: RawRecord = dead_letter(record, &self.topics.dead_letter, error, Utc::now());
        until_acked("dead letter", || self.producer.publish_raw(&dead)).await;
        metrics::counter!("switchboard_outbound_dead_lettered_total").increment(1);
    }

    fn status_record(
        &self,
        update: &DeliveryUpdate,
        traceparent: Option<String>,
    ) -> OutgoingRecord {
        let source = format!("switchboard/adapters/{}", update.channel);
        status_record(update, &self.topics.status, source, traceparent)
    }
}

fn count(update: &DeliveryUpdate) {
    let channel = update.channel.to_string();
    match &update.outcome {
        DeliveryOutcome::Sent { attempts, .. } => {
            tracing::info!(attempts, "message sent");
            metrics::counter!("switchboard_outbound_sent_total", "channel" => channel).increment(1);
        }
        DeliveryOutcome::Failed {
            reason,
            detail,
            attempts,
        } => {
            tracing::warn!(reason = reason.as_str(), %detail, attempts, "message failed");
            metrics::counter!("switchboard_outbound_failed_total", "channel" => channel, "reason" => reason.as_str())
                .increment(1);
        }
        // Receipts come from the contact's side, never from a send.
        DeliveryOutcome::Delivered {} | DeliveryOutcome::Read {} => {}
    }
}

/// Publishes until the broker acknowledges: an outcome is never dropped because the broker
/// was briefly away (the dispatcher does not commit the command until this returns).
pub(crate) async fn until_acked<T, F, Fut>(what: &'static str, mut publish: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PublishError>>,
{
    let mut backoff = Backoff::default();
    while let Err(error) = publish().await {
        tracing::warn!(%error, what, "publishing an outbound outcome failed, retrying");
        backoff.wait().await;
    }
}
