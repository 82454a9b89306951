//! What one visitor may do: messages per second (a token bucket per visitor), typing
//! notices (one per [`TYPING_INTERVAL`]; more are dropped), sockets open at once, and the
//! size of one frame.

use crate::auth::rate_limit::{per_second, KeyedLimit};
use std::time::Duration;
use switchboard_domain::IntegrationId;

/// The largest frame a widget may send, in bytes (a message of
/// `MAX_TEXT_CHARS` in any script fits).
pub const MAX_FRAME_BYTES: usize = 20 * 1024;
/// Sockets one visitor may hold open at once (tabs).
pub const MAX_SOCKETS_PER_VISITOR: usize = 8;
/// Messages per second one visitor may send, sustained.
pub const MESSAGES_PER_SECOND: u32 = 2;
/// Messages one visitor may send at once after a quiet while.
pub const MESSAGES_BURST: u32 = 10;
/// The shortest time between two typing notices of one visitor that are passed on.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(2);
/// How long a widget shows an agent's typing notice, unless another renews it.
pub const AGENT_TYPING_SHOWN: Duration = Duration::from_secs(6);
/// How long a new socket may take to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The per-visitor limits.
#[derive(Clone)]
pub struct VisitorLimits {
    messages: KeyedLimit<(IntegrationId, String)>,
    typing: KeyedLimit<(IntegrationId, String)>,
    /// Sockets per visitor.
    pub max_sockets: usize,
}

impl Default for VisitorLimits {
    fn default() -> Self {
        Self {
            messages: KeyedLimit::new(per_second(MESSAGES_PER_SECOND, MESSAGES_BURST)),
            typing: KeyedLimit::new(
                governor::Quota::with_period(TYPING_INTERVAL).expect("a non-zero interval"),
            ),
            max_sockets: MAX_SOCKETS_PER_VISITOR,
        }
    }
}

impl VisitorLimits {
    /// Takes one message from the visitor's bucket, or says how long to wait.
    pub fn message(&self, integration_id: IntegrationId, visitor: &str) -> Result<(), Duration> {
        self.messages.check(&(integration_id, visitor.to_owned()))
    }

    /// Whether a typing notice of the visitor is passed on (not one within [`TYPING_INTERVAL`]
    /// of the last one passed on).
    pub fn typing(&self, integration_id: IntegrationId, visitor: &str) -> bool {
        self.typing
            .check(&(integration_id, visitor.to_owned()))
            .is_ok()
    }
}
