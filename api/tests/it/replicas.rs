//! Several `serve` replicas on one database and one broker: a lifecycle change made through
//! one replica reaches another's caches through `integrations.lifecycle` as soon as the relay has
//! published it, although their time-to-live (an hour here) has not run out.

use crate::helpers::{TestApp, TestKafka};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

/// The time-to-live of both replicas' caches: far longer than the test.
const AN_HOUR_MS: u64 = 3_600_000;
/// How long the change may take to arrive (relay, broker, watch) on 2 busy cores.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(30);

/// Two replicas with hour-long caches, running their background work; only the first relays.
async fn two_replicas(kafka: &TestKafka) -> (TestApp, TestApp) {
    let mut first = TestApp::new_with(kafka, |c| {
        c.webhook_cache_ms = AN_HOUR_MS;
        c.outbox_relay = true;
    })
    .await;
    let mut second = first.replica(|c| c.outbox_relay = false).await;
    first.run_in_background().await;
    second.run_in_background().await;
    (first, second)
}

async fn telegram_update(app: &TestApp, id: &str, update_id: u64) -> StatusCode {
    let update = json!({"update_id": update_id, "message": {"message_id": update_id, "date": 1_700_000_000,
        "from": {"id": 4242, "is_bot": false, "first_name": "Ada"}, "chat": {"id": 4242, "type": "private"}, "text": "hi"}});
    let request = Request::builder()
        .method("POST")
        .uri(format!("/webhooks/telegram/{id}"))
        .header("content-type", "application/json")
        .header("x-telegram-bot-api-secret-token", "hook-secret")
        .body(Body::from(update.to_string()))
        .unwrap();
    app.send_as_is(request).await.0
}

/// Sends updates to `app` until one is answered other than 200; that answer.
async fn first_refusal(app: &TestApp, id: &str) -> Option<StatusCode> {
    let deadline = Instant::now() + ARRIVAL_LIMIT;
    let mut update_id = 100;
    while Instant::now() < deadline {
        update_id += 1;
        let status = telegram_update(app, id, update_id).await;
        if status != StatusCode::OK {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn a_disconnect_through_one_replica_reaches_the_other_replicas_webhook_cache() {
    let kafka = TestKafka::new();
    let (first, second) = two_replicas(&kafka).await;
    let id = first.connected_telegram("ws-replicas", "7:replicas").await;
    // The second replica caches the connected integration.
    assert_eq!(telegram_update(&second, &id, 1).await, StatusCode::OK);

    let uri = format!("/v1/workspaces/ws-replicas/integrations/{id}/disconnect");
    let reason = json!({"reason": "moved to another bot"});
    let (status, body) = first.call("POST", &uri, Some(reason)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert_eq!(
        first_refusal(&second, &id).await,
        Some(StatusCode::GONE),
        "the second replica refuses webhooks of the disconnected integration within {ARRIVAL_LIMIT:?}"
    );
}

#[tokio::test]
async fn a_delete_through_one_replica_reaches_the_other_replicas_webhook_cache() {
    let kafka = TestKafka::new();
    let (first, second) = two_replicas(&kafka).await;
    let id = first.connected_telegram("ws-replicas", "7:replicas").await;
    assert_eq!(telegram_update(&second, &id, 1).await, StatusCode::OK);

    let uri = format!("/v1/workspaces/ws-replicas/integrations/{id}");
    let (status, body) = first.call("DELETE", &uri, None).await;
    assert!(status.is_success(), "{status} {body}");

    let refusal = first_refusal(&second, &id).await;
    assert!(
        matches!(refusal, Some(StatusCode::GONE | StatusCode::NOT_FOUND)),
        "the second replica refuses webhooks of the deleted integration: {refusal:?}"
    );
}
