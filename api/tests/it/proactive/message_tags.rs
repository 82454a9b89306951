//! Messenger message tags: a tagged reply goes out after the 24-hour window, within the tag's
//! own (7 days for `HUMAN_AGENT`, none for the update tags); outside it, or with a tag the
//! channel does not have, the reply is refused naming the rule.

use crate::helpers::{read_topic, TestApp, TestKafka};
use crate::send::{conversation, projector};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_domain::message::SendMessage;

const HOUR_MS: i64 = 3_600_000;

async fn reply(app: &TestApp, conversation: &str, body: Value) -> (StatusCode, Value) {
    let uri = format!("/v1/workspaces/acme/conversations/{conversation}/messages");
    app.call("POST", &uri, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tagged_reply_is_allowed_within_its_tags_window_only() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let live = projector(&app);
    let (_, three_days) = conversation(&app, "dana", 72 * HOUR_MS).await;
    let (_, eight_days) = conversation(&app, "erin", 8 * 24 * HOUR_MS).await;

    let (status, problem) = reply(&app, &three_days, json!({"text": "Sorry for the wait"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/outside-reply-window");
    let (status, accepted) = reply(
        &app,
        &three_days,
        json!({"text": "Sorry for the wait", "tag": "HUMAN_AGENT"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");

    let (status, problem) = reply(
        &app,
        &eight_days,
        json!({"text": "Sorry for the wait", "tag": "HUMAN_AGENT"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/outside-reply-window");
    assert!(
        problem["detail"].as_str().unwrap().contains("HUMAN_AGENT"),
        "{problem}"
    );
    let (status, accepted) = reply(
        &app,
        &eight_days,
        json!({"text": "Your parcel was delivered", "tag": "POST_PURCHASE_UPDATE"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let (status, problem) = reply(
        &app,
        &eight_days,
        json!({"text": "Big sale!", "tag": "PROMOTION"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/unknown-message-tag");
    assert!(problem["detail"].as_str().unwrap().contains("PROMOTION"));

    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().outbound,
        3,
        Duration::from_secs(8),
    )
    .await;
    let mut tags: Vec<Option<String>> = records
        .iter()
        .map(|r| serde_json::from_slice::<SendMessage>(&r.payload).unwrap())
        .map(|c| c.content.tag)
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            Some("HUMAN_AGENT".into()),
            Some("POST_PURCHASE_UPDATE".into())
        ]
    );
    live.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_on_a_channel_without_tags_is_refused() {
    let kafka = TestKafka::new();
    let proactive = super::start(&kafka).await;
    let live = projector(&proactive.app);
    proactive.inbound(super::WA_ID, "wamid.recent", 60).await;
    let conversation = crate::send::conversation_of(&proactive.app, super::WA_ID).await;
    let (status, problem) = reply(
        &proactive.app,
        &conversation,
        json!({"text": "hi", "tag": "HUMAN_AGENT"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/unknown-message-tag");
    live.abort();
}
