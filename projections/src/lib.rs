//! Switchboard's read models, built only from events consumed from Kafka: the inbox
//! (inboxes, conversations, messages, delivery status), the settings (integrations per
//! workspace), the actions (each requested action's status and output) and an example
//! analytics consumer. Each lives in its own PostgreSQL schema, written together with its
//! Kafka offsets, and can be rebuilt by replaying its topics.
#![forbid(unsafe_code)]

pub mod actions;
pub mod analytics;
pub mod engine;
pub mod inbox;
pub mod settings;

pub use engine::{Projection, ProjectionError, Projector, ReplayProgress};

use std::sync::Arc;

/// The projections the API reads, run by `switchboard serve`.
pub fn served() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(settings::SettingsProjection),
        Arc::new(inbox::InboxProjection),
        Arc::new(actions::ActionsProjection),
    ]
}

/// Every projection this build knows, by name: the served ones and the analytics example
/// (run by `switchboard analytics`).
pub fn all() -> Vec<Arc<dyn Projection>> {
    let mut all = served();
    all.push(Arc::new(analytics::AnalyticsProjection));
    all
}

/// The projection named `name`.
pub fn by_name(name: &str) -> Option<Arc<dyn Projection>> {
    all().into_iter().find(|p| p.name() == name)
}
