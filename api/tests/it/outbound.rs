//! The outbound adapters end to end: `SendMessage` commands on `messages.outbound` (mock
//! Kafka cluster), a real integration in PostgreSQL, and a fake Graph API on a local port
//! speaking Meta's documented bodies, scripted per recipient to fail, throttle or be slow.

pub mod fake_graph;

use crate::helpers::{read_topic, TestApp, TestKafka, TEST_PLATFORM_CREDENTIALS};
use axum::http::StatusCode;
use fake_graph::{calls, fake_graph, graph_error, script, until_started, Call};
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_adapters::kafka::{
    CloudEvent, ConsumedRecord, EventProducer, OutgoingRecord, RawRecord,
};
use switchboard_adapters::outbound::redrive::DeadLetters;
use switchboard_adapters::outbound::retry::RetryPolicy;
use switchboard_domain::message::{conversation_key, OutboundContent, SendMessage};
use switchboard_domain::SecretString;

const READ_TIMEOUT: Duration = Duration::from_secs(20);
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const PAGE_TOKEN: &str = "EAAB-page-token-secret";

/// The app, a connected Messenger integration pointed at the fake, and the running engine.
struct Outbound {
    app: TestApp,
    integration: String,
    producer: EventProducer,
    stop: tokio::sync::watch::Sender<bool>,
    engine: tokio::task::JoinHandle<()>,
}

async fn start(kafka: &TestKafka, base: &str) -> Outbound {
    start_with_grace(kafka, base, Duration::from_secs(10)).await
}

async fn start_with_grace(kafka: &TestKafka, base: &str, grace: Duration) -> Outbound {
    let credentials = format!("{TEST_PLATFORM_CREDENTIALS};messenger.api_base={base}");
    let app = TestApp::new_with(kafka, |c| {
        c.platform_credentials = Some(SecretString::new(credentials));
    })
    .await;
    let auth = json!({"page_id": "1122334455", "page_access_token": PAGE_TOKEN});
    let integration = app.connected("acme", "messenger", auth).await;
    let producer = app.app.as_ref().unwrap().state.producer.clone();
    let (stop, engine) = run_engine(&app, grace);
    Outbound {
        app,
        integration,
        producer,
        stop,
        engine,
    }
}

/// Starts an engine with short retries, stopping within `grace` once told.
pub fn run_engine(
    app: &TestApp,
    grace: Duration,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    run_engine_with(
        app,
        grace,
        app.config.outbound_max_in_flight,
        switchboard_adapters::outbound::dispatcher::PAUSE_AFTER,
    )
}

/// [`run_engine`] holding back at `max_in_flight` unfinished records, and pausing its
/// partitions when that lasts `pause_after`.
fn run_engine_with(
    app: &TestApp,
    grace: Duration,
    max_in_flight: usize,
    pause_after: Duration,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    crate::helpers::stoppable_outbound_engine(app, |settings| {
        settings.max_in_flight = max_in_flight;
        settings.pause_after = pause_after;
        settings.retry = RetryPolicy {
            schedule: vec![
                Duration::from_millis(100),
                Duration::from_millis(200),
                Duration::from_millis(200),
            ],
            max_delay: Duration::from_secs(5),
            jitter: 0.0,
        };
        settings.shutdown_grace = grace;
    })
}

impl Outbound {
    fn command(&self, recipient: &str, text: &str) -> SendMessage {
        let integration_id = self.integration.parse().unwrap();
        SendMessage {
            message_id: uuid::Uuid::new_v4(),
            integration_id,
            workspace_id: "acme".parse().unwrap(),
            channel: switchboard_domain::ChannelKind::parse("messenger").unwrap(),
            conversation_key: conversation_key(integration_id, recipient),
            recipient: recipient.into(),
            content: OutboundContent::text(text),
            idempotency_key: None,
            requested_at: chrono::Utc::now(),
        }
    }

    async fn send(&self, command: &SendMessage) {
        let record = OutgoingRecord {
            topic: self.app.config.topics().outbound,
            key: command.conversation_key.clone(),
            event: CloudEvent {
                id: command.message_id,
                event_type: "switchboard.message.SendMessage.v1".into(),
                source: "switchboard/tests".into(),
                subject: Some(command.conversation_key.clone()),
                time: command.requested_at,
                sequence: None,
                actor: None,
            },
            body: serde_json::to_vec(command).unwrap(),
            traceparent: Some(TRACEPARENT.into()),
        };
        self.producer.publish(&record).await.unwrap();
    }

    async fn statuses(&self, count: usize) -> Vec<(ConsumedRecord, Value)> {
        let topic = self.app.config.topics().status;
        read_topic(&self.app.config.kafka_brokers, &topic, count, READ_TIMEOUT)
            .await
            .into_iter()
            .map(|r| {
                let body = serde_json::from_slice(&r.payload).unwrap();
                (r, body)
            })
            .collect()
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.engine.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_message_ends_as_message_sent_with_the_platforms_message_id() {
    let kafka = TestKafka::new();
    let (fake, base) = fake_graph().await;
    let outbound = start(&kafka, &base).await;
    let command = outbound.command("1254477777772919", "Your order shipped");
    outbound.send(&command).await;
    let statuses = outbound.statuses(1).await;
    let (record, body) = &statuses[0];
    assert_eq!(body["type"], "MessageSent");
    assert_eq!(body["message_id"], command.message_id.to_string());
    assert_eq!(body["platform_message_id"], "m_1254477777772919_0");
    assert_eq!(body["attempts"], 1);
    assert_eq!(
        record.key.as_deref(),
        Some(command.conversation_key.as_str())
    );
    let event = record.event.as_ref().unwrap();
    assert_eq!(event.event_type, "switchboard.message.MessageSent.v1");
    assert_eq!(event.id.to_string(), body["event_id"].as_str().unwrap());
    let traceparent = record.header("traceparent").unwrap();
    assert!(
        traceparent.contains("4bf92f3577b34da6a3ce929d0e0e4736"),
        "{traceparent}"
    );
    let call = &calls(&fake)[0];
    assert_eq!(call.path, "/1122334455/messages");
    assert_eq!(call.authorization, format!("Bearer {PAGE_TOKEN}"));
    assert_eq!(call.text, "Your order shipped");
    outbound.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_failure_then_recovery_is_sent_once_after_several_attempts() {
    let kafka = TestKafka::new();
    let (fake, base) = fake_graph().await;
    let unavailable = graph_error(503, 2, "Service temporarily unavailable");
    let throttled = graph_error(400, 613, "Calls to this api have exceeded the rate limit.");
    script(&fake, "u1", vec![unavailable, throttled]);
    let outbound = start(&kafka, &base).await;
    outbound.send(&outbound.command("u1", "hello")).await;
    let topic = outbound.app.config.topics().status;
    let brokers = &outbound.app.config.kafka_brokers;
    let statuses = read_topic(brokers, &topic, 2, Duration::from_secs(10)).await;
    let body: Value = serde_json::from_slice(&statuses[0].payload).unwrap();
    assert_eq!(body["type"], "MessageSent");
    assert_eq!(body["attempts"], 3);
    assert_eq!(statuses.len(), 1, "one outcome, however many attempts");
    assert_eq!(calls(&fake).len(), 3);
    outbound.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_fails_the_message_at_once() {
    let kafka = TestKafka::new();
    let (fake, base) = fake_graph().await;
    script(
        &fake,
        "gone",
        vec![graph_error(
            400,
            551,
            "This person isn't available right now.",
        )],
    );
    let outbound = start(&kafka, &base).await;
    outbound.send(&outbound.command("gone", "hello")).await;
    let statuses = outbound.statuses(1).await;
    let body = &statuses[0].1;
    assert_eq!(body["type"], "MessageFailed");
    assert_eq!(body["reason"], "permanent");
    assert_eq!(body["attempts"], 1);
    assert!(body["detail"].as_str().unwrap().contains("551"));
    assert_eq!(calls(&fake).len(), 1);
    outbound.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_disconnect_the_integration_and_fail_the_message_with_auth() {
    let kafka = TestKafka::new();
    let (fake, base) = fake_graph().await;
    let expired = graph_error(
        400,
        190,
        "Error validating access token: Session has expired",
    );
    script(&fake, "u1", vec![expired]);
    let outbound = start(&kafka, &base).await;
    outbound.send(&outbound.command("u1", "hello")).await;
    let statuses = outbound.statuses(1).await;
    let body = &statuses[0].1;
    assert_eq!(body["type"], "MessageFailed");
    assert_eq!(body["reason"], "auth");
    assert!(!body.to_string().contains(PAGE_TOKEN));
    let uri = format!("/v1/workspaces/acme/integrations/{}", outbound.integration);
    let (status, view) = outbound.app.call("GET", &uri, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "disconnected", "{view}");
    assert!(view["last_disconnect_reason"]
        .as_str()
        .unwrap()
        .contains("190"));
    outbound.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_dead_lettered_with_its_error_and_original_headers() {
    let kafka = TestKafka::new();
    let (_fake, base) = fake_graph().await;
    let outbound = start(&kafka, &base).await;
    let topics = outbound.app.config.topics();
    let poison = RawRecord {
        topic: topics.outbound.clone(),
        key: Some(b"some:conversation".to_vec()),
        payload: b"{not json".to_vec(),
        headers: vec![
            ("traceparent".into(), Some(TRACEPARENT.as_bytes().to_vec())),
            ("x-origin".into(), Some(b"legacy-bot".to_vec())),
        ],
    };
    outbound.producer.publish_raw(&poison).await.unwrap();
    let dlq = format!("{}.dlq", topics.outbound);
    let dead = read_topic(&outbound.app.config.kafka_brokers, &dlq, 1, READ_TIMEOUT).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, b"{not json");
    assert_eq!(dead[0].key.as_deref(), Some("some:conversation"));
    assert_eq!(dead[0].header("x-origin").as_deref(), Some("legacy-bot"));
    assert_eq!(dead[0].header("traceparent").as_deref(), Some(TRACEPARENT));
    assert!(dead[0]
        .header("dlq_error")
        .unwrap()
        .starts_with("not a SendMessage"));
    assert_eq!(dead[0].header("dlq_topic"), Some(topics.outbound.clone()));
    outbound.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_command_is_dead_lettered_and_a_redrive_delivers_it() {
    let kafka = TestKafka::new();
    let (fake, base) = fake_graph().await;
    let down = graph_error(500, 1, "An unknown error occurred");
    script(
        &fake,
        "u1",
        vec![down.clone(), down.clone(), down.clone(), down],
    );
    let outbound = start(&kafka, &base).await;
    let command = outbound.command("u1", "hello");
    outbound.send(&command).await;
    let failed = outbound.statuses(1).await;
    assert_eq!(failed[0].1["reason"], "retryable_exhausted");
    assert_eq!(failed[0].1["attempts"], 4);
    let dead_letters = DeadLetters::new(outbound.app.config.kafka(), &outbound.app.config.topics());
    let listed = dead_letters.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    let described = switchboard_api::outbound::describe(&listed[0]);
    assert_eq!(described["message_id"], command.message_id.to_string());
    assert!(described["error"]
        .as_str()
        .unwrap()
        .contains("unknown error"));
    assert_eq!(dead_letters.redrive(&outbound.producer).await.unwrap(), 1);
    assert_eq!(
        dead_letters.redrive(&outbound.producer).await.unwrap(),
        0,
        "redriven once"
    );
    let statuses = outbound.statuses(2).await;
    let sent: Vec<_> = statuses
        .iter()
        .filter(|(_, b)| b["type"] == "MessageSent")
        .collect();
    assert_eq!(sent.len(), 1, "{statuses:?}");
    assert_eq!(sent[0].1["message_id"], command.message_id.to_string());
    outbound.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_conversation_holds_up_no_other_and_each_keeps_its_order() {
    let kafka = TestKafka::new();
    let (fake, base) = fake_graph().await;
    fake.lock()
        .unwrap()
        .slow
        .insert("slow".into(), Duration::from_millis(1500));
    let outbound = start(&kafka, &base).await;
    for (recipient, text) in [
        ("slow", "s1"),
        ("slow", "s2"),
        ("fast", "f1"),
        ("fast", "f2"),
        ("fast", "f3"),
    ] {
        outbound.send(&outbound.command(recipient, text)).await;
    }
    let statuses = outbound.statuses(5).await;
    assert_eq!(statuses.len(), 5);
    assert!(statuses.iter().all(|(_, b)| b["type"] == "MessageSent"));
    let calls = calls(&fake);
    let of = |recipient: &str| -> Vec<Call> {
        let mut mine: Vec<Call> = calls
            .iter()
            .filter(|c| c.recipient == recipient)
            .cloned()
            .collect();
        mine.sort_by_key(|c| c.received);
        mine
    };
    let (slow, fast) = (of("slow"), of("fast"));
    let texts = |calls: &[Call]| calls.iter().map(|c| c.text.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&slow), ["s1", "s2"]);
    assert_eq!(texts(&fast), ["f1", "f2", "f3"]);
    assert!(
        slow[1].received >= slow[0].answered,
        "s2 was sent before s1 was finished"
    );
    assert!(
        fast[2].answered < slow[0].answered,
        "the fast conversation waited for the slow one"
    );
    outbound.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_cut_short_by_shutdown_is_redone_after_a_restart_and_then_committed() {
    let kafka = TestKafka::new();
    let (fake, base) = fake_graph().await;
    fake.lock()
        .unwrap()
        .slow
        .insert("u1".into(), Duration::from_secs(2));
    let mut outbound = start_with_grace(&kafka, &base, Duration::ZERO).await;
    let command = outbound.command("u1", "hello");
    outbound.send(&command).await;
    until_started(&fake, 1).await;
    outbound.stop.send(true).unwrap();
    (&mut outbound.engine).await.unwrap();
    let topic = outbound.app.config.topics().outbound;
    assert_eq!(
        committed_total(&outbound.app, &topic),
        0,
        "not finished, not committed"
    );
    (outbound.stop, outbound.engine) = run_engine(&outbound.app, Duration::from_secs(10));
    let statuses = outbound.statuses(1).await;
    assert_eq!(statuses[0].1["message_id"], command.message_id.to_string());
    assert_eq!(statuses[0].1["type"], "MessageSent");
    assert_eq!(
        calls(&fake).len(),
        1,
        "the first call was cut off unanswered"
    );
    outbound.stop.send(true).unwrap();
    (&mut outbound.engine).await.unwrap();
    assert_eq!(
        committed_total(&outbound.app, &topic),
        1,
        "finished, so committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holding_back_and_pausing_at_the_in_flight_limit_lose_no_command_and_keep_each_order() {
    // At once: every wait at the limit pauses and resumes the partitions; by default, a short
    // wait only stops taking records.
    for pause_after in [
        Duration::ZERO,
        switchboard_adapters::outbound::dispatcher::PAUSE_AFTER,
    ] {
        every_command_is_sent_once_in_order_at_the_limit(pause_after).await;
    }
}

async fn every_command_is_sent_once_in_order_at_the_limit(pause_after: Duration) {
    const CONVERSATIONS: usize = 30;
    const PER_CONVERSATION: usize = 10;
    const MAX_IN_FLIGHT: usize = 40;
    let kafka = TestKafka::new();
    let (fake, base) = fake_graph().await;
    let mut outbound = start(&kafka, &base).await;
    outbound.stop.send(true).unwrap();
    (&mut outbound.engine).await.unwrap();
    for turn in 0..PER_CONVERSATION {
        for conversation in 0..CONVERSATIONS {
            let command = outbound.command(&format!("u{conversation}"), &turn.to_string());
            outbound.send(&command).await;
        }
    }
    (outbound.stop, outbound.engine) = run_engine_with(
        &outbound.app,
        Duration::from_secs(10),
        MAX_IN_FLIGHT,
        pause_after,
    );
    let total = CONVERSATIONS * PER_CONVERSATION;
    let statuses = outbound.statuses(total).await;
    let sent: std::collections::HashSet<_> = statuses
        .iter()
        .filter(|(_, body)| body["type"] == "MessageSent")
        .map(|(_, body)| body["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        sent.len(),
        total,
        "every command ends as MessageSent once ({pause_after:?})"
    );
    let calls = calls(&fake);
    assert_eq!(
        calls.len(),
        total,
        "one platform call per command ({pause_after:?})"
    );
    for conversation in 0..CONVERSATIONS {
        let recipient = format!("u{conversation}");
        let mut mine: Vec<&Call> = calls.iter().filter(|c| c.recipient == recipient).collect();
        mine.sort_by_key(|c| c.received);
        let texts: Vec<usize> = mine.iter().map(|c| c.text.parse().unwrap()).collect();
        assert_eq!(
            texts,
            (0..PER_CONVERSATION).collect::<Vec<_>>(),
            "{recipient}"
        );
    }
    outbound.stop().await;
}

/// The offsets the engine's group committed on `topic`, summed over partitions.
fn committed_total(app: &TestApp, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let group = switchboard_api::outbound::settings(&app.config).group_id;
    let consumer: BaseConsumer = app
        .config
        .kafka()
        .client_config()
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in 0..3 {
        partitions.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(partitions, Duration::from_secs(10))
        .unwrap();
    committed
        .elements()
        .iter()
        .filter_map(|e| e.offset().to_raw())
        .filter(|offset| *offset > 0)
        .sum()
}
