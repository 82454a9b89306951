//! The topics Switchboard owns, and their idempotent creation.

use crate::kafka::settings::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::time::Duration;

/// The names of Switchboard's topics. A prefix keeps test runs (or tenants of a shared
/// cluster) apart; production uses none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Inbound `MessageReceived` and inbound receipts.
    pub received: String,
    /// `SendMessage` commands for the adapters.
    pub outbound: String,
    /// Delivery status of our sends.
    pub status: String,
    /// The Integration aggregate's events, from the outbox.
    pub lifecycle: String,
    /// Agents' actions on conversations (read, resolved, reopened).
    pub activity: String,
    /// `ActionRequested`: integration actions for the adapters (key = integration id).
    pub actions_requested: String,
    /// `ActionCompleted` / `ActionFailed`: what became of them (key = integration id).
    pub action_results: String,
}

impl Topics {
    /// Topic names under `prefix` (empty for none).
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            received: format!("{prefix}messages.received"),
            outbound: format!("{prefix}messages.outbound"),
            status: format!("{prefix}messages.status"),
            lifecycle: format!("{prefix}integrations.lifecycle"),
            activity: format!("{prefix}conversations.activity"),
            actions_requested: format!("{prefix}actions.requested"),
            action_results: format!("{prefix}actions.results"),
        }
    }

    /// The prefix these names were made with (consumer groups are prefixed the same way).
    pub fn prefix(&self) -> &str {
        self.lifecycle
            .strip_suffix("integrations.lifecycle")
            .unwrap_or_default()
    }

    /// The dead-letter companion of every topic (`<name>.dlq`), as `specs` creates them.
    pub fn dead_letter_topics(&self) -> Vec<String> {
        self.specs(1)
            .into_iter()
            .map(|spec| spec.name)
            .filter(|name| name.ends_with(".dlq"))
            .collect()
    }

    /// Every topic with its dead-letter companion, as specs with `partitions` each.
    pub fn specs(&self, partitions: i32) -> Vec<TopicSpec> {
        [
            &self.received,
            &self.outbound,
            &self.status,
            &self.lifecycle,
            &self.activity,
            &self.actions_requested,
            &self.action_results,
        ]
        .into_iter()
        .flat_map(|name| [name.clone(), format!("{name}.dlq")])
        .map(|name| TopicSpec { name, partitions })
        .collect()
    }
}

impl Default for Topics {
    fn default() -> Self {
        Self::with_prefix("")
    }
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Its name.
    pub name: String,
    /// Its partition count.
    pub partitions: i32,
}

/// What `ensure_topics` found for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    /// It was created now.
    Created(String),
    /// It was there already.
    Existed(String),
}

/// Creates every topic that does not exist yet, with unlimited retention (the topics are the
/// history projections replay). Existing topics are left as they are.
pub async fn ensure_topics(
    settings: &KafkaSettings,
    specs: &[TopicSpec],
    replication_factor: i32,
) -> Result<Vec<TopicOutcome>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = settings.client_config().create()?;
    let new_topics: Vec<NewTopic> = specs
        .iter()
        .map(|spec| {
            NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(replication_factor),
            )
            .set("retention.ms", "-1")
            .set("retention.bytes", "-1")
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&new_topics, &options).await?;
    results
        .into_iter()
        .map(|result| match result {
            Ok(name) => Ok(TopicOutcome::Created(name)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => Ok(TopicOutcome::Existed(name)),
            Err((_, code)) => Err(KafkaError::AdminOp(code)),
        })
        .collect()
}
