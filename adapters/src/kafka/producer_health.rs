//! What the producer's recent deliveries say about the broker, for readiness: a broker that
//! answers metadata requests but does not acknowledge records is not ready.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The order of the last acknowledged and the last failed delivery of one producer (and of
/// the producers that replaced it), and when the last failure happened.
#[derive(Debug, Default)]
pub struct DeliveryHealth {
    /// Numbers from one counter (zero: never), so which outcome came last is never a tie.
    last_acknowledged: AtomicU64,
    last_failed: AtomicU64,
    /// Milliseconds since the process's first use of this type, plus one.
    last_failed_at: AtomicU64,
}

fn next_outcome() -> u64 {
    static OUTCOMES: AtomicU64 = AtomicU64::new(1);
    OUTCOMES.fetch_add(1, Ordering::Relaxed)
}

/// Why the producer's deliveries make the service unready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unhealthy {
    /// The last delivery failed, `ago` before the check, and none was acknowledged since.
    #[error("the last delivery failed {} ms ago and none was acknowledged since", .ago.as_millis())]
    DeliveriesFailing {
        /// How long before the check the last failure was recorded.
        ago: Duration,
    },
}

fn now_ticks() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

impl DeliveryHealth {
    /// Records an acknowledged delivery.
    pub fn acknowledged(&self) {
        self.last_acknowledged
            .fetch_max(next_outcome(), Ordering::Relaxed);
    }

    /// Records a delivery that failed (not acknowledged in time, refused, or purged).
    pub fn failed(&self) {
        self.last_failed_at.store(now_ticks(), Ordering::Relaxed);
        self.last_failed
            .fetch_max(next_outcome(), Ordering::Relaxed);
    }

    /// `Ok` unless the latest outcome is a failure less than `memory` old. An older failure is
    /// forgotten, so a service nobody sends to becomes ready again once the broker answers.
    pub fn check(&self, memory: Duration) -> Result<(), Unhealthy> {
        let failed = self.last_failed.load(Ordering::Relaxed);
        let acknowledged = self.last_acknowledged.load(Ordering::Relaxed);
        if failed == 0 || acknowledged >= failed {
            return Ok(());
        }
        let failed_at = self.last_failed_at.load(Ordering::Relaxed);
        let ago = Duration::from_millis(now_ticks().saturating_sub(failed_at));
        if ago < memory {
            Err(Unhealthy::DeliveriesFailing { ago })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_makes_it_unhealthy_until_an_acknowledgement_follows() {
        let health = DeliveryHealth::default();
        assert_eq!(health.check(Duration::from_secs(60)), Ok(()));
        health.acknowledged();
        health.failed();
        assert!(matches!(
            health.check(Duration::from_secs(60)),
            Err(Unhealthy::DeliveriesFailing { .. })
        ));
        health.acknowledged();
        assert_eq!(health.check(Duration::from_secs(60)), Ok(()));
    }

    #[test]
    fn a_failure_older_than_the_memory_is_forgotten() {
        let health = DeliveryHealth::default();
        health.failed();
        assert!(health.check(Duration::from_secs(60)).is_err());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(health.check(Duration::from_millis(10)), Ok(()));
    }
}
