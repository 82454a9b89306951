//! Delivering one `SendMessage` (and, through the same [`Deliverer::attempts`], running one
//! action): find its integration (remembered briefly, see
//! [`TargetCache`]), wait for the integration's rate limit and, where the channel has one, the
//! recipient's; call the channel's sender, and act on the class of each failure until the message is sent
//! or cannot be. Knows nothing of Kafka: it returns a [`Verdict`] for the worker to publish.

use crate::channels::sender::{ChannelSender, SendError, SendTarget};
use crate::channels::ChannelRegistry;
use crate::outbound::auth::{AuthRecovery, Recovery};
use crate::outbound::latency;
use crate::outbound::rate_limit::{RateLimit, RateLimiter, RecipientLimits};
use crate::outbound::retry::{Backoff, RetryPolicy};
use crate::outbound::target_cache::TargetCache;
use crate::outbound::targets::{SendTargets, TargetLookup};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_domain::integration::IntegrationStatus;
use switchboard_domain::message::{DeliveryOutcome, FailureReason, SendMessage};
use switchboard_domain::{ChannelKind, IntegrationId};
use tracing::Instrument;

/// How a command ended, and whether it belongs on the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Sent or failed.
    pub outcome: DeliveryOutcome,
    /// Why the command is dead-lettered too (retries ran out: a redrive may succeed).
    pub dead_letter: Option<String>,
}

impl Verdict {
    /// A failure of class `reason` after `attempts` calls.
    pub fn failed(reason: FailureReason, detail: impl Into<String>, attempts: u32) -> Self {
        Self {
            outcome: DeliveryOutcome::Failed {
                reason,
                detail: detail.into(),
                attempts,
            },
            dead_letter: None,
        }
    }

    fn dead_lettered(mut self) -> Self {
        if let DeliveryOutcome::Failed { detail, .. } = &self.outcome {
            self.dead_letter = Some(detail.clone());
        }
        self
    }
}

/// Sends commands through the registry's senders, with retries, rate limits and auth recovery.
pub struct Deliverer {
    channels: Arc<ChannelRegistry>,
    targets: Arc<TargetCache>,
    retry: RetryPolicy,
    limiter: Arc<RateLimiter>,
    recipients: RecipientLimits,
    auth: AuthRecovery,
}

impl Deliverer {
    /// A deliverer over `channels`' senders and `targets`' integrations, remembering a
    /// connected integration for `target_ttl` (credential recovery always reads `targets`).
    pub fn new(
        channels: Arc<ChannelRegistry>,
        targets: Arc<dyn SendTargets>,
        retry: RetryPolicy,
        limiter: Arc<RateLimiter>,
        target_ttl: Duration,
    ) -> Self {
        Self {
            auth: AuthRecovery::new(targets.clone()),
            targets: Arc::new(TargetCache::new(targets, target_ttl)),
            channels,
            retry,
            limiter,
            recipients: RecipientLimits::default(),
        }
    }

    /// The memory of looked-up integrations, to forget one another process changed.
    pub fn target_cache(&self) -> Arc<TargetCache> {
        self.targets.clone()
    }

    /// Delivers `command` and says how it ended. Waits out retries, so it may take minutes.
    pub async fn deliver(&self, command: &SendMessage) -> Verdict {
        if let Err(invalid) = command.check() {
            return Verdict::failed(FailureReason::Invalid, invalid.to_string(), 0);
        }
        let Some(sender) = self.channels.sender(&command.channel).cloned() else {
            let detail = format!("channel '{}' cannot send messages", command.channel);
            return Verdict::failed(FailureReason::Invalid, detail, 0);
        };
        let sender = sender.as_ref();
        let job = Job {
            integration_id: command.integration_id,
            channel: &command.channel,
            refresher: Some(sender),
            recipient: sender
                .recipient_rate()
                .map(|pair| (pair, recipient(command))),
        };
        let channel = command.channel.as_str();
        let send = |target: SendTarget| {
            let span = tracing::info_span!(
                "platform.call",
                channel,
                integration_id = %target.integration_id,
                outcome = tracing::field::Empty,
            );
            async move {
                let started = Instant::now();
                let sent = sender.send(&target, command).await;
                latency::record_platform_call(channel, started, sent.is_ok());
                let outcome = if sent.is_ok() { "sent" } else { "error" };
                tracing::Span::current().record("outcome", outcome);
                sent
            }
            .instrument(span)
        };
        let started = Instant::now();
        let verdict = match self.attempts(&job, send).await {
            Ok((sent, attempts)) => Verdict {
                outcome: DeliveryOutcome::Sent {
                    platform_message_id: sent.platform_message_id,
                    attempts,
                },
                dead_letter: None,
            },
            Err(failure) => failure,
        };
        latency::record_delivery(channel, started, &verdict.outcome);
        verdict
    }

    /// Calls `attempt` on `job`'s integration until it succeeds or cannot: the rate limits
    /// first, then the call; temporary failures wait on the retry schedule, refused
    /// credentials are renewed once through `job.refresher` (or the integration disconnected).
    /// Answers the output and the number of calls made, or the failed verdict. Sends and
    /// actions alike run through here.
    pub async fn attempts<'a, T, F, Fut>(
        &self,
        job: &Job<'a>,
        attempt: F,
    ) -> Result<(T, u32), Verdict>
    where
        F: Fn(SendTarget) -> Fut,
        Fut: std::future::Future<Output = Result<T, SendError>>,
    {
        let mut attempts = 0;
        let mut renewed = false;
        loop {
            let target = self.target(job, attempts).await?;
            // The recipient first: a call waiting on one recipient must not hold a token of
            // the integration's meanwhile.
            if let Some((pair, key)) = &job.recipient {
                let limiter = self.recipients.of(job.channel, *pair);
                limiter.acquire(key.clone()).await;
            }
            self.limiter.acquire(target.integration_id).await;
            attempts += 1;
            let error = match attempt(target.clone()).await {
                Ok(output) => return Ok((output, attempts)),
                Err(error) => error,
            };
            match &error {
                SendError::Retryable { .. }
                | SendError::RateLimited { .. }
                | SendError::RecipientThrottled { .. }
                | SendError::AppRefused(_) => {
                    if let Some(verdict) = self.wait_to_retry(job, &target, &error, attempts).await
                    {
                        return Err(verdict);
                    }
                }
                SendError::Auth(cause) => {
                    let recovery = match job.refresher {
                        Some(refresher) if !renewed => {
                            renewed = true;
                            self.auth.recover(&target, refresher, cause).await
                        }
                        _ => self.auth.give_up(target.integration_id, cause).await,
                    };
                    self.targets.forget(target.integration_id);
                    match recovery {
                        Recovery::Renewed => {}
                        Recovery::Disconnected => {
                            return Err(Verdict::failed(
                                FailureReason::Auth,
                                error.to_string(),
                                attempts,
                            ))
                        }
                        Recovery::Later(refresh_error) => {
                            // Nothing was renewed: the next refused call may refresh again.
                            renewed = false;
                            if let Some(verdict) = self
                                .wait_to_retry(job, &target, &refresh_error, attempts)
                                .await
                            {
                                return Err(verdict);
                            }
                        }
                    }
                }
                SendError::Permanent(_) => {
                    return Err(Verdict::failed(
                        FailureReason::Permanent,
                        error.to_string(),
                        attempts,
                    ))
                }
                SendError::Invalid(_) => {
                    return Err(Verdict::failed(
                        FailureReason::Invalid,
                        error.to_string(),
                        attempts,
                    ))
                }
            }
        }
    }

    /// Sleeps before the next attempt, or says the retries are over.
    async fn wait_to_retry(
        &self,
        job: &Job<'_>,
        target: &SendTarget,
        error: &SendError,
        attempts: u32,
    ) -> Option<Verdict> {
        let throttled = matches!(
            error,
            SendError::RateLimited { .. } | SendError::RecipientThrottled { .. }
        );
        let Some(delay) = self.retry.delay_after(attempts, error.retry_after()) else {
            let reason = if throttled {
                FailureReason::RateLimited
            } else {
                FailureReason::RetryableExhausted
            };
            return Some(Verdict::failed(reason, error.to_string(), attempts).dead_lettered());
        };
        match (error, error.retry_after()) {
            (SendError::RateLimited { .. }, Some(pause)) => {
                self.limiter.hold(target.integration_id, pause)
            }
            (SendError::RecipientThrottled { .. }, asked) => {
                if let Some((pair, key)) = &job.recipient {
                    // Meta rarely says how long: wait at least one token's refill.
                    let refill = Duration::from_secs_f64(1.0 / pair.per_second.max(1e-3));
                    let limiter = self.recipients.of(job.channel, *pair);
                    limiter.hold(key.clone(), asked.unwrap_or(refill).max(refill));
                }
            }
            _ => {}
        }
        metrics::counter!("switchboard_outbound_retries_total", "channel" => target.channel.to_string())
            .increment(1);
        tracing::info!(%error, attempt = attempts, retry_in_ms = delay.as_millis() as u64, "call failed, will retry");
        tokio::time::sleep(delay).await;
        None
    }

    /// The job's integration, ready to call, or the verdict that it cannot be.
    /// (Read through the cache: recovery from refused credentials reads the store itself.)
    async fn target(&self, job: &Job<'_>, attempts: u32) -> Result<SendTarget, Verdict> {
        let mut backoff = Backoff::default();
        let lookup = loop {
            match self.targets.lookup(job.integration_id).await {
                Ok(lookup) => break lookup,
                Err(error) if error.is_retryable() => {
                    tracing::warn!(%error, "integration store unavailable, retrying");
                    backoff.wait().await;
                }
                Err(error) => {
                    let detail = format!("integration cannot be read: {error}");
                    return Err(
                        Verdict::failed(FailureReason::Permanent, detail, attempts).dead_lettered()
                    );
                }
            }
        };
        let (reason, detail) = match lookup {
            TargetLookup::Ready(target) if &target.channel == job.channel => return Ok(target),
            TargetLookup::Ready(target) => (
                FailureReason::Invalid,
                format!("integration is a '{}' integration", target.channel),
            ),
            TargetLookup::Unknown => (FailureReason::Invalid, "unknown integration".to_owned()),
            TargetLookup::Inactive(IntegrationStatus::Deleted) => (
                FailureReason::Permanent,
                "integration was deleted".to_owned(),
            ),
            TargetLookup::Inactive(status) => (
                FailureReason::Auth,
                format!("integration is not connected ({status:?}); reconnect it"),
            ),
        };
        Err(Verdict::failed(reason, detail, attempts))
    }
}

/// What the engine needs to know to call an integration on a job's behalf.
pub struct Job<'a> {
    /// The integration called.
    pub integration_id: IntegrationId,
    /// Its channel (a record naming another channel than the integration's is invalid).
    pub channel: &'a ChannelKind,
    /// What renews refused credentials (the channel's sender), if anything does.
    pub refresher: Option<&'a dyn ChannelSender>,
    /// The per-recipient rate and key, where the channel limits it.
    pub recipient: Option<(RateLimit, (IntegrationId, String))>,
}

/// The per-recipient rate key of a command.
fn recipient(command: &SendMessage) -> (switchboard_domain::IntegrationId, String) {
    (command.integration_id, command.recipient.clone())
}
