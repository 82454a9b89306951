//! Sending a reply: checked against the conversation, its integration and the platform's reply
//! window, produced once per idempotency key to `messages.outbound`, shown queued in the inbox
//! and moved on by its delivery status.

use crate::helpers::{read_topic, TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::channels::webhook::hmac_sha256;
use switchboard_adapters::inbound::InboundPublisher;
use switchboard_adapters::kafka::{CloudEvent, EventProducer, KafkaSettings, OutgoingRecord};
use switchboard_domain::message::{
    Contact, DeliveryOutcome, DeliveryUpdate, InboundDraft, InboundEvent, InboundKind,
    MessageContent, SendMessage,
};
use switchboard_domain::{ChannelKind, IntegrationId};
use switchboard_projections::engine::ProjectorSettings;
use switchboard_projections::inbox::InboxProjection;
use switchboard_projections::Projector;
use tokio::task::JoinHandle;

pub(crate) fn projector(app: &TestApp) -> JoinHandle<()> {
    let projector = Projector::new(
        app.pool(),
        Arc::new(InboxProjection),
        KafkaSettings::new(app.config.kafka_brokers.clone()),
        app.config.topics(),
        ProjectorSettings {
            max_batch: 50,
            max_wait: Duration::from_millis(5),
            ..ProjectorSettings::default()
        },
    );
    tokio::spawn(async move { projector.run(std::future::pending()).await.unwrap() })
}

pub(crate) async fn eventually(app: &TestApp, uri: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = app.call("GET", uri, None).await;
        if check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{uri} never matched: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn webhook(
    app: &TestApp,
    id: &str,
    page: &str,
    psid: &str,
    mid: &str,
    at_ms: i64,
) {
    let body = json!({"object": "page", "entry": [{"id": page, "time": at_ms, "messaging": [
        {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": at_ms, "message": {"mid": mid, "text": "help"}}]}]})
    .to_string();
    let mac = hmac_sha256(b"meta-app-secret", &[body.as_bytes()]);
    let signature = format!(
        "sha256={}",
        mac.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let request = axum::http::Request::post(format!("/webhooks/messenger/{id}"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(axum::body::Body::from(body))
        .unwrap();
    assert_eq!(app.send(request).await.0, StatusCode::OK);
}

/// A connected Messenger integration (of a page of its own: a page has one live integration)
/// with one conversation whose contact wrote `ago_ms` ago.
pub(crate) async fn conversation(app: &TestApp, psid: &str, ago_ms: i64) -> (String, String) {
    let page = format!("page-of-{psid}");
    let id = app
        .connected(
            "acme",
            "messenger",
            json!({"page_id": page, "page_access_token": "EAAB"}),
        )
        .await;
    webhook(
        app,
        &id,
        &page,
        psid,
        &format!("m-{psid}"),
        chrono::Utc::now().timestamp_millis() - ago_ms,
    )
    .await;
    let conversation = conversation_of(app, psid).await;
    (id, conversation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_queued_once_per_idempotency_key_and_its_status_moves_on() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let live = projector(&app);
    let (integration, conversation) = conversation(&app, "alice", 60_000).await;
    let uri = format!("/v1/workspaces/acme/conversations/{conversation}/messages");
    let body = json!({"text": "Your order ships today", "quick_replies": [{"title": "Thanks", "payload": "THANKS"}], "idempotency_key": "reply-1"});
    let (first, second) = tokio::join!(
        app.call("POST", &uri, Some(body.clone())),
        app.call("POST", &uri, Some(body.clone()))
    );
    assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.1);
    assert_eq!(second.0, StatusCode::ACCEPTED, "{}", second.1);
    assert_eq!(first.1["message_id"], second.1["message_id"]);
    let message_id = first.1["message_id"].as_str().unwrap().to_owned();
    let (status, problem) = app
        .call(
            "POST",
            &uri,
            Some(json!({"text": "something else", "idempotency_key": "reply-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "/problems/idempotency-key-reused");

    let topic = app.config.topics().outbound;
    let records = read_topic(&kafka.brokers(), &topic, 2, Duration::from_secs(5)).await;
    assert_eq!(records.len(), 1, "one send for one key");
    assert_eq!(
        records[0].key.as_deref(),
        Some(format!("{integration}:alice").as_str())
    );
    assert_eq!(
        records[0].header("ce_id").as_deref(),
        Some(message_id.as_str())
    );
    assert_eq!(
        records[0].header("ce_type").as_deref(),
        Some("switchboard.message.SendMessage.v1")
    );
    let command: SendMessage = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(command.recipient, "alice");
    assert_eq!(
        command.content.text.as_deref(),
        Some("Your order ships today")
    );
    assert_eq!(command.content.quick_replies[0].payload, "THANKS");

    let messages = format!("{uri}?limit=10");
    let page = eventually(&app, &messages, |b| {
        b["items"][0]["id"] == message_id.as_str()
    })
    .await;
    assert_eq!(page["items"][0]["status"], "queued");
    assert_eq!(page["items"][0]["direction"], "outbound");
    let list = eventually(&app, "/v1/workspaces/acme/conversations", |b| {
        b["items"][0]["unread_count"] == 0
    })
    .await;
    assert_eq!(
        list["items"][0]["last_message_preview"],
        "Your order ships today"
    );

    let sent = DeliveryUpdate::new(
        &command,
        DeliveryOutcome::Sent {
            platform_message_id: "m_sent_1".into(),
            attempts: 1,
        },
        chrono::Utc::now(),
    );
    let record = OutgoingRecord {
        topic: app.config.topics().status,
        key: command.conversation_key.clone(),
        event: CloudEvent {
            id: sent.event_id,
            event_type: "switchboard.message.MessageSent.v1".into(),
            source: "test".into(),
            subject: None,
            time: sent.at,
            sequence: None,
            actor: None,
        },
        body: serde_json::to_vec(&sent).unwrap(),
        traceparent: None,
    };
    EventProducer::new(&app.config.kafka())
        .unwrap()
        .publish(&record)
        .await
        .unwrap();
    let page = eventually(&app, &messages, |b| b["items"][0]["status"] == "sent").await;
    assert_eq!(page["items"][0]["platform_message_id"], "m_sent_1");
    live.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_that_break_a_rule_are_refused_with_the_rule_named() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let live = projector(&app);
    let (_, stale) = conversation(&app, "bob", 25 * 3_600_000).await;
    let (status, problem) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/conversations/{stale}/messages"),
            Some(json!({"text": "late"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/outside-reply-window");
    assert!(
        problem["detail"].as_str().unwrap().contains("24-hour"),
        "{problem}"
    );

    let (integration, fresh) = conversation(&app, "carol", 1_000).await;
    let uri = format!("/v1/workspaces/acme/conversations/{fresh}/messages");
    let (status, problem) = app.call("POST", &uri, Some(json!({"text": "  "}))).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("/problems/validation")
        )
    );
    let (status, problem) = app
        .call("POST", &uri, Some(json!({"text": "a\u{0}b"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = app
        .call(
            "POST",
            &format!("/v1/workspaces/rival/conversations/{fresh}/messages"),
            Some(json!({"text": "hi"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            "POST",
            &format!(
                "/v1/workspaces/acme/conversations/{}/messages",
                uuid::Uuid::new_v4()
            ),
            Some(json!({"text": "hi"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/integrations/{integration}/disconnect"),
            Some(json!({"reason": "test"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app.call("POST", &uri, Some(json!({"text": "hi"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/integration-not-connected");

    let webchat = app
        .connected(
            "acme",
            "webchat",
            json!({"allowed_origin": "https://shop.example.com"}),
        )
        .await;
    let event = InboundEvent::from_draft(
        webchat.parse::<IntegrationId>().unwrap(),
        "acme".parse().unwrap(),
        ChannelKind::parse("webchat").unwrap(),
        InboundDraft {
            contact: Contact::new("visitor"),
            platform_timestamp: chrono::Utc::now(),
            kind: InboundKind::MessageReceived {
                platform_message_id: "w1".into(),
                content: MessageContent::Text { text: "hi".into() },
                reply_to: None,
                is_echo: false,
            },
            raw: json!({}),
        },
    );
    let publisher = InboundPublisher::new(
        EventProducer::new(&app.config.kafka()).unwrap(),
        app.config.topics().received,
        Duration::from_secs(5),
    );
    publisher.publish(&[event], None).await.unwrap();
    let list = eventually(&app, "/v1/workspaces/acme/conversations", |b| {
        b["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|c| c["channel"] == "webchat"))
    })
    .await;
    let chat = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "webchat")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, problem) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/conversations/{chat}/messages"),
            Some(json!({"text": "hello"})),
        )
        .await;
    // Web chat replies are sent by its own sender (see the webchat tests): accepted, and the
    // only command produced by this test.
    assert_eq!(status, StatusCode::ACCEPTED, "{problem}");
    let produced = crate::helpers::topic_len(&kafka.brokers(), &app.config.topics().outbound);
    assert_eq!(produced, 1, "no refused reply was produced");
    live.abort();
}

/// A signed TikTok `im_receive_msg` from `user`, in the platform conversation `thread` (none:
/// a payload without `conversation_id`).
async fn tiktok_webhook(app: &TestApp, id: &str, user: &str, thread: Option<&str>) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut content = json!({"from": user, "to": "acme.store",
        "from_user": {"id": user, "role": "personal_account"},
        "to_user": {"id": "b-acme", "role": "business_account"},
        "message_id": format!("m-{user}"), "timestamp": now_ms,
        "type": "text", "text": {"body": "Do you ship to Hanoi?"}});
    if let Some(thread) = thread {
        content["conversation_id"] = json!(thread);
    }
    let body = json!({"client_key": "ck", "event": "im_receive_msg", "create_time": now_ms / 1000,
        "user_openid": "b-acme", "content": content.to_string()})
    .to_string();
    let t = (now_ms / 1000).to_string();
    let mac = hmac_sha256(
        b"tiktok-client-secret",
        &[t.as_bytes(), b".", body.as_bytes()],
    );
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    let request = axum::http::Request::post(format!("/webhooks/tiktok/{id}"))
        .header("content-type", "application/json")
        .header("tiktok-signature", format!("t={t},s={hex}"))
        .body(axum::body::Body::from(body))
        .unwrap();
    assert_eq!(app.send(request).await.0, StatusCode::OK);
}

/// The id of `contact`'s conversation, once the inbox shows it.
pub(crate) async fn conversation_of(app: &TestApp, contact: &str) -> String {
    let list = eventually(app, "/v1/workspaces/acme/conversations", |b| {
        b["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|c| c["contact_id"] == contact))
    })
    .await;
    let items = list["items"].as_array().unwrap();
    let found = items.iter().find(|c| c["contact_id"] == contact).unwrap();
    found["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiktok_reply_is_addressed_to_the_conversation_the_user_wrote_in() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let live = projector(&app);
    let id = app
        .connected(
            "acme",
            "tiktok",
            json!({"business_id": "b-acme", "access_token": "act.tiktok"}),
        )
        .await;
    tiktok_webhook(&app, &id, "u-jane", Some("conv-42==")).await;
    let conversation = conversation_of(&app, "u-jane").await;
    let (status, accepted) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/conversations/{conversation}/messages"),
            Some(json!({"text": "Yes, in 3 days"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let topic = app.config.topics().outbound;
    let records = read_topic(&kafka.brokers(), &topic, 1, Duration::from_secs(10)).await;
    let command: SendMessage = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(
        command.recipient, "conv-42==",
        "TikTok replies go to the conversation"
    );
    assert_eq!(command.conversation_key, format!("{id}:u-jane"));

    tiktok_webhook(&app, &id, "u-kim", None).await;
    let unknown = conversation_of(&app, "u-kim").await;
    let (status, problem) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/conversations/{unknown}/messages"),
            Some(json!({"text": "Hello"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/thread-unknown");
    live.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_read_before_its_command_waits_for_it_and_is_then_applied() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let live = projector(&app);
    let (integration, conversation) = conversation(&app, "erin", 1_000).await;
    let integration: IntegrationId = integration.parse().unwrap();
    let command = SendMessage {
        message_id: uuid::Uuid::new_v4(),
        integration_id: integration,
        workspace_id: "acme".parse().unwrap(),
        channel: ChannelKind::parse("messenger").unwrap(),
        conversation_key: format!("{integration}:erin"),
        recipient: "erin".into(),
        content: switchboard_domain::message::OutboundContent::text("On its way"),
        idempotency_key: None,
        requested_at: chrono::Utc::now(),
    };
    let sent = DeliveryUpdate::new(
        &command,
        DeliveryOutcome::Sent {
            platform_message_id: "m_early".into(),
            attempts: 1,
        },
        chrono::Utc::now(),
    );
    let producer = EventProducer::new(&app.config.kafka()).unwrap();
    let record = |topic: String, id: uuid::Uuid, kind: &str, body: Vec<u8>| OutgoingRecord {
        topic,
        key: command.conversation_key.clone(),
        event: CloudEvent {
            id,
            event_type: format!("switchboard.message.{kind}.v1"),
            source: "test".into(),
            subject: None,
            time: chrono::Utc::now(),
            sequence: None,
            actor: None,
        },
        body,
        traceparent: None,
    };
    let topics = app.config.topics();
    let status = record(
        topics.status.clone(),
        sent.event_id,
        "MessageSent",
        serde_json::to_vec(&sent).unwrap(),
    );
    producer.publish(&status).await.unwrap();
    let pool = app.pool();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbox.pending_statuses")
        .fetch_one(&pool)
        .await
        .unwrap()
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outcome never waited"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let send = record(
        topics.outbound.clone(),
        command.message_id,
        "SendMessage",
        serde_json::to_vec(&command).unwrap(),
    );
    producer.publish(&send).await.unwrap();
    let messages = format!("/v1/workspaces/acme/conversations/{conversation}/messages?limit=10");
    let page = eventually(&app, &messages, |b| {
        b["items"][0]["id"] == command.message_id.to_string().as_str()
            && b["items"][0]["status"] == "sent"
    })
    .await;
    assert_eq!(page["items"][0]["platform_message_id"], "m_early");
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox.pending_statuses")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(waiting, 0, "applied outcomes are forgotten");
    live.abort();
}
