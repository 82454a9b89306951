//! Projections against real PostgreSQL and the mock Kafka cluster: webhooks end in the inbox
//! API, duplicates change nothing, a killed projector resumes to identical tables, pages walk
//! every row once, workspaces are isolated, delivery status only moves forward, and a replay
//! rebuilds and hands over without a gap or a double.

use crate::conversation_actions::{publish_activity, time};
use crate::helpers::{TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::channels::webhook::hmac_sha256;
use switchboard_adapters::inbound::InboundPublisher;
use switchboard_adapters::kafka::{CloudEvent, EventProducer, KafkaSettings, OutgoingRecord};
use switchboard_adapters::store::OutboxRelay;
use switchboard_domain::message::{
    conversation_key, Contact, ConversationAction, DeliveryOutcome, DeliveryUpdate, FailureReason,
    InboundEvent, InboundKind, MessageContent, OutboundContent, SendMessage,
};
use switchboard_domain::{ChannelKind, IntegrationId};
use switchboard_projections::engine::{replay, ProjectorSettings};
use switchboard_projections::inbox::InboxProjection;
use switchboard_projections::{Projection, Projector};
use tokio::task::JoinHandle;

/// Runs the live projector of `projection` until the returned handle is aborted.
pub(crate) fn spawn_projector(
    app: &TestApp,
    projection: Arc<dyn Projection>,
    max_batch: usize,
) -> JoinHandle<()> {
    let projector = Projector::new(
        app.pool(),
        projection,
        KafkaSettings::new(app.config.kafka_brokers.clone()),
        app.config.topics(),
        ProjectorSettings {
            max_batch,
            max_wait: Duration::from_millis(5),
            ..ProjectorSettings::default()
        },
    );
    tokio::spawn(async move {
        projector.run(std::future::pending()).await.unwrap();
    })
}

pub(crate) async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

pub(crate) fn inbound(
    integration: IntegrationId,
    contact: &str,
    mid: &str,
    text: &str,
    at_ms: i64,
    echo: bool,
) -> InboundEvent {
    InboundEvent::from_draft(
        integration,
        "acme".parse().unwrap(),
        ChannelKind::parse("messenger").unwrap(),
        switchboard_domain::message::InboundDraft {
            contact: Contact {
                platform_id: contact.into(),
                display_name: Some(format!("Contact {contact}")),
                thread_id: None,
            },
            platform_timestamp: time(at_ms),
            kind: InboundKind::MessageReceived {
                platform_message_id: mid.into(),
                content: MessageContent::Text { text: text.into() },
                reply_to: None,
                is_echo: echo,
            },
            raw: json!({}),
        },
    )
}

fn receipt(
    integration: IntegrationId,
    contact: &str,
    kind: InboundKind,
    at_ms: i64,
) -> InboundEvent {
    InboundEvent::from_draft(
        integration,
        "acme".parse().unwrap(),
        ChannelKind::parse("messenger").unwrap(),
        switchboard_domain::message::InboundDraft {
            contact: Contact::new(contact),
            platform_timestamp: time(at_ms),
            kind,
            raw: json!({}),
        },
    )
}

pub(crate) async fn publish(app: &TestApp, events: &[InboundEvent]) {
    let producer = EventProducer::new(&app.config.kafka()).unwrap();
    let publisher = InboundPublisher::new(
        producer,
        app.config.topics().received,
        Duration::from_secs(5),
    );
    publisher.publish(events, None).await.unwrap();
}

fn meta_signature(body: &[u8]) -> String {
    let mac = hmac_sha256(b"meta-app-secret", &[body]);
    format!(
        "sha256={}",
        mac.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

async fn post_message(
    app: &TestApp,
    id: &str,
    psid: &str,
    mid: &str,
    text: &str,
    at_ms: i64,
    echo: bool,
) {
    let (sender, recipient) = if echo {
        ("1122334455", psid)
    } else {
        (psid, "1122334455")
    };
    let body =
        json!({"object": "page", "entry": [{"id": "1122334455", "time": at_ms, "messaging": [
        {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": at_ms,
         "message": {"mid": mid, "text": text, "is_echo": echo}}]}]})
        .to_string();
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/webhooks/messenger/{id}"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", meta_signature(body.as_bytes()))
        .body(axum::body::Body::from(body))
        .unwrap();
    let (status, _, answer) = app.send(request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_end_in_the_inbox_api_and_workspaces_are_isolated() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = app
        .connected(
            "acme",
            "messenger",
            json!({"page_id": "1122334455", "page_access_token": "EAAB"}),
        )
        .await;
    let relay = OutboxRelay::new(
        app.pool(),
        EventProducer::new(&app.config.kafka()).unwrap(),
        app.config.topics().lifecycle,
    );
    while relay.publish_batch().await.unwrap() > 0 {}
    let projector = spawn_projector(&app, Arc::new(InboxProjection), 100);
    post_message(&app, &id, "alice", "m1", "hello", 1_700_000_000_000, false).await;
    post_message(
        &app,
        &id,
        "alice",
        "m2",
        "anyone there?",
        1_700_000_001_000,
        false,
    )
    .await;
    post_message(
        &app,
        &id,
        "bob",
        "m3",
        "hi from bob",
        1_700_000_002_000,
        false,
    )
    .await;
    post_message(
        &app,
        &id,
        "bob",
        "m4",
        "yes, how can we help?",
        1_700_000_003_000,
        true,
    )
    .await;
    let pool = app.pool();
    wait_until("four messages", || async {
        count(&pool, "SELECT count(*) FROM inbox.messages").await == 4
    })
    .await;

    let (status, page) = app
        .call("GET", "/v1/workspaces/acme/conversations", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["contact_id"], "bob", "most recent first");
    assert_eq!(
        items[0]["unread_count"], 0,
        "the reply reset bob's unread count"
    );
    assert_eq!(items[0]["last_message_preview"], "yes, how can we help?");
    assert_eq!(items[1]["contact_id"], "alice");
    assert_eq!(items[1]["unread_count"], 2);
    assert_eq!(items[1]["contact_name"], Value::Null);
    assert_eq!(page["next_cursor"], Value::Null);

    let alice = items[1]["id"].as_str().unwrap();
    let uri = format!("/v1/workspaces/acme/conversations/{alice}/messages");
    let (status, messages) = app.call("GET", &uri, None).await;
    assert_eq!(status, StatusCode::OK);
    let texts: Vec<&str> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["anyone there?", "hello"]);

    let (_, inboxes) = app.call("GET", "/v1/workspaces/acme/inboxes", None).await;
    assert_eq!(inboxes["items"][0]["id"], id.as_str());
    assert_eq!(inboxes["items"][0]["status"], "connected");
    assert_eq!(inboxes["items"][0]["conversation_count"], 2);
    assert_eq!(inboxes["items"][0]["unread_count"], 2);

    let (_, other) = app
        .call("GET", "/v1/workspaces/rival/conversations", None)
        .await;
    assert_eq!(other["items"], json!([]));
    let (_, other) = app.call("GET", "/v1/workspaces/rival/inboxes", None).await;
    assert_eq!(other["items"], json!([]));
    let (status, _) = app
        .call(
            "GET",
            &format!("/v1/workspaces/rival/conversations/{alice}/messages"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    projector.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_postgres_refuses_is_set_aside_and_the_records_around_it_are_applied() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = IntegrationId::new();
    let at = 1_700_000_000_000;
    let events = vec![
        inbound(integration, "dana", "m-1", "before", at, false),
        inbound(
            integration,
            "dana",
            "m-2",
            "a NUL \u{0} inside",
            at + 1,
            false,
        ),
        inbound(integration, "dana", "m-3", "after", at + 2, false),
    ];
    publish(&app, &events).await;
    let projector = spawn_projector(&app, Arc::new(InboxProjection), 25);
    let pool = app.pool();
    wait_until("the records around the refused one", || async {
        count(&pool, "SELECT count(*) FROM inbox.messages").await == 2
    })
    .await;
    projector.abort();
    let rejected: Vec<(i64, Option<String>, String)> =
        sqlx::query_as("SELECT \"offset\", event_id, error FROM inbox.projection_rejects")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(
        rejected[0].1.as_deref(),
        Some(events[1].event_id.to_string().as_str())
    );
    assert!(rejected[0].2.starts_with("database:"), "{rejected:?}");
    assert_eq!(
        count(
            &pool,
            "SELECT unread_count::bigint FROM inbox.conversations"
        )
        .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_follow_platform_time_whatever_the_arrival_order_or_batch_size() {
    let at = 1_700_000_000_000;
    for max_batch in [1, 25] {
        let kafka = TestKafka::new();
        let app = TestApp::new(&kafka).await;
        let integration = IntegrationId::new();
        // Arrival order: the reply, then a message written before it, then one after it.
        let events = vec![
            inbound(integration, "fay", "m-reply", "On it", at + 2_000, true),
            inbound(integration, "fay", "m-before", "Hello?", at + 1_000, false),
            inbound(integration, "fay", "m-after", "Thanks!", at + 4_000, false),
        ];
        publish(&app, &events).await;
        let projector = spawn_projector(&app, Arc::new(InboxProjection), max_batch);
        let pool = app.pool();
        wait_until("all three messages", || async {
            count(&pool, "SELECT count(*) FROM inbox.messages").await == 3
        })
        .await;
        projector.abort();
        assert_eq!(
            count(
                &pool,
                "SELECT unread_count::bigint FROM inbox.conversations"
            )
            .await,
            1,
            "only the message after the reply is unread (batches of {max_batch})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_kept_batch_by_batch_equal_a_recount_of_every_message() {
    let at = 1_700_000_000_000;
    let integration = IntegrationId::new();
    // Three contacts, mostly in platform-time order with replies now and then. First 40
    // messages, two of them late (written before messages already stored: m-38 before ida's
    // last reply, m-39 after gil's but before his last message) and a duplicate; then read
    // marks for hal and ida, then 20 more messages, ida's first ones before her mark.
    let message = |step: i64| {
        let when = match step {
            38 => at + 20_000,
            39 => at + 35_000,
            _ => at + step * 1_000,
        };
        let contact = ["gil", "hal", "ida"][(step % 3) as usize];
        // Replies at 5, 12, ..., 40 s: none after ida's messages before her mark.
        let reply = step % 7 == 5 && step <= 40;
        inbound(
            integration,
            contact,
            &format!("m-{step}"),
            "hi",
            when,
            reply,
        )
    };
    let mut first: Vec<InboundEvent> = (0..40).map(message).collect();
    first.push(first[12].clone());
    // And joy, read up to 2.5 s before her first message is applied.
    first.extend((1..=4).map(|k| {
        inbound(
            integration,
            "joy",
            &format!("j-{k}"),
            "hi",
            at + k * 1_000,
            false,
        )
    }));
    let then: Vec<InboundEvent> = (40..60).map(message).collect();
    let early_mark = ("joy", at + 2_500);
    let marks = [early_mark, ("hal", at + 41_500), ("ida", at + 45_000)];
    for max_batch in [1, 4, 25] {
        let kafka = TestKafka::new();
        let app = TestApp::new(&kafka).await;
        let pool = app.pool();
        let projector = spawn_projector(&app, Arc::new(InboxProjection), max_batch);
        let app = &app;
        let read = |(contact, up_to): (&'static str, i64)| async move {
            let key = conversation_key(integration, contact);
            let action = ConversationAction::Read { up_to: time(up_to) };
            publish_activity(app, &key, up_to, action).await
        };
        read(early_mark).await;
        wait_until("the early mark", || async {
            count(&pool, "SELECT count(*) FROM inbox.conversation_marks").await == 1
        })
        .await;
        publish(app, &first).await;
        wait_until("the first messages", || async {
            count(&pool, "SELECT count(*) FROM inbox.messages").await == 44
        })
        .await;
        assert_unread_as_recounted(&pool, &first, &[early_mark], max_batch).await;
        for mark in &marks[1..] {
            read(*mark).await;
        }
        wait_until("the read marks", || async {
            count(
                &pool,
                "SELECT count(*) FROM inbox.conversations WHERE last_read_at IS NOT NULL",
            )
            .await
                == 3
        })
        .await;
        publish(app, &then).await;
        wait_until("every message", || async {
            count(&pool, "SELECT count(*) FROM inbox.messages").await == 64
        })
        .await;
        projector.abort();
        let every: Vec<InboundEvent> = first.iter().chain(&then).cloned().collect();
        assert_unread_as_recounted(&pool, &every, &marks, max_batch).await;
    }
}

/// Fails unless each conversation's stored unread count is the rule recounted from its rows
/// (inbound messages at or after the latest reply and after the read mark), and their sum
/// the rule applied to `events` and `marks` (contact, read up to) without the database.
async fn assert_unread_as_recounted(
    pool: &PgPool,
    events: &[InboundEvent],
    marks: &[(&str, i64)],
    max_batch: usize,
) {
    let differing = count(
        pool,
        "SELECT count(*) FROM inbox.conversations c
         WHERE c.unread_count <> (
             SELECT count(*) FROM inbox.messages m
             WHERE m.conversation_id = c.id AND m.direction = 'inbound'
               AND m.sent_at > COALESCE(c.last_read_at, '-infinity')
               AND m.sent_at >= COALESCE((SELECT max(sent_at) FROM inbox.messages r
                                          WHERE r.conversation_id = c.id
                                            AND r.direction = 'outbound'), '-infinity'))",
    )
    .await;
    assert_eq!(differing, 0, "batches of {max_batch}");
    let stored = count(
        pool,
        "SELECT sum(unread_count)::bigint FROM inbox.conversations",
    )
    .await;
    assert_eq!(
        stored,
        expected_unread(events, marks),
        "batches of {max_batch}"
    );
}

/// Unread messages of `events` by the rule, computed without the database.
fn expected_unread(events: &[InboundEvent], marks: &[(&str, i64)]) -> i64 {
    let mut by_contact: std::collections::BTreeMap<&str, Vec<&InboundEvent>> = Default::default();
    let mut seen = std::collections::HashSet::new();
    for event in events.iter().filter(|e| seen.insert(e.event_id)) {
        by_contact
            .entry(event.contact.platform_id.as_str())
            .or_default()
            .push(event);
    }
    let echo =
        |e: &InboundEvent| matches!(e.kind, InboundKind::MessageReceived { is_echo: true, .. });
    by_contact
        .iter()
        .map(|(contact, messages)| {
            let last_reply = messages
                .iter()
                .filter(|e| echo(e))
                .map(|e| e.platform_timestamp)
                .max();
            let read_up_to = marks
                .iter()
                .find(|(c, _)| c == contact)
                .map(|&(_, ms)| time(ms));
            messages
                .iter()
                .filter(|e| !echo(e))
                .filter(|e| last_reply.is_none_or(|r| e.platform_timestamp >= r))
                .filter(|e| read_up_to.is_none_or(|m| e.platform_timestamp > m))
                .count() as i64
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_message_ten_times_is_one_row() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = IntegrationId::new();
    let event = inbound(
        integration,
        "carol",
        "m-dup",
        "once",
        1_700_000_000_000,
        false,
    );
    publish(&app, &vec![event; 10]).await;
    let projector = spawn_projector(&app, Arc::new(InboxProjection), 3);
    let pool = app.pool();
    wait_until("all ten records", || async {
        count(
            &pool,
            "SELECT COALESCE(SUM(next_offset), 0)::bigint FROM inbox.projection_offsets",
        )
        .await
            == 10
    })
    .await;
    projector.abort();
    assert_eq!(count(&pool, "SELECT count(*) FROM inbox.messages").await, 1);
    assert_eq!(
        count(
            &pool,
            "SELECT unread_count::bigint FROM inbox.conversations"
        )
        .await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT message_count FROM inbox.conversations").await,
        1
    );
}

/// Every row of the inbox tables, in a stable order, as text.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    let conversations: Vec<String> = sqlx::query_scalar(
        "SELECT concat_ws('|', id, contact_name, last_message_preview, last_message_at, unread_count, message_count, first_seen_at, last_seen_at)
         FROM inbox.conversations ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let messages: Vec<String> = sqlx::query_scalar(
        "SELECT concat_ws('|', id, conversation_id, direction, platform_message_id, content::text, sent_at, status)
         FROM inbox.messages ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    conversations.into_iter().chain(messages).collect()
}

/// `n` messages over 17 conversations; the last 20 are redeliveries of the first 20 (the same
/// message of the same contact, as a platform redelivers it).
fn workload(integration: IntegrationId, n: usize) -> Vec<InboundEvent> {
    (0..n)
        .map(|i| {
            let m = i % (n - 20);
            inbound(
                integration,
                &format!("c{}", m % 17),
                &format!("m{m}"),
                &format!("text {m}"),
                1_700_000_000_000 + (m as i64 * 7919) % 100_000,
                m % 5 == 4,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_batch_resumes_to_the_tables_of_an_uninterrupted_run() {
    let kafka = TestKafka::new();
    let events = workload(IntegrationId::new(), 600);
    let interrupted = TestApp::new(&kafka).await;
    publish(&interrupted, &events).await;
    let total = count_records(&interrupted).await;

    for kill_after_ms in [15u64, 40, 90] {
        let projector = spawn_projector(&interrupted, Arc::new(InboxProjection), 25);
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        projector.abort();
        let _ = projector.await;
    }
    let projector = spawn_projector(&interrupted, Arc::new(InboxProjection), 25);
    let pool = interrupted.pool();
    wait_until("the interrupted run to finish", || async {
        count(
            &pool,
            "SELECT COALESCE(SUM(next_offset), 0)::bigint FROM inbox.projection_offsets",
        )
        .await
            == total
    })
    .await;
    projector.abort();

    let reference = TestApp::new(&kafka).await;
    let projector = spawn_projector(&reference, Arc::new(InboxProjection), 1000);
    let reference_pool = reference.pool();
    wait_until("the uninterrupted run to finish", || async {
        count(
            &reference_pool,
            "SELECT COALESCE(SUM(next_offset), 0)::bigint FROM inbox.projection_offsets",
        )
        .await
            == total
    })
    .await;
    projector.abort();
    let expected = snapshot(&reference_pool).await;
    assert_eq!(
        expected.len(),
        17 + 580,
        "17 conversations, 580 distinct messages"
    );
    let actual = snapshot(&pool).await;
    let differing: Vec<(&String, &String)> = actual
        .iter()
        .zip(&expected)
        .filter(|(a, e)| a != e)
        .take(3)
        .collect();
    assert!(
        differing.is_empty() && actual.len() == expected.len(),
        "{differing:?}"
    );
}

async fn count_records(app: &TestApp) -> i64 {
    let consumer: rdkafka::consumer::BaseConsumer =
        KafkaSettings::new(app.config.kafka_brokers.clone())
            .client_config()
            .set("group.id", "watermarks")
            .create()
            .unwrap();
    let topic = app.config.topics().received;
    (0..3)
        .map(|p| {
            use rdkafka::consumer::Consumer;
            consumer
                .fetch_watermarks(&topic, p, Duration::from_secs(5))
                .unwrap()
                .1
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_walk_every_conversation_exactly_once() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = IntegrationId::new();
    let events: Vec<InboundEvent> = (0..120)
        .map(|i| {
            inbound(
                integration,
                &format!("p{i}"),
                &format!("pm{i}"),
                "hi",
                1_700_000_000_000 + (i % 7) * 1000,
                false,
            )
        })
        .collect();
    publish(&app, &events).await;
    let projector = spawn_projector(&app, Arc::new(InboxProjection), 50);
    let pool = app.pool();
    wait_until("120 conversations", || async {
        count(&pool, "SELECT count(*) FROM inbox.conversations").await == 120
    })
    .await;
    projector.abort();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/v1/workspaces/acme/conversations?limit=50&cursor={c}"),
            None => "/v1/workspaces/acme/conversations?limit=50".to_owned(),
        };
        let (status, page) = app.call("GET", &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push((
                item["last_message_at"].as_str().unwrap().to_owned(),
                item["id"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(sorted, seen, "newest first, no repeats");
    let (status, _) = app
        .call(
            "GET",
            "/v1/workspaces/acme/conversations?cursor=garbage",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .call("GET", "/v1/workspaces/acme/conversations?limit=0", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_status_only_moves_forward() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = IntegrationId::new();
    let echo = inbound(
        integration,
        "dave",
        "m-out",
        "our reply",
        1_700_000_000_000,
        true,
    );
    let read = receipt(
        integration,
        "dave",
        InboundKind::MessageRead {
            platform_message_ids: vec![],
            watermark: chrono::DateTime::from_timestamp_millis(1_700_000_005_000),
        },
        1_700_000_006_000,
    );
    let late_delivery = receipt(
        integration,
        "dave",
        InboundKind::MessageDelivered {
            platform_message_ids: vec!["m-out".into()],
            watermark: None,
        },
        1_700_000_007_000,
    );
    let late_failure = receipt(
        integration,
        "dave",
        InboundKind::MessageFailed {
            platform_message_ids: vec!["m-out".into()],
            errors: vec![],
        },
        1_700_000_008_000,
    );
    publish(&app, &[echo, read, late_delivery, late_failure]).await;
    let projector = spawn_projector(&app, Arc::new(InboxProjection), 1);
    let pool = app.pool();
    wait_until("four records", || async {
        count(
            &pool,
            "SELECT COALESCE(SUM(next_offset), 0)::bigint FROM inbox.projection_offsets",
        )
        .await
            == 4
    })
    .await;
    projector.abort();
    let status: String = sqlx::query_scalar("SELECT status FROM inbox.messages")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_rebuilds_and_hands_over_without_a_gap_or_a_double() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = IntegrationId::new();
    let first: Vec<InboundEvent> = (0..300)
        .map(|i| {
            inbound(
                integration,
                &format!("r{}", i % 9),
                &format!("a{i}"),
                "x",
                1_700_000_000_000 + i,
                false,
            )
        })
        .collect();
    publish(&app, &first).await;
    let live = spawn_projector(&app, Arc::new(InboxProjection), 40);
    let pool = app.pool();
    wait_until("the live projection", || async {
        count(&pool, "SELECT count(*) FROM inbox.messages").await == 300
    })
    .await;
    sqlx::query("UPDATE inbox.conversations SET last_message_preview = 'stale'")
        .execute(&pool)
        .await
        .unwrap();
    let live_indexes = index_definitions(&pool, "inbox").await;
    assert!(live_indexes.len() >= 8, "{live_indexes:?}");

    let more: Vec<InboundEvent> = (0..200)
        .map(|i| {
            inbound(
                integration,
                &format!("r{}", i % 9),
                &format!("b{i}"),
                "y",
                1_700_000_100_000 + i,
                false,
            )
        })
        .collect();
    let publishing = publish(&app, &more);
    let settings = ProjectorSettings {
        max_batch: 64,
        max_wait: Duration::from_millis(5),
        ..ProjectorSettings::default()
    };
    let kafka_settings = KafkaSettings::new(app.config.kafka_brokers.clone());
    let topics = app.config.topics();
    let mut reports = 0;
    let rebuilding = replay(
        &pool,
        &InboxProjection,
        &kafka_settings,
        &topics,
        &settings,
        |_| reports += 1,
    );
    let ((), done) = tokio::join!(publishing, rebuilding);
    let done = done.unwrap();
    assert!(done.swapped);
    assert!(reports >= 1);
    let phases = done
        .phases
        .expect("a finished rebuild says where its time went");
    assert!(
        phases.caught_up_with > 0 && phases.caught_up_with <= done.applied,
        "{phases:?} of {} applied",
        done.applied
    );
    let late: Vec<InboundEvent> = (0..50)
        .map(|i| {
            inbound(
                integration,
                "r0",
                &format!("c{i}"),
                "z",
                1_700_000_200_000 + i,
                false,
            )
        })
        .collect();
    publish(&app, &late).await;
    wait_until("every message once", || async {
        count(&pool, "SELECT count(*) FROM inbox.messages").await == 550
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    live.abort();
    assert_eq!(
        count(&pool, "SELECT count(*) FROM inbox.messages").await,
        550
    );
    assert_eq!(
        count(
            &pool,
            "SELECT SUM(message_count)::bigint FROM inbox.conversations"
        )
        .await,
        550
    );
    assert_eq!(
        count(
            &pool,
            "SELECT SUM(unread_count)::bigint FROM inbox.conversations"
        )
        .await,
        550
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM inbox.conversations WHERE last_message_preview = 'stale'"
        )
        .await,
        0,
        "rebuilt from events"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'inbox_%'"
        )
        .await,
        0,
        "no leftover schema"
    );
    assert_eq!(
        index_definitions(&pool, "inbox").await,
        live_indexes,
        "the rebuild builds the read indexes it started without"
    );
}

/// Every index of `schema`, as its definition.
async fn index_definitions(pool: &PgPool, schema: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname")
        .bind(schema)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_counts_each_message_once_and_measures_the_first_response() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = IntegrationId::new();
    let t0 = 1_700_000_400_000; // 22:20:00 UTC
    let question = inbound(integration, "erin", "q1", "hello?", t0, false);
    let nudge = inbound(integration, "erin", "q2", "anyone?", t0 + 10_000, false);
    let answer = inbound(integration, "erin", "a1", "here!", t0 + 70_000, true);
    let later = inbound(integration, "erin", "q3", "thanks", t0 + 3_600_000, false);
    publish(
        &app,
        &[
            question.clone(),
            nudge,
            question.clone(),
            answer,
            question,
            later,
        ],
    )
    .await;
    let projection: Arc<dyn Projection> =
        Arc::new(switchboard_projections::analytics::AnalyticsProjection);
    let pool = app.pool();
    switchboard_projections::engine::ensure_live_schema(&pool, projection.as_ref())
        .await
        .unwrap();
    let projector = spawn_projector(&app, projection, 2);
    wait_until("six records", || async {
        count(
            &pool,
            "SELECT COALESCE(SUM(next_offset), 0)::bigint FROM analytics.projection_offsets",
        )
        .await
            == 6
    })
    .await;
    projector.abort();
    let hours: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT to_char(hour AT TIME ZONE 'UTC', 'HH24:MI'), inbound, outbound, responses, response_ms_total
         FROM analytics.hourly_messages WHERE workspace_id = 'acme' AND channel = 'messenger' ORDER BY hour",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        hours,
        [("22:00".to_owned(), 2, 1, 1, 70_000), ("23:00".to_owned(), 1, 0, 0, 0)],
        "the repeated question counts once; the answer came 70 s after the first unanswered message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_read_model_follows_the_lifecycle_and_never_holds_secrets() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = app
        .connected_telegram("acme", "123:very-secret-bot-token")
        .await;
    let uri = format!("/v1/workspaces/acme/integrations/{id}/disconnect");
    let (status, _) = app
        .call(
            "POST",
            &uri,
            Some(json!({"reason": "token revoked by the bot owner"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let relay = OutboxRelay::new(
        app.pool(),
        EventProducer::new(&app.config.kafka()).unwrap(),
        app.config.topics().lifecycle,
    );
    while relay.publish_batch().await.unwrap() > 0 {}
    let projector = spawn_projector(
        &app,
        Arc::new(switchboard_projections::settings::SettingsProjection),
        10,
    );
    let pool = app.pool();
    wait_until("the disconnect", || async {
        count(
            &pool,
            "SELECT count(*) FROM settings.integrations WHERE status = 'disconnected'",
        )
        .await
            == 1
    })
    .await;
    projector.abort();
    let (status, list) = app
        .call(
            "GET",
            "/v1/workspaces/acme/settings/integrations?channel=telegram",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["status"], "disconnected");
    assert_eq!(
        list["items"][0]["last_error"],
        "token revoked by the bot owner"
    );
    assert_eq!(
        list["items"][0]["updated_by"], "jwt:user-of-acme",
        "the caller who disconnected it"
    );
    let (_, none) = app
        .call(
            "GET",
            "/v1/workspaces/acme/settings/integrations?channel=zalo",
            None,
        )
        .await;
    assert_eq!(none["items"], json!([]));
    let (_, rival) = app
        .call("GET", "/v1/workspaces/rival/settings/integrations", None)
        .await;
    assert_eq!(rival["items"], json!([]));
    let dump: String =
        sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM settings.integrations t")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        !dump.contains("very-secret-bot-token")
            && !dump.contains("hook-secret")
            && !dump.contains("sb1:")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_replay_resumes_from_its_own_offsets() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = IntegrationId::new();
    let events: Vec<InboundEvent> = (0..3000)
        .map(|i| {
            inbound(
                integration,
                &format!("s{}", i % 11),
                &format!("s{i}"),
                "x",
                1_700_000_000_000 + i,
                false,
            )
        })
        .collect();
    publish(&app, &events).await;
    let pool = app.pool();
    let settings = ProjectorSettings {
        max_batch: 5,
        max_wait: Duration::from_millis(2),
        ..ProjectorSettings::default()
    };
    let kafka_settings = KafkaSettings::new(app.config.kafka_brokers.clone());
    let topics = app.config.topics();
    let running = {
        let (pool, kafka_settings, topics, settings) = (
            pool.clone(),
            kafka_settings.clone(),
            topics.clone(),
            settings.clone(),
        );
        tokio::spawn(async move {
            let _ = replay(
                &pool,
                &InboxProjection,
                &kafka_settings,
                &topics,
                &settings,
                |_| {},
            )
            .await;
        })
    };
    wait_until("some rebuilt rows", || async {
        count(&pool, "SELECT count(*) FROM pg_tables WHERE schemaname = 'inbox_rebuild' AND tablename = 'messages'").await == 1
            && count(&pool, "SELECT count(*) FROM inbox_rebuild.messages").await > 100
    })
    .await;
    running.abort();
    let _ = running.await;
    let partial = count(&pool, "SELECT count(*) FROM inbox_rebuild.messages").await;
    assert!(partial < 3000, "{partial} rows before the interruption");
    let done = replay(
        &pool,
        &InboxProjection,
        &kafka_settings,
        &topics,
        &settings,
        |_| {},
    )
    .await
    .unwrap();
    assert!(done.swapped);
    assert!(
        done.applied < 3000,
        "the second run applied only what was left ({})",
        done.applied
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM inbox.messages").await,
        3000
    );
    assert_eq!(
        count(
            &pool,
            "SELECT SUM(message_count)::bigint FROM inbox.conversations"
        )
        .await,
        3000
    );
}

/// Replicas that start at once all set the projections' schemas up, none fails on the other's
/// half-made schema.
#[tokio::test]
async fn replicas_starting_at_once_set_the_projection_schemas_up_without_failing() {
    let database_url = crate::helpers::fresh_database().await;
    let pool = PgPool::connect(&database_url).await.unwrap();
    switchboard_adapters::store::migrate(&pool).await.unwrap();
    let starts = (0..6).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move {
            for projection in switchboard_projections::served() {
                switchboard_projections::engine::ensure_live_schema(&pool, projection.as_ref())
                    .await
                    .expect("schema set up");
            }
        })
    });
    for start in starts.collect::<Vec<_>>() {
        start.await.expect("no replica failed");
    }
}

/// A reply of ours to `contact`, as the send route puts it on `messages.outbound`.
fn reply(integration: IntegrationId, contact: &str) -> SendMessage {
    SendMessage {
        message_id: uuid::Uuid::new_v4(),
        integration_id: integration,
        workspace_id: "acme".parse().unwrap(),
        channel: ChannelKind::parse("messenger").unwrap(),
        conversation_key: conversation_key(integration, contact),
        recipient: contact.into(),
        content: OutboundContent::text("our reply"),
        idempotency_key: None,
        requested_at: chrono::Utc::now(),
    }
}

/// Publishes `command` to `messages.outbound` and `statuses` to `messages.status`.
async fn publish_sends(app: &TestApp, commands: &[&SendMessage], statuses: &[DeliveryUpdate]) {
    let producer = EventProducer::new(&app.config.kafka()).unwrap();
    let topics = app.config.topics();
    let record = |topic: &str, key: &str, id: uuid::Uuid, body: Vec<u8>| OutgoingRecord {
        topic: topic.to_owned(),
        key: key.to_owned(),
        event: CloudEvent {
            id,
            event_type: "test".into(),
            source: "test".into(),
            subject: None,
            time: chrono::Utc::now(),
            sequence: None,
            actor: None,
        },
        body,
        traceparent: None,
    };
    for command in commands {
        let body = serde_json::to_vec(command).unwrap();
        let sent = record(
            &topics.outbound,
            &command.conversation_key,
            command.message_id,
            body,
        );
        producer.publish(&sent).await.unwrap();
    }
    for status in statuses {
        let body = serde_json::to_vec(status).unwrap();
        let sent = record(
            &topics.status,
            &status.conversation_key,
            status.event_id,
            body,
        );
        producer.publish(&sent).await.unwrap();
    }
}

async fn status_of(pool: &PgPool, id: uuid::Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM inbox.messages WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_end_at_the_furthest_whatever_order_they_arrive_in() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = IntegrationId::new();
    let (early_receipt, early_read, failed_then_delivered) = (
        reply(integration, "ann"),
        reply(integration, "bob"),
        reply(integration, "cy"),
    );
    let sent = |command: &SendMessage, platform_id: &str| {
        let outcome = DeliveryOutcome::Sent {
            platform_message_id: platform_id.into(),
            attempts: 1,
        };
        DeliveryUpdate::new(command, outcome, chrono::Utc::now())
    };
    let failed = DeliveryOutcome::Failed {
        reason: FailureReason::Permanent,
        detail: "refused".into(),
        attempts: 1,
    };
    // First: the platform's receipt for a platform id no message carries yet, a read status
    // before its sent status, and a failure.
    publish_sends(
        &app,
        &[&early_receipt, &early_read, &failed_then_delivered],
        &[
            DeliveryUpdate::new(&early_read, DeliveryOutcome::Read {}, chrono::Utc::now()),
            DeliveryUpdate::new(&failed_then_delivered, failed, chrono::Utc::now()),
        ],
    )
    .await;
    let delivered = receipt(
        integration,
        "ann",
        InboundKind::MessageDelivered {
            platform_message_ids: vec!["m-ann".into()],
            watermark: None,
        },
        1_700_000_000_000,
    );
    publish(&app, &[delivered]).await;
    let projector = spawn_projector(&app, Arc::new(InboxProjection), 1);
    let pool = app.pool();
    let applied = |n: i64| {
        let pool = pool.clone();
        async move {
            count(
                &pool,
                "SELECT COALESCE(SUM(next_offset), 0)::bigint FROM inbox.projection_offsets",
            )
            .await
                >= n
        }
    };
    wait_until("the first six records", || applied(6)).await;
    assert_eq!(status_of(&pool, early_receipt.message_id).await, "queued");
    assert_eq!(status_of(&pool, early_read.message_id).await, "read");
    assert_eq!(
        status_of(&pool, failed_then_delivered.message_id).await,
        "failed"
    );

    // Then: the sent statuses, and the delivered that follows the failure.
    publish_sends(
        &app,
        &[],
        &[
            sent(&early_receipt, "m-ann"),
            sent(&early_read, "m-bob"),
            DeliveryUpdate::new(
                &failed_then_delivered,
                DeliveryOutcome::Delivered {},
                chrono::Utc::now(),
            ),
        ],
    )
    .await;
    wait_until("all nine records", || applied(9)).await;
    projector.abort();
    assert_eq!(
        status_of(&pool, early_receipt.message_id).await,
        "delivered",
        "the receipt waited for its platform id"
    );
    assert_eq!(status_of(&pool, early_read.message_id).await, "read");
    assert_eq!(
        status_of(&pool, failed_then_delivered.message_id).await,
        "delivered"
    );
    let waiting = count(&pool, "SELECT count(*) FROM inbox.pending_receipts").await;
    assert_eq!(waiting, 0, "an applied receipt is forgotten");
}
