//! The `PlatformApp` aggregate: one channel's platform credentials (the platform app every
//! workspace's integrations of that channel share: client id and secret, webhook secrets),
//! managed by the operator. One aggregate per channel, its id the channel's registry name.
//!
//! Lifecycle: `Absent → Unverified → Verified | Refused`, back to `Unverified` on each change
//! of the fields, and `Absent` again when deleted. Rules:
//! - the fields are checked against the channel's declared platform fields, and a put is the
//!   whole set: every required field present, no unknown one;
//! - a put of the fields already stored records nothing (the start-up bootstrap repeats itself);
//! - a verification outcome is recorded only for the version it checked, so an outcome that
//!   raced a newer put is refused as stale;
//! - secrets are sealed before they enter an event.

mod aggregate;
mod commands;
mod error;
mod events;
#[cfg(test)]
mod tests;

pub use aggregate::{PlatformApp, PlatformStatus};
pub use commands::{PlatformCommand, VerificationOutcome};
pub use error::PlatformError;
pub use events::{PlatformEvent, VerificationCheck};

/// The seal owner of a channel's platform secrets (`platform:<channel>`).
pub fn seal_owner(channel: &crate::ChannelKind) -> String {
    format!("platform:{channel}")
}
