//! The outbound engine: consumes `SendMessage` commands from `messages.outbound`, sends each
//! through its channel's sender, and publishes `MessageSent` / `MessageFailed` to
//! `messages.status` (key = conversation key, CloudEvents headers, the command's trace
//! continued). Poison commands and commands whose retries ran out also go to
//! `messages.outbound.dlq`, from where `switchboard dlq redrive` brings them back. The same
//! engine runs integration actions from `actions.requested` ([`actions`]).
//!
//! # Guarantees
//! - **At-least-once.** A command's offset is committed only after its outcome (status event,
//!   and dead letter where there is one) was acknowledged by the broker; offsets are committed
//!   per partition up to the oldest unfinished record. A crash or a rebalance therefore
//!   re-sends at most the commands that were in flight, never loses one.
//! - **Duplicates are recognisable.** A status event's id is a UUIDv5 of the message id and
//!   the outcome, so a repeated outcome carries the same `ce_id`; consumers de-duplicate on it.
//!   A platform call that succeeded just before a crash is repeated (no platform here offers
//!   an idempotency key for sends).
//! - **Per-conversation order, no head-of-line blocking.** One conversation's commands are
//!   sent one at a time in offset order; other conversations proceed meanwhile (see
//!   [`dispatcher`]). A command being retried holds back only its own conversation.
//! - **Failures are classified, not guessed.** Temporary failures are retried on
//!   [`retry::RETRY_SCHEDULE`] (jittered, capped, honouring `Retry-After`); permanent ones fail
//!   at once; refused credentials are refreshed once (single-flight per integration) and
//!   otherwise the integration is disconnected through its aggregate.
//! - **Our own outages never fail a message.** PostgreSQL or the broker being down is waited
//!   out with a capped backoff; only the platform's answers decide an outcome.

pub mod actions;
pub mod auth;
pub mod commands;
pub mod delivery;
pub mod dispatcher;
pub mod dlq;
pub mod latency;
pub mod offsets;
pub mod rate_limit;
pub mod record;
pub mod redrive;
pub mod retry;
pub mod status_record;
pub mod target_cache;
pub mod targets;
#[cfg(test)]
mod tests;
pub mod worker;

use crate::channels::ChannelRegistry;
use crate::kafka::{EventProducer, KafkaSettings, Topics};
use crate::store::ActionRuns;
use actions::{ActionTopics, ActionWorker, ByTopic};
use delivery::Deliverer;
use dispatcher::{DispatchError, Dispatcher};
use rate_limit::{RateLimit, RateLimiter};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use retry::RetryPolicy;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use targets::SendTargets;
use worker::{Worker, WorkerTopics};

/// The consumer group of the engine, after the topic prefix.
pub const DEFAULT_GROUP: &str = "switchboard-adapters";

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// Consumer group id.
    pub group_id: String,
    /// Records consumed but not finished before the engine stops taking more.
    pub max_in_flight: usize,
    /// How long it may stay full before it pauses its partitions (and polls on).
    pub pause_after: Duration,
    /// When to retry temporary failures.
    pub retry: RetryPolicy,
    /// Per-integration send rate.
    pub rate_limit: RateLimit,
    /// How long a looked-up integration is used before it is read again.
    pub target_ttl: Duration,
    /// How long running sends may finish after shutdown was asked.
    pub shutdown_grace: Duration,
    /// Extra consumer properties (session timeouts in tests, security settings…).
    pub consumer_overrides: BTreeMap<String, String>,
}

impl OutboundSettings {
    /// Defaults, with the consumer group under the topics' prefix.
    pub fn for_topics(topics: &Topics) -> Self {
        Self {
            group_id: format!("{}{DEFAULT_GROUP}", prefix_of(topics)),
            max_in_flight: 10_000,
            pause_after: dispatcher::PAUSE_AFTER,
            retry: RetryPolicy::default(),
            rate_limit: RateLimit::default(),
            target_ttl: target_cache::DEFAULT_TARGET_CACHE_TTL,
            shutdown_grace: Duration::from_secs(10),
            consumer_overrides: BTreeMap::new(),
        }
    }
}

/// The assembled engine, ready to run.
pub struct OutboundEngine {
    consumer: StreamConsumer,
    dispatcher: Dispatcher,
    target_cache: Arc<target_cache::TargetCache>,
}

impl OutboundEngine {
    /// Builds the engine and subscribes to `topics.outbound` and `topics.actions_requested`; nothing is consumed until
    /// [`OutboundEngine::run`].
    pub fn new(
        kafka: &KafkaSettings,
        topics: &Topics,
        settings: OutboundSettings,
        channels: Arc<ChannelRegistry>,
        targets: Arc<dyn SendTargets>,
        producer: EventProducer,
    ) -> Result<Self, KafkaError> {
        let runs = ActionRuns::none();
        Self::with_action_runs(kafka, topics, settings, channels, targets, producer, runs)
    }

    /// [`OutboundEngine::new`], remembering completed actions in `runs` so a redelivered
    /// request is not performed twice.
    pub fn with_action_runs(
        kafka: &KafkaSettings,
        topics: &Topics,
        settings: OutboundSettings,
        channels: Arc<ChannelRegistry>,
        targets: Arc<dyn SendTargets>,
        producer: EventProducer,
        runs: ActionRuns,
    ) -> Result<Self, KafkaError> {
        let mut config = kafka.client_config();
        config
            .set("group.id", &settings.group_id)
            .set("enable.auto.commit", "true")
            // A crash re-sends what was sent since the last commit: commit every second, not
            // librdkafka's default 5 s.
            .set("auto.commit.interval.ms", "1000")
            // A crashed engine's partitions move to another after 10 s, not the default 45 s.
            .set("session.timeout.ms", "10000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        for (key, value) in &settings.consumer_overrides {
            config.set(key, value);
        }
        let consumer: StreamConsumer = config.create()?;
        consumer.subscribe(&[&topics.outbound, &topics.actions_requested])?;
        let limiter = Arc::new(RateLimiter::new(settings.rate_limit));
        let deliverer = Arc::new(Deliverer::new(
            channels.clone(),
            targets,
            settings.retry,
            limiter,
            settings.target_ttl,
        ));
        let target_cache = deliverer.target_cache();
        let worker_topics = WorkerTopics {
            status: topics.status.clone(),
            dead_letter: format!("{}.dlq", topics.outbound),
        };
        let sends = Arc::new(Worker::new(
            deliverer.clone(),
            producer.clone(),
            worker_topics,
        ));
        let action_topics = ActionTopics {
            results: topics.action_results.clone(),
            dead_letter: format!("{}.dlq", topics.actions_requested),
        };
        let actions = Arc::new(ActionWorker::new(
            deliverer,
            channels,
            producer,
            action_topics,
            runs,
        ));
        let worker = Arc::new(ByTopic {
            sends,
            actions,
            actions_topic: topics.actions_requested.clone(),
        });
        Ok(Self {
            consumer,
            target_cache,
            dispatcher: Dispatcher::new(
                worker,
                settings.max_in_flight,
                settings.pause_after,
                settings.shutdown_grace,
            ),
        })
    }

    /// What forgets the integrations this engine remembers when the lifecycle topic says they
    /// changed (see `lifecycle_watch`).
    pub fn lifecycle_listener(&self) -> Arc<dyn crate::lifecycle_watch::LifecycleListener> {
        self.target_cache.clone()
    }

    /// Sends until `shutdown` resolves, then lets running sends finish (within the grace
    /// period) and commits what finished.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), DispatchError> {
        tracing::info!("outbound adapters running");
        self.dispatcher.run(&self.consumer, shutdown).await
    }
}

/// The prefix the topic names were made with: consumer groups carry it too, so test runs and
/// tenants of a shared cluster keep their groups apart.
pub fn prefix_of(topics: &Topics) -> &str {
    topics
        .outbound
        .strip_suffix("messages.outbound")
        .unwrap_or_default()
}
