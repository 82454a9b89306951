//! What the aggregate needs from outside, as traits: the channel catalog, the secret sealer and
//! the clock. Production wiring lives in the adapters; tests pass fixed ones.

use crate::channel::ChannelCatalog;
use crate::secret::SecretSealer;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The aggregate's collaborators.
#[derive(Clone)]
pub struct IntegrationServices {
    /// Known channels and their auth specs.
    pub channels: Arc<dyn ChannelCatalog>,
    /// Seals secret auth fields.
    pub sealer: Arc<dyn SecretSealer>,
    /// Stamps events.
    pub clock: Arc<dyn Clock>,
}
