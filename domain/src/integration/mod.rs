//! The `Integration` aggregate: one connected account on one channel, from creation to deletion.
//!
//! Lifecycle: `Created → Connected ⇄ Disconnected`, and `Deleted` from any state. Rules:
//! - no command is accepted on a deleted integration;
//! - connecting needs complete, valid credentials for the channel (given now or stored before);
//! - connecting a connected integration is refused (use `RefreshCredentials`);
//! - disconnecting a disconnected integration is a no-op: it succeeds and records nothing, so
//!   retried disconnects (an adapter's auth failure racing an operator) are harmless;
//! - secrets are sealed before they enter an event.

mod aggregate;
mod commands;
mod error;
mod events;
pub mod services;
#[cfg(test)]
mod tests;

pub use aggregate::{Integration, IntegrationStatus};
pub use commands::IntegrationCommand;
pub use error::IntegrationError;
pub use events::{AccountInfo, IntegrationEvent, EVENT_VERSION};
pub use services::IntegrationServices;
