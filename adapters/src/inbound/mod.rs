//! The inbound path after the HTTP edge: which integration a webhook is for (by the id in its
//! URL, or by the account an item delivered to a platform app's shared URL names, with the
//! secrets to verify it), and the publishing of its verified items to `messages.received`.

pub mod accounts;
pub mod publisher;
pub mod targets;

pub use accounts::AccountOwners;
pub use publisher::{InboundPublisher, IngestError};
pub use targets::{WebhookTarget, WebhookTargets};
