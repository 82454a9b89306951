//! Running actions: consumes `ActionRequested` from `actions.requested` (key = integration
//! id) in the same dispatcher as sends, runs each through its channel's action with the same
//! [`Deliverer::attempts`] (rate limits, retry schedule, credential refresh through the
//! channel's sender, disconnect), and publishes `ActionCompleted` / `ActionFailed` to
//! `actions.results` (same key; the request's trace continued). Records that are not
//! `ActionRequested`s and actions whose retries ran out also go to `actions.requested.dlq`.
//!
//! # Guarantees
//! As for sends (see [`crate::outbound`]): at-least-once, the offset committed only after the
//! result (and dead letter) was acknowledged; one integration's actions run one at a time in
//! offset order; a result's id is a UUIDv5 of the action id and the outcome, so a repeated
//! result carries the same `ce_id`. A completion is remembered ([`ActionRuns`]) before its
//! result is published, so a request delivered again afterwards is answered with the same
//! result without performing it again; only a crash between the platform's answer and that
//! write performs it twice (an e-mail then keeps its `Message-ID`).

use crate::channels::ChannelRegistry;
use crate::kafka::trace_context::{current_traceparent, set_remote_parent};
use crate::kafka::{CloudEvent, EventProducer, OutgoingRecord, RawRecord};
use crate::outbound::delivery::{Deliverer, Job, Verdict};
use crate::outbound::dlq::dead_letter;
use crate::outbound::record::CommandRecord;
use crate::outbound::worker::{until_acked, RecordHandler, Worker};
use crate::store::ActionRuns;
use chrono::Utc;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use switchboard_domain::action::{ActionOutcome, ActionRequested, ActionResult};
use switchboard_domain::message::{DeliveryOutcome, FailureReason};
use tracing::Instrument;

/// The CloudEvents type prefix of action events (`switchboard.action.ActionCompleted.v1`).
pub const ACTION_TYPE_PREFIX: &str = "switchboard.action.";

/// Where the action worker publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionTopics {
    /// `actions.results`.
    pub results: String,
    /// `actions.requested.dlq`.
    pub dead_letter: String,
}

/// How an action ended, and whether its record belongs on the dead-letter topic.
struct Ended {
    outcome: ActionOutcome,
    dead_letter: Option<String>,
}

impl From<Verdict> for Ended {
    /// A failed verdict of the engine (a verdict of a send that succeeded cannot reach here).
    fn from(verdict: Verdict) -> Self {
        let outcome = match verdict.outcome {
            DeliveryOutcome::Failed {
                reason,
                detail,
                attempts,
            } => ActionOutcome::ActionFailed {
                reason,
                detail,
                attempts,
            },
            DeliveryOutcome::Sent { attempts, .. } => ActionOutcome::ActionCompleted {
                output: serde_json::Value::Null,
                attempts,
            },
            // Receipts are not verdicts of a call; were one here, the call went through.
            DeliveryOutcome::Delivered {} | DeliveryOutcome::Read {} => {
                ActionOutcome::ActionCompleted {
                    output: serde_json::Value::Null,
                    attempts: 1,
                }
            }
        };
        Self {
            outcome,
            dead_letter: verdict.dead_letter,
        }
    }
}

/// Runs action records and publishes their results.
pub struct ActionWorker {
    deliverer: Arc<Deliverer>,
    channels: Arc<ChannelRegistry>,
    producer: EventProducer,
    topics: ActionTopics,
    runs: ActionRuns,
}

impl ActionWorker {
    /// A worker running `channels`' actions through `deliverer`, publishing with `producer`,
    /// remembering completions in `runs`.
    pub fn new(
        deliverer: Arc<Deliverer>,
        channels: Arc<ChannelRegistry>,
        producer: EventProducer,
        topics: ActionTopics,
        runs: ActionRuns,
    ) -> Self {
        Self {
            deliverer,
            channels,
            producer,
            topics,
            runs,
        }
    }

    async fn decide(&self, record: &CommandRecord) -> Result<(ActionRequested, Ended), String> {
        let request: ActionRequested = serde_json::from_slice(&record.payload)
            .map_err(|error| format!("not an ActionRequested: {error}"))?;
        let span = tracing::Span::current();
        span.record("action_id", tracing::field::display(request.action_id));
        span.record("channel", tracing::field::display(&request.channel));
        span.record("action", tracing::field::display(&request.action));
        if let Some(outcome) = self.runs.completed(request.action_id).await {
            tracing::info!("action completed before; its result is published again");
            let ended = Ended {
                outcome,
                dead_letter: None,
            };
            return Ok((request, ended));
        }
        let ended = self.perform(&request).await;
        if let ActionOutcome::ActionCompleted { .. } = &ended.outcome {
            self.runs.record(request.action_id, &ended.outcome).await;
        }
        Ok((request, ended))
    }

    /// Runs `request` and says how it ended.
    async fn perform(&self, request: &ActionRequested) -> Ended {
        let Some(action) = self
            .channels
            .action(&request.channel, request.action.as_str())
            .cloned()
        else {
            let detail = format!(
                "channel '{}' has no action '{}'",
                request.channel, request.action
            );
            return Ended::from(Verdict::failed(FailureReason::Invalid, detail, 0));
        };
        let problems = action.check(&request.input);
        if !problems.is_empty() {
            let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
            let detail = format!("invalid input: {}", fields.join(", "));
            return Ended::from(Verdict::failed(FailureReason::Invalid, detail, 0));
        }
        let refresher = self.channels.sender(&request.channel).cloned();
        let job = Job {
            integration_id: request.integration_id,
            channel: &request.channel,
            refresher: refresher.as_deref(),
            recipient: None,
        };
        let action = action.as_ref();
        let run =
            |target| async move { action.run(&target, request.action_id, &request.input).await };
        match self.deliverer.attempts(&job, run).await {
            Ok((output, attempts)) => Ended {
                outcome: ActionOutcome::ActionCompleted { output, attempts },
                dead_letter: None,
            },
            Err(failed) => Ended::from(failed),
        }
    }

    async fn publish(&self, record: &CommandRecord, request: &ActionRequested, ended: Ended) {
        if let Some(error) = &ended.dead_letter {
            self.dead_letter(record, error).await;
        }
        let result = ActionResult::new(request, ended.outcome, Utc::now());
        count(&result);
        let traceparent =
            current_traceparent().or_else(|| record.header("traceparent").map(str::to_owned));
        let outgoing = result_record(&self.topics.results, &result, traceparent);
        until_acked("action result", || self.producer.publish(&outgoing)).await;
    }

    async fn dead_letter(&self, record: &CommandRecord, error: &str) {
        let dead: RawRecord = dead_letter(record, &self.topics.dead_letter, error, Utc::now());
        until_acked("dead letter", || self.producer.publish_raw(&dead)).await;
        metrics::counter!("switchboard_actions_dead_lettered_total").increment(1);
    }
}

#[async_trait::async_trait]
impl RecordHandler for ActionWorker {
    async fn handle(&self, record: &CommandRecord) {
        let span = tracing::info_span!(
            "outbound.action",
            messaging.system = "kafka",
            messaging.kafka.partition = record.partition,
            messaging.kafka.offset = record.offset,
            action_id = tracing::field::Empty,
            channel = tracing::field::Empty,
            action = tracing::field::Empty,
        );
        if let Some(traceparent) = record.header("traceparent") {
            set_remote_parent(&span, traceparent);
        }
        async {
            let decided = AssertUnwindSafe(self.decide(record))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err("the adapter panicked on this record".into()));
            match decided {
                Ok((request, ended)) => self.publish(record, &request, ended).await,
                Err(error) => {
                    tracing::warn!(%error, "poison action dead-lettered");
                    self.dead_letter(record, &error).await;
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// The record of `result` on `topic`.
pub fn result_record(
    topic: &str,
    result: &ActionResult,
    traceparent: Option<String>,
) -> OutgoingRecord {
    OutgoingRecord {
        topic: topic.to_owned(),
        key: result.integration_id.to_string(),
        event: CloudEvent {
            id: result.event_id,
            event_type: format!("{ACTION_TYPE_PREFIX}{}.v1", result.outcome.type_name()),
            source: format!("switchboard/adapters/{}", result.channel),
            subject: Some(result.action_id.to_string()),
            time: result.at,
            sequence: None,
            actor: None,
        },
        body: serde_json::to_vec(result).unwrap_or_default(),
        traceparent,
    }
}

fn count(result: &ActionResult) {
    let channel = result.channel.to_string();
    let action = result.action.to_string();
    match &result.outcome {
        ActionOutcome::ActionCompleted { attempts, .. } => {
            tracing::info!(attempts, "action completed");
            metrics::counter!("switchboard_actions_completed_total", "channel" => channel, "action" => action)
                .increment(1);
        }
        ActionOutcome::ActionFailed {
            reason,
            detail,
            attempts,
        } => {
            tracing::warn!(reason = reason.as_str(), %detail, attempts, "action failed");
            metrics::counter!("switchboard_actions_failed_total", "channel" => channel, "action" => action, "reason" => reason.as_str())
                .increment(1);
        }
    }
}

/// Routes each record to the worker of its topic: actions to the action worker, the rest
/// (`messages.outbound`) to the send worker.
pub struct ByTopic {
    /// The send worker.
    pub sends: Arc<Worker>,
    /// The action worker.
    pub actions: Arc<ActionWorker>,
    /// `actions.requested`.
    pub actions_topic: String,
}

#[async_trait::async_trait]
impl RecordHandler for ByTopic {
    async fn handle(&self, record: &CommandRecord) {
        if record.topic == self.actions_topic {
            RecordHandler::handle(self.actions.as_ref(), record).await
        } else {
            self.sends.handle(record).await
        }
    }
}
