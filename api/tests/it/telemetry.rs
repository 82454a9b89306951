//! Trace context and metrics: a caller's trace continues onto Kafka; requests are counted.

use crate::helpers::{json_request, read_topic, TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::json;
use std::time::Duration;
use switchboard_adapters::kafka::EventProducer;
use switchboard_adapters::store::OutboxRelay;

#[tokio::test]
async fn the_callers_trace_id_reaches_the_lifecycle_record() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = json_request(
        "POST",
        "/v1/workspaces/acme/integrations",
        Some(json!({"channel": "webchat", "name": "Site"})),
    );
    request.headers_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    request
        .headers_mut()
        .insert("x-request-id", "req-trace-test".parse().unwrap());
    let (status, _, _) = app.send(request).await;
    assert_eq!(status, StatusCode::CREATED);

    let metadata: serde_json::Value = sqlx::query_scalar(
        "SELECT metadata::jsonb FROM events WHERE aggregate_type = 'Integration'",
    )
    .fetch_one(&app.pool())
    .await
    .unwrap();
    assert_eq!(metadata["request_id"], "req-trace-test");

    let relay = OutboxRelay::new(
        app.pool(),
        EventProducer::new(&app.config.kafka()).unwrap(),
        app.config.topics().lifecycle,
    );
    while relay.publish_batch().await.unwrap() > 0 {}
    // The configured platform credentials' events share the topic.
    let published: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool())
        .await
        .unwrap();
    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().lifecycle,
        published as usize,
        Duration::from_secs(20),
    )
    .await;
    let created = records
        .iter()
        .find(|r| {
            r.header("ce_type")
                .is_some_and(|t| t.starts_with("switchboard.integration."))
        })
        .expect("the integration's event was published");
    let traceparent = created.header("traceparent").expect("a traceparent");
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
}

#[tokio::test]
async fn requests_are_counted_on_the_metrics_endpoint() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    app.call("GET", "/v1/channels", None).await;
    let mut request = json_request("GET", "/metrics", None);
    let operator = format!("Bearer {}", crate::helpers::TEST_OPERATOR_TOKEN);
    request
        .headers_mut()
        .insert("authorization", operator.parse().unwrap());
    let (status, _, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("switchboard_http_requests_total")
                && l.contains("route=\"/v1/channels\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(text.contains("switchboard_http_request_duration_seconds_bucket"));
}
