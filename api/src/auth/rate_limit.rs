//! Abuse limits on callers: a token bucket per credential (governor's GCRA), and counts of
//! failed verifications per client address and target (a webhook URL; or the API's credential
//! checks) that, once over their quota, refuse that address there for a while. Both answer 429
//! problem+json with `Retry-After`. For webhooks the URL is part of the key because platforms
//! deliver for every tenant from shared addresses: one integration with a wrong secret must not
//! pause the others' deliveries, while guessing one integration's secret is still stopped.

use crate::error::Problem;
use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keyed states kept before the idle ones are dropped.
const PRUNE_ABOVE: usize = 50_000;

/// A token bucket per key.
#[derive(Clone)]
pub struct KeyedLimit<K: Hash + Eq + Clone> {
    limiter: Arc<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    /// `quota` for each key.
    pub fn new(quota: Quota) -> Self {
        Self {
            limiter: Arc::new(RateLimiter::keyed(quota)),
        }
    }

    /// Takes one request from `key`'s bucket, or says how long until one is there.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.limiter.len() > PRUNE_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// `per_second` sustained with bursts of `burst` (both at least 1).
pub fn per_second(per_second: u32, burst: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// The 429 answer for a wait of `wait`.
pub fn too_many_requests(wait: Duration, detail: &str) -> Problem {
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "Too many requests",
        detail,
    )
    .retry_after(wait.as_secs_f64().ceil().max(1.0) as u64)
}

/// A source address on one webhook URL.
type Source = (IpAddr, String);

/// Source addresses that failed verification too often on a target.
#[derive(Clone)]
pub struct VerificationFailures {
    failures: KeyedLimit<Source>,
    blocked: Arc<Mutex<HashMap<Source, Instant>>>,
    /// The 429's detail.
    detail: &'static str,
}

/// The target of the API's credential checks, for [`VerificationFailures`].
pub const CREDENTIALS: &str = "credentials";

impl VerificationFailures {
    /// Up to `per_minute` failures per address (bursts of as many), then a pause; `detail`
    /// says what failed, in the 429.
    pub fn new(per_minute: u32, detail: &'static str) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            failures: KeyedLimit::new(Quota::per_minute(per_minute)),
            blocked: Arc::default(),
            detail,
        }
    }

    /// Failed webhook verifications, up to `per_minute` per address and URL.
    pub fn webhooks(per_minute: u32) -> Self {
        Self::new(
            per_minute,
            "too many webhooks from this address failed verification",
        )
    }

    /// Failed credential checks (401s), up to `per_minute` per address.
    pub fn credentials(per_minute: u32) -> Self {
        Self::new(
            per_minute,
            "too many requests from this address presented a bad credential",
        )
    }

    /// 429 while `address` is paused on `url`.
    pub fn admit(&self, address: Option<IpAddr>, url: &str) -> Result<(), Problem> {
        let Some(address) = address else {
            return Ok(());
        };
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        // Nobody paused, the usual case: no key to build.
        if blocked.is_empty() {
            return Ok(());
        }
        match blocked.get(&(address, url.to_owned())) {
            Some(until) if *until > Instant::now() => {
                Err(too_many_requests(*until - Instant::now(), self.detail))
            }
            _ => Ok(()),
        }
    }

    /// Passes `problem` on, counting it as a failure of `address` on `url` when it is a 401
    /// (a refused credential): past the quota 429 replaces it. Unlike [`Self::admit`], nothing
    /// refuses the address's next good credential.
    pub fn refused(&self, address: Option<IpAddr>, url: &str, problem: Problem) -> Problem {
        if problem.status == StatusCode::UNAUTHORIZED.as_u16() {
            self.failed(address, url, problem)
        } else {
            problem
        }
    }

    /// Counts a failure of `address` on `url`; past the quota it is paused there and 429
    /// replaces `problem`.
    pub fn failed(&self, address: Option<IpAddr>, url: &str, problem: Problem) -> Problem {
        let Some(address) = address else {
            return problem;
        };
        metrics::counter!("switchboard_webhook_verification_failures_total").increment(1);
        let source = (address, url.to_owned());
        match self.failures.check(&source) {
            Ok(()) => problem,
            Err(wait) => {
                let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                if blocked.len() > PRUNE_ABOVE {
                    blocked.retain(|_, until| *until > now);
                }
                blocked.insert(source, now + wait);
                tracing::warn!(%address, target = %url, "source paused after repeated verification failures");
                too_many_requests(wait, self.detail)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_names_the_wait() {
        let limit = KeyedLimit::new(per_second(1, 2));
        assert!(limit.check(&"a").is_ok());
        assert!(limit.check(&"a").is_ok());
        let wait = limit.check(&"a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(limit.check(&"b").is_ok(), "keys have buckets of their own");
    }

    #[test]
    fn an_address_is_paused_after_its_failures() {
        let failures = VerificationFailures::webhooks(2);
        let address = Some(IpAddr::from([203, 0, 113, 7]));
        let unauthorized = || Problem::new(StatusCode::UNAUTHORIZED, "bad-signature", "Bad", "bad");
        assert_eq!(failures.failed(address, "/a", unauthorized()).status, 401);
        assert_eq!(failures.failed(address, "/a", unauthorized()).status, 401);
        assert!(failures.admit(address, "/a").is_ok());
        assert_eq!(failures.failed(address, "/a", unauthorized()).status, 429);
        assert_eq!(failures.admit(address, "/a").unwrap_err().status, 429);
        assert!(
            failures.admit(address, "/b").is_ok(),
            "other URLs are unaffected"
        );
        assert!(failures
            .admit(Some(IpAddr::from([203, 0, 113, 8])), "/a")
            .is_ok());
    }
}
