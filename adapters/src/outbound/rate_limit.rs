//! A token bucket per integration, so one busy integration stays within its platform's rate
//! and never spends another integration's budget; and, where a platform also limits how fast
//! one recipient may be written to (WhatsApp's pair rate), a bucket per integration and
//! recipient, which holds back only that conversation.
//!
//! Reservations are taken up front: a caller takes a token even when the bucket is empty (it
//! goes into debt) and sleeps once for as long as the debt takes to refill, so waiters are
//! served in arrival order without polling. When a platform throttles us, [`RateLimiter::hold`]
//! closes the integration's bucket for the time the platform asked, for every conversation.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_domain::{ChannelKind, IntegrationId};
use tokio::time::Instant;

/// Buckets kept before idle (full) ones are forgotten.
const MAX_TRACKED_BUCKETS: usize = 10_000;

/// How fast one integration may send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained sends per second.
    pub per_second: f64,
    /// Sends allowed at once after a quiet period.
    pub burst: u32,
}

impl Default for RateLimit {
    /// 20 per second with bursts of 40: under Messenger's and Telegram's documented per-bot
    /// and per-page limits, well above what one inbox's conversations need.
    fn default() -> Self {
        Self {
            per_second: 20.0,
            burst: 40,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
    held_until: Option<Instant>,
}

/// Token buckets keyed by integration (or by any other key, such as integration and recipient).
#[derive(Debug)]
pub struct RateLimiter<K = IntegrationId> {
    limit: RateLimit,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// Buckets that each allow `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::default(),
        }
    }

    /// Waits until `integration` may make one more call.
    pub async fn acquire(&self, integration: K) {
        let wait = self.reserve(integration, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes one token at `now` and says how long its caller must wait before using it.
    pub fn reserve(&self, integration: K, now: Instant) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED_BUCKETS {
            let limit = self.limit;
            buckets.retain(|_, bucket| !is_idle(bucket, limit, now));
        }
        let burst = f64::from(self.limit.burst.max(1));
        let bucket = buckets.entry(integration).or_insert(Bucket {
            tokens: burst,
            refilled_at: now,
            held_until: None,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled_at);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * self.limit.per_second).min(burst);
        bucket.refilled_at = now;
        bucket.tokens -= 1.0;
        let debt = if bucket.tokens < 0.0 && self.limit.per_second > 0.0 {
            Duration::from_secs_f64(-bucket.tokens / self.limit.per_second)
        } else {
            Duration::ZERO
        };
        let held = bucket
            .held_until
            .map(|until| until.saturating_duration_since(now))
            .unwrap_or_default();
        debt.max(held)
    }

    /// Lets no call through for `integration` during `pause` (the platform asked us to wait).
    pub fn hold(&self, integration: K, pause: Duration) {
        let until = Instant::now() + pause;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(integration).or_insert(Bucket {
            tokens: f64::from(self.limit.burst.max(1)),
            refilled_at: Instant::now(),
            held_until: None,
        });
        bucket.held_until = Some(bucket.held_until.map_or(until, |held| held.max(until)));
    }
}

/// One recipient of one integration.
pub type Recipient = (IntegrationId, String);

/// Per-recipient buckets for the channels that declare a recipient rate, made on first use.
#[derive(Debug, Default)]
pub struct RecipientLimits {
    by_channel: Mutex<HashMap<ChannelKind, Arc<RateLimiter<Recipient>>>>,
}

impl RecipientLimits {
    /// The buckets of `channel`, allowing `limit` per recipient.
    pub fn of(&self, channel: &ChannelKind, limit: RateLimit) -> Arc<RateLimiter<Recipient>> {
        let mut by_channel = self.by_channel.lock().unwrap_or_else(|e| e.into_inner());
        by_channel
            .entry(channel.clone())
            .or_insert_with(|| Arc::new(RateLimiter::new(limit)))
            .clone()
    }
}

fn is_idle(bucket: &Bucket, limit: RateLimit, now: Instant) -> bool {
    let refill = now
        .saturating_duration_since(bucket.refilled_at)
        .as_secs_f64()
        * limit.per_second;
    let held = bucket.held_until.is_some_and(|until| until > now);
    !held && bucket.tokens + refill >= f64::from(limit.burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimit { per_second, burst })
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_at_once_then_calls_are_spaced_by_the_rate() {
        let limiter = limiter(2.0, 3);
        let integration = IntegrationId::new();
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire(integration).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire(integration).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        limiter.acquire(integration).await;
        assert_eq!(start.elapsed(), Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn one_integrations_debt_never_delays_another() {
        let limiter = limiter(1.0, 1);
        let busy = IntegrationId::new();
        let quiet = IntegrationId::new();
        let now = Instant::now();
        limiter.reserve(busy, now);
        assert_eq!(limiter.reserve(busy, now), Duration::from_secs(1));
        assert_eq!(limiter.reserve(busy, now), Duration::from_secs(2));
        assert_eq!(limiter.reserve(quiet, now), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_closes_the_bucket_for_the_time_the_platform_asked() {
        let limiter = limiter(100.0, 10);
        let integration = IntegrationId::new();
        limiter.hold(integration, Duration::from_secs(5));
        let start = Instant::now();
        limiter.acquire(integration).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        limiter.acquire(integration).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5), "the hold is over");
    }

    #[tokio::test(start_paused = true)]
    async fn one_recipients_pair_rate_never_delays_another_recipient() {
        let limits = RecipientLimits::default();
        let whatsapp = ChannelKind::parse("whatsapp").unwrap();
        let pair = RateLimit {
            per_second: 1.0 / 6.0,
            burst: 2,
        };
        let limiter = limits.of(&whatsapp, pair);
        let integration = IntegrationId::new();
        let (alice, bob) = (
            (integration, "alice".to_owned()),
            (integration, "bob".to_owned()),
        );
        let now = Instant::now();
        assert_eq!(limiter.reserve(alice.clone(), now), Duration::ZERO);
        assert_eq!(limiter.reserve(alice.clone(), now), Duration::ZERO);
        assert_eq!(limiter.reserve(alice, now), Duration::from_secs(6));
        assert_eq!(limiter.reserve(bob, now), Duration::ZERO);
        assert!(
            Arc::ptr_eq(&limiter, &limits.of(&whatsapp, pair)),
            "one set per channel"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_refill_over_time_up_to_the_burst() {
        let limiter = limiter(1.0, 2);
        let integration = IntegrationId::new();
        let now = Instant::now();
        limiter.reserve(integration, now);
        limiter.reserve(integration, now);
        let later = now + Duration::from_secs(60);
        assert_eq!(limiter.reserve(integration, later), Duration::ZERO);
        assert_eq!(limiter.reserve(integration, later), Duration::ZERO);
        assert_eq!(limiter.reserve(integration, later), Duration::from_secs(1));
    }
}
