//! The inbound path after the HTTP edge: which integration a webhook is for (with the secrets
//! to verify it), and the publishing of its verified items to `messages.received`.

pub mod publisher;
pub mod targets;

pub use publisher::{InboundPublisher, IngestError};
pub use targets::{WebhookTarget, WebhookTargets};
