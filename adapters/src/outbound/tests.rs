//! The deliverer's decisions with a scripted sender and an in-memory integration, on paused
//! time: retries follow the schedule and `Retry-After`, permanent failures stop at once, and
//! refused credentials are refreshed once per integration or end in a disconnect.

use crate::channels::sender::{ChannelSender, SendError, SendTarget, SentMessage};
use crate::channels::webhook::WebhookSecrets;
use crate::channels::{messenger, ChannelRegistry, RegisteredChannel};
use crate::outbound::delivery::{Deliverer, Verdict};
use crate::outbound::rate_limit::{RateLimit, RateLimiter};
use crate::outbound::retry::RetryPolicy;
use crate::outbound::targets::{SendTargets, TargetLookup};
use crate::store::StoreError;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::IntegrationStatus;
use switchboard_domain::message::{
    conversation_key, DeliveryOutcome, FailureReason, OutboundContent, SendMessage,
};
use switchboard_domain::{IntegrationId, SecretString};
use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);

/// One integration in memory: its status, version and token, and what was done to it.
struct Integration {
    id: IntegrationId,
    state: Mutex<(IntegrationStatus, u64, String)>,
    disconnects: Mutex<Vec<String>>,
}

#[async_trait]
impl SendTargets for Integration {
    async fn lookup(&self, id: IntegrationId) -> Result<TargetLookup, StoreError> {
        assert_eq!(id, self.id);
        let (status, version, token) = self.state.lock().unwrap().clone();
        if status != IntegrationStatus::Connected {
            return Ok(TargetLookup::Inactive(status));
        }
        let secrets = [("page_access_token".to_owned(), SecretString::new(token))].into();
        Ok(TargetLookup::Ready(SendTarget {
            integration_id: id,
            workspace_id: "acme".parse().unwrap(),
            channel: switchboard_domain::ChannelKind::parse("messenger").unwrap(),
            version,
            api_base: "http://unused".into(),
            secrets: WebhookSecrets::new(secrets, Default::default()),
        }))
    }

    async fn store_credentials(&self, _: IntegrationId, auth: AuthInput) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        state.1 += 1;
        state.2 = auth.0["page_access_token"].as_str().unwrap().to_owned();
        Ok(())
    }

    async fn disconnect(&self, _: IntegrationId, reason: String) -> Result<(), StoreError> {
        self.state.lock().unwrap().0 = IntegrationStatus::Disconnected;
        self.disconnects.lock().unwrap().push(reason);
        Ok(())
    }
}

/// A sender answering from a script (then success), remembering the tokens it was given.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<Result<(), SendError>>>,
    calls: Mutex<Vec<(Instant, String)>>,
    refresh_to: Option<&'static str>,
    refreshes: Mutex<u32>,
    /// How many refreshes fail first as the platform being down.
    refresh_outages: Mutex<u32>,
}

#[async_trait]
impl ChannelSender for Scripted {
    fn default_api_base(&self) -> &'static str {
        "http://unused"
    }

    async fn send(&self, target: &SendTarget, _: &SendMessage) -> Result<SentMessage, SendError> {
        let token = target.secret("page_access_token")?.expose().to_owned();
        self.calls
            .lock()
            .unwrap()
            .push((Instant::now(), token.clone()));
        let answer = self.answers.lock().unwrap().pop_front().unwrap_or(Ok(()));
        if answer.is_ok() && token == "expired" {
            return Err(SendError::Auth("Graph error 190: token expired".into()));
        }
        answer.map(|()| SentMessage {
            platform_message_id: "m_1".into(),
        })
    }

    async fn refresh_credentials(&self, _: &SendTarget) -> Result<Option<AuthInput>, SendError> {
        *self.refreshes.lock().unwrap() += 1;
        tokio::time::sleep(SECOND).await;
        {
            let mut outages = self.refresh_outages.lock().unwrap();
            if *outages > 0 {
                *outages -= 1;
                return Err(SendError::retryable("token endpoint answered HTTP 503"));
            }
        }
        Ok(self
            .refresh_to
            .map(|token| AuthInput([("page_access_token".to_owned(), token.into())].into())))
    }
}

struct Setup {
    integration: Arc<Integration>,
    sender: Arc<Scripted>,
    deliverer: Deliverer,
}

fn setup(token: &str, sender: Scripted) -> Setup {
    let integration = Arc::new(Integration {
        id: IntegrationId::new(),
        state: Mutex::new((IntegrationStatus::Connected, 3, token.to_owned())),
        disconnects: Mutex::default(),
    });
    let sender = Arc::new(sender);
    let registry = ChannelRegistry::new(vec![RegisteredChannel {
        sender: Some(sender.clone() as Arc<dyn ChannelSender>),
        ..messenger::channel()
    }]);
    let policy = RetryPolicy {
        schedule: vec![SECOND, SECOND * 2, SECOND * 4],
        max_delay: SECOND * 60,
        jitter: 0.0,
    };
    let limit = RateLimit {
        per_second: 1000.0,
        burst: 1000,
    };
    let deliverer = Deliverer::new(
        Arc::new(registry),
        integration.clone(),
        policy,
        Arc::new(RateLimiter::new(limit)),
        crate::outbound::target_cache::DEFAULT_TARGET_CACHE_TTL,
    );
    Setup {
        integration,
        sender,
        deliverer,
    }
}

fn scripted(answers: Vec<Result<(), SendError>>) -> Scripted {
    Scripted {
        answers: Mutex::new(answers.into()),
        ..Scripted::default()
    }
}

fn command(setup: &Setup, recipient: &str) -> SendMessage {
    let id = setup.integration.id;
    SendMessage {
        message_id: uuid::Uuid::new_v4(),
        integration_id: id,
        workspace_id: "acme".parse().unwrap(),
        channel: switchboard_domain::ChannelKind::parse("messenger").unwrap(),
        conversation_key: conversation_key(id, recipient),
        recipient: recipient.into(),
        content: OutboundContent::text("hello"),
        idempotency_key: None,
        requested_at: chrono::Utc::now(),
    }
}

fn unavailable() -> Result<(), SendError> {
    Err(SendError::retryable("HTTP 503"))
}

fn failed(verdict: &Verdict) -> (FailureReason, u32) {
    match verdict.outcome {
        DeliveryOutcome::Failed {
            reason, attempts, ..
        } => (reason, attempts),
        _ => panic!("expected a failure, got {verdict:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_temporary_failure_is_retried_on_schedule_until_the_platform_recovers() {
    let setup = setup("good", scripted(vec![unavailable(), unavailable()]));
    let start = Instant::now();
    let verdict = setup.deliverer.deliver(&command(&setup, "u1")).await;
    assert_eq!(
        verdict.outcome,
        DeliveryOutcome::Sent {
            platform_message_id: "m_1".into(),
            attempts: 3
        }
    );
    assert_eq!(verdict.dead_letter, None);
    let calls: Vec<Duration> = setup
        .sender
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|(at, _)| *at - start)
        .collect();
    assert_eq!(calls, vec![Duration::ZERO, SECOND, SECOND * 3]);
}

#[tokio::test(start_paused = true)]
async fn retries_that_run_out_fail_the_message_and_dead_letter_it() {
    let setup = setup("good", scripted(vec![unavailable(); 10]));
    let start = Instant::now();
    let verdict = setup.deliverer.deliver(&command(&setup, "u1")).await;
    assert_eq!(failed(&verdict), (FailureReason::RetryableExhausted, 4));
    assert_eq!(start.elapsed(), SECOND * 7);
    assert_eq!(
        verdict.dead_letter.as_deref(),
        Some("temporary platform failure: HTTP 503")
    );
}

#[tokio::test(start_paused = true)]
async fn a_throttle_waits_as_long_as_the_platform_asks() {
    let throttled = Err(SendError::RateLimited {
        retry_after: Some(SECOND * 30),
        detail: "Graph error 613".into(),
    });
    let setup = setup("good", scripted(vec![throttled]));
    let start = Instant::now();
    let verdict = setup.deliverer.deliver(&command(&setup, "u1")).await;
    assert!(matches!(
        verdict.outcome,
        DeliveryOutcome::Sent { attempts: 2, .. }
    ));
    assert_eq!(start.elapsed(), SECOND * 30);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_refusal_fails_at_once_without_retrying() {
    let refused = Err(SendError::Permanent("Graph error 551".into()));
    let setup = setup("good", scripted(vec![refused]));
    let start = Instant::now();
    let verdict = setup.deliverer.deliver(&command(&setup, "u1")).await;
    assert_eq!(failed(&verdict), (FailureReason::Permanent, 1));
    assert_eq!(verdict.dead_letter, None);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn refused_credentials_without_a_refresh_disconnect_the_integration() {
    let setup = setup("expired", Scripted::default());
    let verdict = setup.deliverer.deliver(&command(&setup, "u1")).await;
    assert_eq!(failed(&verdict), (FailureReason::Auth, 1));
    let disconnects = setup.integration.disconnects.lock().unwrap().clone();
    assert_eq!(disconnects.len(), 1);
    assert!(disconnects[0].contains("token expired"), "{disconnects:?}");
    let next = setup.deliverer.deliver(&command(&setup, "u2")).await;
    assert_eq!(
        failed(&next),
        (FailureReason::Auth, 0),
        "no call on a disconnected integration"
    );
}

#[tokio::test(start_paused = true)]
async fn conversations_failing_together_refresh_the_token_once_and_resend_with_it() {
    let setup = setup(
        "expired",
        Scripted {
            refresh_to: Some("fresh"),
            ..Scripted::default()
        },
    );
    let (one, two) = (command(&setup, "u1"), command(&setup, "u2"));
    let (first, second) =
        tokio::join!(setup.deliverer.deliver(&one), setup.deliverer.deliver(&two));
    for verdict in [first, second] {
        assert!(
            matches!(verdict.outcome, DeliveryOutcome::Sent { attempts: 2, .. }),
            "{verdict:?}"
        );
    }
    assert_eq!(*setup.sender.refreshes.lock().unwrap(), 1);
    let tokens: Vec<String> = setup
        .sender
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|(_, t)| t.clone())
        .collect();
    assert_eq!(tokens, ["expired", "expired", "fresh", "fresh"]);
    assert!(setup.integration.disconnects.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refreshed_token_that_is_refused_too_disconnects() {
    let setup = setup(
        "expired",
        Scripted {
            refresh_to: Some("expired"),
            ..Scripted::default()
        },
    );
    let verdict = setup.deliverer.deliver(&command(&setup, "u1")).await;
    assert_eq!(failed(&verdict), (FailureReason::Auth, 2));
    assert_eq!(setup.integration.disconnects.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_command_fails_as_invalid_without_a_call() {
    let setup = setup("good", Scripted::default());
    let mut foreign = command(&setup, "u1");
    foreign.conversation_key = "someone-else:u1".into();
    let verdict = setup.deliverer.deliver(&foreign).await;
    assert_eq!(failed(&verdict), (FailureReason::Invalid, 0));
    assert!(setup.sender.calls.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refresh_failing_for_now_retries_the_send_instead_of_disconnecting() {
    let setup = setup(
        "expired",
        Scripted {
            refresh_to: Some("fresh"),
            refresh_outages: Mutex::new(1),
            ..Scripted::default()
        },
    );
    let verdict = setup.deliverer.deliver(&command(&setup, "u1")).await;
    assert!(
        matches!(verdict.outcome, DeliveryOutcome::Sent { attempts: 3, .. }),
        "{verdict:?}"
    );
    assert_eq!(*setup.sender.refreshes.lock().unwrap(), 2);
    assert!(setup.integration.disconnects.lock().unwrap().is_empty());
}
