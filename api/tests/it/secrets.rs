//! Secrets never appear in plaintext: not in logs, events, the outbox, Kafka or responses.

use crate::helpers::{captured_logs, read_topic, TestApp, TestKafka};
use serde_json::json;
use std::time::Duration;
use switchboard_adapters::kafka::EventProducer;
use switchboard_adapters::store::{EnvelopeSealer, OutboxRelay, XChaChaSealer};
use switchboard_domain::{SealedSecret, SecretSealer};

#[tokio::test]
async fn a_secret_is_sealed_everywhere_and_opens_only_with_the_key() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let secret = format!("4242:tok-{}", uuid::Uuid::new_v4());
    let id = app.connected_telegram("acme", &secret).await;
    let (_, view) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/integrations/{id}/credentials"),
            Some(json!({"auth": {"bot_token": secret}})),
        )
        .await;
    assert!(!view.to_string().contains(&secret), "response: {view}");
    let (_, problem) = app
        .call("POST", "/v1/workspaces/acme/integrations", Some(json!({"channel": "telegram", "name": "x", "auth": {"bot_token": secret, "bogus": secret}})))
        .await;
    assert!(
        !problem.to_string().contains(&secret),
        "error body: {problem}"
    );

    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT payload::text FROM events UNION ALL SELECT payload::text FROM outbox",
    )
    .fetch_all(&app.pool())
    .await
    .unwrap();
    assert!(
        stored.iter().all(|payload| !payload.contains(&secret)),
        "plaintext stored"
    );

    let producer = EventProducer::new(&app.config.kafka()).unwrap();
    let relay = OutboxRelay::new(app.pool(), producer, app.config.topics().lifecycle);
    while relay.publish_batch().await.unwrap() > 0 {}
    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().lifecycle,
        3,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.payload).contains(&secret)),
        "plaintext on Kafka"
    );

    let logs = captured_logs();
    assert!(
        logs.contains(&id),
        "the logs did record this test's requests: {}",
        &logs[..logs.len().min(3000)]
    );
    assert!(!logs.contains(&secret), "plaintext in logs");

    // The sealed value is really the secret, encrypted under the integration's data key,
    // which the configured key wraps.
    let created: String = sqlx::query_scalar(
        "SELECT payload::text FROM events
          WHERE aggregate_id = $1 AND event_type = 'IntegrationCreated'",
    )
    .bind(&id)
    .fetch_one(&app.pool())
    .await
    .unwrap();
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let sealed =
        SealedSecret::from_sealed_text(created["auth"]["bot_token"]["sealed"].as_str().unwrap());
    let keyring =
        XChaChaSealer::from_config(app.config.secret_keys.as_ref().unwrap().expose()).unwrap();
    let sealer = EnvelopeSealer::new(app.pool(), keyring);
    let _key = sealer.hold_for_opening(&id).await.unwrap();
    assert_eq!(
        sealer
            .open(&sealed, &format!("{id}/bot_token"))
            .unwrap()
            .expose(),
        secret
    );
}
