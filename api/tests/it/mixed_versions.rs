//! `switchboard replay` over a topic that mixes records as the first release wrote them with
//! records as today's code writes them: the rebuilt inbox holds both, as one conversation.
//! The old records are the domain's first-release fixtures (`domain/tests/fixtures/`), the
//! same bytes the domain's own test reads.

use crate::helpers::{TestApp, TestKafka};
use crate::projections::{count, publish};
use serde_json::Value;
use std::time::Duration;
use switchboard_adapters::kafka::{CloudEvent, EventProducer, KafkaSettings, OutgoingRecord};
use switchboard_domain::message::InboundEvent;
use switchboard_projections::engine::{replay, ProjectorSettings};
use switchboard_projections::inbox::InboxProjection;

/// A first-release `messages.received` record, byte for byte.
const FIRST_RELEASE_RECEIVED: &str =
    include_str!("../../../domain/tests/fixtures/first_release/inbound/MessageReceived.json");
/// A first-release read receipt of the same conversation's messages.
const FIRST_RELEASE_READ: &str =
    include_str!("../../../domain/tests/fixtures/first_release/inbound/MessageRead.json");

/// Publishes `body` to `messages.received` as the first release did: its bytes as they are.
async fn publish_old(app: &TestApp, body: &str) {
    let value: Value = serde_json::from_str(body).unwrap();
    let record = OutgoingRecord {
        topic: app.config.topics().received,
        key: value["conversation_key"].as_str().unwrap().to_owned(),
        event: CloudEvent {
            id: value["event_id"].as_str().unwrap().parse().unwrap(),
            event_type: format!("switchboard.message.{}.v1", value["type"].as_str().unwrap()),
            source: "switchboard/first-release".into(),
            subject: None,
            time: chrono::Utc::now(),
            sequence: None,
            actor: None,
        },
        body: body.as_bytes().to_vec(),
        traceparent: None,
    };
    let producer = EventProducer::new(&app.config.kafka()).unwrap();
    producer.publish(&record).await.unwrap();
}

/// Today's answer in the conversation of the first-release message: that message's fields,
/// with an id, a time and the fields added since, serialised by today's code.
fn todays_answer() -> InboundEvent {
    let mut value: Value = serde_json::from_str(FIRST_RELEASE_RECEIVED).unwrap();
    value["event_id"] = uuid::Uuid::new_v4().to_string().into();
    value["platform_message_id"] = "m_todays_answer".into();
    value["platform_timestamp"] = "2026-11-25T09:10:00Z".into();
    value["received_at"] = "2026-11-25T09:10:01Z".into();
    value["content"]["text"] = "It is on its way.".into();
    value["is_echo"] = true.into();
    serde_json::from_value(value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_rebuilds_the_inbox_from_first_release_records_beside_todays() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    publish_old(&app, FIRST_RELEASE_RECEIVED).await;
    publish(&app, &[todays_answer()]).await;
    publish_old(&app, FIRST_RELEASE_READ).await;

    let pool = app.pool();
    let settings = ProjectorSettings {
        max_batch: 64,
        max_wait: Duration::from_millis(5),
        ..ProjectorSettings::default()
    };
    let kafka_settings = KafkaSettings::new(app.config.kafka_brokers.clone());
    let done = replay(
        &pool,
        &InboxProjection,
        &kafka_settings,
        &app.config.topics(),
        &settings,
        |_| {},
    )
    .await
    .unwrap();
    assert!(done.swapped, "the rebuild took over");

    let old: Value = serde_json::from_str(FIRST_RELEASE_RECEIVED).unwrap();
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT platform_message_id, direction, content->>'text' FROM inbox.messages
          ORDER BY sent_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (
                old["platform_message_id"].as_str().unwrap().to_owned(),
                "inbound".to_owned(),
                old["content"]["text"].as_str().map(str::to_owned),
            ),
            (
                "m_todays_answer".to_owned(),
                "outbound".to_owned(),
                Some("It is on its way.".to_owned()),
            ),
        ],
        "the first release's message and today's answer, in one conversation's order"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM inbox.conversations").await,
        1,
        "one conversation"
    );
    let workspace = old["workspace_id"].as_str().unwrap();
    let (status, page) = app
        .call(
            "GET",
            &format!("/v1/workspaces/{workspace}/conversations"),
            None,
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{page}");
    assert_eq!(page["items"][0]["message_count"], 2, "{page}");
}
