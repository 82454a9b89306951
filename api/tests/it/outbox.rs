//! The transactional outbox and its relay, against real PostgreSQL and the mock Kafka cluster.

use crate::helpers::{read_topic, topic_len, TestApp, TestKafka};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use switchboard_adapters::kafka::{ConsumedRecord, EventProducer};
use switchboard_adapters::store::OutboxRelay;

const READ_TIMEOUT: Duration = Duration::from_secs(20);

fn relay(app: &TestApp) -> OutboxRelay {
    let producer = EventProducer::new(&app.config.kafka()).unwrap();
    OutboxRelay::new(app.pool(), producer, app.config.topics().lifecycle)
}

async fn drain(relay: &OutboxRelay) {
    while relay.publish_batch().await.unwrap() > 0 {}
}

/// Events per aggregate after de-duplicating on `ce_id`, as (sequence, ce_id) in topic order.
fn deduplicated(records: &[ConsumedRecord]) -> BTreeMap<String, Vec<(u64, uuid::Uuid)>> {
    let mut seen = HashSet::new();
    let mut per_key: BTreeMap<String, Vec<(u64, uuid::Uuid)>> = BTreeMap::new();
    for record in records {
        let event = record
            .event
            .as_ref()
            .expect("every record carries a CloudEvent");
        if seen.insert(event.id) {
            per_key
                .entry(record.key.clone().unwrap())
                .or_default()
                .push((event.sequence.unwrap(), event.id));
        }
    }
    per_key
}

async fn outbox_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn relay_publishes_lifecycle_events_as_cloudevents_keyed_by_integration() {
    let kafka = TestKafka::new();
    let app = TestApp::without_platform_credentials(&kafka).await;
    let id = app.connected_telegram("acme", "1:a").await;
    let relay = relay(&app);
    drain(&relay).await;
    assert_eq!(relay.backlog().await.unwrap(), 0);

    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().lifecycle,
        2,
        READ_TIMEOUT,
    )
    .await;
    assert_eq!(records.len(), 2);
    let created = &records[0];
    assert_eq!(created.key.as_deref(), Some(id.as_str()));
    let event = created.event.as_ref().unwrap();
    assert_eq!(
        event.event_type,
        "switchboard.integration.IntegrationCreated.v1"
    );
    assert_eq!(event.source, "switchboard/integrations");
    assert_eq!(event.subject.as_deref(), Some(id.as_str()));
    assert_eq!(event.sequence, Some(1));
    assert_eq!(
        event.id,
        switchboard_adapters::kafka::CloudEvent::id_for(&["Integration", &id, "1"])
    );
    let header_names: HashSet<&str> = created.headers.iter().map(|(k, _)| k.as_str()).collect();
    for name in [
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_time",
        "content-type",
        "traceparent",
    ] {
        assert!(
            header_names.contains(name),
            "{name} missing from {header_names:?}"
        );
    }
    let body: serde_json::Value = serde_json::from_slice(&created.payload).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["workspace_id"].as_str()),
        (Some("IntegrationCreated"), Some("acme"))
    );
    assert_eq!(
        records[1].event.as_ref().unwrap().event_type,
        "switchboard.integration.IntegrationConnected.v1"
    );
}

#[tokio::test]
async fn events_committed_while_no_relay_runs_are_all_published_in_order_on_start() {
    let kafka = TestKafka::new();
    let app = TestApp::without_platform_credentials(&kafka).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = app.connected_telegram("acme", &format!("{n}:a")).await;
        let path = format!("/v1/workspaces/acme/integrations/{id}");
        app.call(
            "PATCH",
            &path,
            Some(json!({"name": format!("renamed {n}")})),
        )
        .await;
        app.call(
            "POST",
            &format!("{path}/disconnect"),
            Some(json!({"reason": "test"})),
        )
        .await;
        ids.push(id);
    }
    assert_eq!(outbox_count(&app).await, 20);
    drain(&relay(&app)).await;
    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().lifecycle,
        20,
        READ_TIMEOUT,
    )
    .await;
    let per_key = deduplicated(&records);
    assert_eq!(per_key.len(), 5);
    for id in ids {
        let sequences: Vec<u64> = per_key[&id].iter().map(|(s, _)| *s).collect();
        assert_eq!(sequences, [1, 2, 3, 4], "integration {id} in order");
    }
}

#[tokio::test]
async fn a_crash_after_the_ack_but_before_the_mark_republishes_with_the_same_ids() {
    let kafka = TestKafka::new();
    let app = TestApp::without_platform_credentials(&kafka).await;
    let id = app.connected_telegram("acme", "1:a").await;
    app.call(
        "POST",
        &format!("/v1/workspaces/acme/integrations/{id}/disconnect"),
        Some(json!({"reason": "x"})),
    )
    .await;
    drain(&relay(&app)).await;
    // The broker has every record; now the marks are lost, as if the relay died before committing them.
    sqlx::query("UPDATE outbox SET published_at = NULL WHERE sequence >= 2")
        .execute(&app.pool())
        .await
        .unwrap();
    drain(&relay(&app)).await;

    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().lifecycle,
        5,
        READ_TIMEOUT,
    )
    .await;
    assert_eq!(
        records.len(),
        5,
        "three events, two of them published twice"
    );
    let ids: Vec<uuid::Uuid> = records
        .iter()
        .map(|r| r.event.as_ref().unwrap().id)
        .collect();
    assert_eq!(
        ids[1], ids[3],
        "redelivered sequence 2 carries the same ce_id"
    );
    assert_eq!(
        ids[2], ids[4],
        "redelivered sequence 3 carries the same ce_id"
    );
    let sequences: Vec<u64> = deduplicated(&records)[&id]
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(sequences, [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_run_and_restarted_publishes_every_event_in_order() {
    const INTEGRATIONS: usize = 6;
    let kafka = TestKafka::new();
    let app = TestApp::without_platform_credentials(&kafka).await;
    let first = relay(&app);
    let running = tokio::spawn(async move { first.run(std::future::pending()).await });
    let mut ids = Vec::new();
    for n in 0..INTEGRATIONS {
        let id = app.connected_telegram("acme", &format!("{n}:a")).await;
        if n == INTEGRATIONS / 2 {
            running.abort(); // killed while commands keep committing
        }
        app.call(
            "PATCH",
            &format!("/v1/workspaces/acme/integrations/{id}"),
            Some(json!({"name": "later"})),
        )
        .await;
        ids.push(id);
    }
    let _ = running.await;
    drain(&relay(&app)).await;
    let total = INTEGRATIONS * 3;
    let topic = app.config.topics().lifecycle;
    let stored = topic_len(&kafka.brokers(), &topic);
    assert!(stored >= total, "{stored} records for {total} events");
    let records = read_topic(&kafka.brokers(), &topic, stored, READ_TIMEOUT).await;
    let per_key = deduplicated(&records);
    assert_eq!(
        per_key.values().map(Vec::len).sum::<usize>(),
        total,
        "nothing lost"
    );
    for id in ids {
        let sequences: Vec<u64> = per_key[&id].iter().map(|(s, _)| *s).collect();
        assert_eq!(sequences, [1, 2, 3], "integration {id} in order");
    }
}

#[tokio::test]
async fn rows_stay_unpublished_while_the_broker_is_down() {
    let kafka = TestKafka::new();
    let app = TestApp::without_platform_credentials(&kafka).await;
    app.connected_telegram("acme", "1:a").await;
    kafka.cluster.broker_down(1).unwrap();
    let relay = relay(&app);
    assert!(
        relay.publish_batch().await.is_err(),
        "no acknowledgement, no mark"
    );
    assert_eq!(relay.backlog().await.unwrap(), 2);
    kafka.cluster.broker_up(1).unwrap();
    drain(&relay).await;
    assert_eq!(relay.backlog().await.unwrap(), 0);
    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().lifecycle,
        2,
        READ_TIMEOUT,
    )
    .await;
    let sequences: HashSet<u64> = records
        .iter()
        .map(|r| r.event.as_ref().unwrap().sequence.unwrap())
        .collect();
    assert_eq!(sequences, HashSet::from([1, 2]));
}
