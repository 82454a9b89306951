//! When to try a send again, as data: a schedule of delays with jitter and a cap, stretched to
//! honour the platform's `Retry-After`. And the plain doubling backoff used when *our* side
//! (PostgreSQL, the broker) is down, which never gives up because giving up would lose a
//! command.

use std::time::Duration;

/// Delays before the 2nd, 3rd… attempt of a send: about four minutes in all, so a message is
/// either delivered while the conversation is still live or reported failed.
pub const RETRY_SCHEDULE: &[Duration] = &[
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(15),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(120),
];
/// The longest single wait. A platform asking for more (`Retry-After`) ends the retries: the
/// command is dead-lettered for a later redrive instead of holding its conversation.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);
/// Each scheduled delay is spread by up to this fraction either way, so integrations that
/// failed together do not retry together.
pub const RETRY_JITTER: f64 = 0.2;

/// A retry schedule for platform failures.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before each further attempt; its length is the number of retries.
    pub schedule: Vec<Duration>,
    /// The longest single wait.
    pub max_delay: Duration,
    /// Spread of each delay, as a fraction (0.2 = ±20 %).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            schedule: RETRY_SCHEDULE.to_vec(),
            max_delay: MAX_RETRY_DELAY,
            jitter: RETRY_JITTER,
        }
    }
}

impl RetryPolicy {
    /// How many attempts a send gets in all.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.schedule.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }

    /// The wait after attempt number `attempt` (1-based) failed, or `None` when the schedule
    /// is spent or the platform asked for more than [`RetryPolicy::max_delay`].
    pub fn delay_after(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        self.delay_with(attempt, retry_after, rand::random::<f64>())
    }

    /// [`RetryPolicy::delay_after`] with the jitter drawn as `unit` in `[0, 1)`: 0 is the
    /// shortest spread, 0.5 the scheduled delay itself.
    pub fn delay_with(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        let scheduled = *self.schedule.get(index)?;
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        let jittered = scheduled.mul_f64(factor.max(0.0));
        match retry_after {
            Some(asked) if asked > self.max_delay => None,
            Some(asked) => Some(jittered.max(asked).min(self.max_delay)),
            None => Some(jittered.min(self.max_delay)),
        }
    }
}

/// A doubling backoff for our own infrastructure: 100 ms, 200 ms, … up to 10 s, forever.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

/// The first infrastructure backoff.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest infrastructure backoff.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: FIRST_BACKOFF,
        }
    }
}

impl Backoff {
    /// The next wait, doubling up to [`MAX_BACKOFF`].
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        delay
    }

    /// Sleeps for the next wait.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_schedule_is_followed_then_spent() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_attempts(), 8);
        for (attempt, expected) in (1..).zip(RETRY_SCHEDULE) {
            assert_eq!(policy.delay_with(attempt, None, 0.5), Some(*expected));
        }
        assert_eq!(policy.delay_with(8, None, 0.5), None);
        assert_eq!(policy.delay_with(0, None, 0.5), None);
    }

    #[test]
    fn jitter_spreads_each_delay_within_its_fraction() {
        let policy = RetryPolicy::default();
        let about = |delay: Option<Duration>, expected: Duration| {
            delay.unwrap().abs_diff(expected) < Duration::from_millis(1)
        };
        assert!(about(policy.delay_with(3, None, 0.0), SECOND * 4));
        assert!(about(policy.delay_with(3, None, 1.0), SECOND * 6));
        for _ in 0..100 {
            let delay = policy.delay_after(3, None).unwrap();
            assert!(delay >= SECOND * 4 && delay <= SECOND * 6 + Duration::from_millis(1));
        }
    }

    #[test]
    fn retry_after_stretches_a_delay_but_never_past_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay_with(1, Some(SECOND * 9), 0.5),
            Some(SECOND * 9)
        );
        assert_eq!(
            policy.delay_with(6, Some(SECOND), 0.5),
            Some(SECOND * 60),
            "a shorter Retry-After does not shorten the schedule"
        );
        assert_eq!(
            policy.delay_with(1, Some(MAX_RETRY_DELAY), 0.5),
            Some(MAX_RETRY_DELAY)
        );
        assert_eq!(
            policy.delay_with(1, Some(MAX_RETRY_DELAY + SECOND), 0.5),
            None,
            "a wait past the cap ends the retries"
        );
        let capped = RetryPolicy {
            schedule: vec![SECOND * 600],
            ..RetryPolicy::default()
        };
        assert_eq!(capped.delay_with(1, None, 0.9), Some(MAX_RETRY_DELAY));
    }

    #[test]
    fn infrastructure_backoff_doubles_up_to_its_cap() {
        let mut backoff = Backoff::default();
        let delays: Vec<_> = (0..9).map(|_| backoff.next_delay()).collect();
        assert_eq!(delays[0], FIRST_BACKOFF);
        assert_eq!(delays[1], FIRST_BACKOFF * 2);
        assert_eq!(delays[8], MAX_BACKOFF);
    }
}
