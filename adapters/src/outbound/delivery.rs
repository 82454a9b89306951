//! Delivering one `SendMessage`: find its integration (remembered briefly, see
//! [`TargetCache`]), wait for the integration's rate limit and, where the channel has one, the
//! recipient's; call the channel's sender, and act on the class of each failure until the message is sent
//! or cannot be. Knows nothing of Kafka: it returns a [`Verdict`] for the worker to publish.

use crate::channels::sender::{SendError, SendTarget};
use crate::channels::ChannelRegistry;
use crate::outbound::auth::{AuthRecovery, Recovery};
use crate::outbound::rate_limit::{RateLimit, RateLimiter, RecipientLimits};
use crate::outbound::retry::{Backoff, RetryPolicy};
use crate::outbound::target_cache::TargetCache;
use crate::outbound::targets::{SendTargets, TargetLookup};
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::integration::IntegrationStatus;
use switchboard_domain::message::{DeliveryOutcome, FailureReason, SendMessage};

/// How a command ended, and whether it belongs on the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Sent or failed.
    pub outcome: DeliveryOutcome,
    /// Why the command is dead-lettered too (retries ran out: a redrive may succeed).
    pub dead_letter: Option<String>,
}

impl Verdict {
    fn failed(reason: FailureReason, detail: impl Into<String>, attempts: u32) -> Self {
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
    targets: TargetCache,
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
            targets: TargetCache::new(targets, target_ttl),
            channels,
            retry,
            limiter,
            recipients: RecipientLimits::default(),
        }
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
        let mut attempts = 0;
        let mut renewed = false;
        loop {
            let target = match self.target(command, attempts).await {
                Ok(target) => target,
                Err(verdict) => return verdict,
            };
            // The recipient first: a send waiting on one recipient must not hold a token of
            // the integration's meanwhile.
            if let Some(pair) = sender.recipient_rate() {
                let limiter = self.recipients.of(&command.channel, pair);
                limiter.acquire(recipient(command)).await;
            }
            self.limiter.acquire(target.integration_id).await;
            attempts += 1;
            let error = match sender.send(&target, command).await {
                Ok(sent) => {
                    return Verdict {
                        outcome: DeliveryOutcome::Sent {
                            platform_message_id: sent.platform_message_id,
                            attempts,
                        },
                        dead_letter: None,
                    }
                }
                Err(error) => error,
            };
            match &error {
                SendError::Retryable { .. }
                | SendError::RateLimited { .. }
                | SendError::RecipientThrottled { .. }
                | SendError::AppRefused(_) => {
                    if let Some(verdict) = self
                        .wait_to_retry(command, &target, sender.recipient_rate(), &error, attempts)
                        .await
                    {
                        return verdict;
                    }
                }
                SendError::Auth(cause) => {
                    let recovery = if renewed {
                        self.auth.give_up(target.integration_id, cause).await
                    } else {
                        renewed = true;
                        self.auth.recover(&target, sender.as_ref(), cause).await
                    };
                    self.targets.forget(target.integration_id);
                    match recovery {
                        Recovery::Renewed => {}
                        Recovery::Disconnected => {
                            return Verdict::failed(
                                FailureReason::Auth,
                                error.to_string(),
                                attempts,
                            )
                        }
                        Recovery::Later(refresh_error) => {
                            // Nothing was renewed: the next refused send may refresh again.
                            renewed = false;
                            let rate = sender.recipient_rate();
                            if let Some(verdict) = self
                                .wait_to_retry(command, &target, rate, &refresh_error, attempts)
                                .await
                            {
                                return verdict;
                            }
                        }
                    }
                }
                SendError::Permanent(_) => {
                    return Verdict::failed(FailureReason::Permanent, error.to_string(), attempts)
                }
                SendError::Invalid(_) => {
                    return Verdict::failed(FailureReason::Invalid, error.to_string(), attempts)
                }
            }
        }
    }

    /// Sleeps before the next attempt, or says the retries are over.
    async fn wait_to_retry(
        &self,
        command: &SendMessage,
        target: &SendTarget,
        recipient_rate: Option<RateLimit>,
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
                if let Some(pair) = recipient_rate {
                    // Meta rarely says how long: wait at least one token's refill.
                    let refill = Duration::from_secs_f64(1.0 / pair.per_second.max(1e-3));
                    let limiter = self.recipients.of(&command.channel, pair);
                    limiter.hold(recipient(command), asked.unwrap_or(refill).max(refill));
                }
            }
            _ => {}
        }
        metrics::counter!("switchboard_outbound_retries_total", "channel" => target.channel.to_string())
            .increment(1);
        tracing::info!(%error, attempt = attempts, retry_in_ms = delay.as_millis() as u64, "send failed, will retry");
        tokio::time::sleep(delay).await;
        None
    }

    /// The command's integration, ready to send, or the verdict that it cannot be.
    /// (Read through the cache: recovery from refused credentials reads the store itself.)
    async fn target(&self, command: &SendMessage, attempts: u32) -> Result<SendTarget, Verdict> {
        let mut backoff = Backoff::default();
        let lookup = loop {
            match self.targets.lookup(command.integration_id).await {
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
            TargetLookup::Ready(target) if target.channel == command.channel => return Ok(target),
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

/// The per-recipient rate key of a command.
fn recipient(command: &SendMessage) -> (switchboard_domain::IntegrationId, String) {
    (command.integration_id, command.recipient.clone())
}
