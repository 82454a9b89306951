//! What a visitor writes: one `MessageReceived` on `messages.received` per client id,
//! answered only once the broker has it; bad frames refused precisely.

use super::{serve, widget, Widget};
use crate::helpers::{read_topic, TestApp, TestKafka};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_visitor_message_becomes_one_message_received_even_when_resent_after_a_reconnect() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;

    let mut first = Widget::connect(address, &integration, "").await;
    let accepted = first.send_text("c-1", "Where is my order?").await;
    assert_eq!(accepted["type"], "accepted", "{accepted}");
    assert_eq!(accepted["client_id"], "c-1");
    first.close().await;

    let mut again = Widget::connect(address, &integration, &first.token).await;
    assert_eq!(again.visitor, first.visitor, "the token keeps the visitor");
    let resent = again.send_text("c-1", "Where is my order?").await;
    assert_eq!(
        resent["message_id"], accepted["message_id"],
        "a resend is the same message"
    );

    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().received,
        2,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(records.len(), 2, "both sends were stored");
    for record in &records {
        let body: serde_json::Value = serde_json::from_slice(&record.payload).unwrap();
        assert_eq!(body["type"], "MessageReceived");
        assert_eq!(body["channel"], "webchat");
        assert_eq!(
            body["event_id"], accepted["message_id"],
            "one event id: consumers keep one"
        );
        assert_eq!(body["contact"]["platform_id"], first.visitor.as_str());
        assert_eq!(
            body["content"],
            json!({"type": "text", "text": "Where is my order?"})
        );
        assert_eq!(
            record.key.as_deref(),
            Some(format!("{integration}:{}", first.visitor).as_str())
        );
    }
}

#[tokio::test]
async fn bad_frames_are_refused_with_their_problem_and_nothing_is_published() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;
    let mut widget = Widget::connect(address, &integration, "").await;

    let too_long = "x".repeat(4001);
    for (client_id, text, problem) in [
        ("c 1", "hi", "/problems/validation"),
        ("c-2", "   ", "/problems/validation"),
        ("c-3", too_long.as_str(), "/problems/validation"),
    ] {
        let refused = widget.send_text(client_id, text).await;
        assert_eq!(refused["type"], "error", "{refused}");
        assert_eq!(refused["problem"], problem, "{refused}");
    }
    widget.say(json!({"type": "launch"})).await;
    let refused = widget.next_of("error").await;
    assert_eq!(refused["problem"], "/problems/malformed-frame");

    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().received,
        1,
        Duration::from_secs(2),
    )
    .await;
    assert!(records.is_empty(), "nothing refused was published");
}

#[tokio::test]
async fn a_visitor_sending_too_fast_is_told_to_wait() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;
    let mut widget = Widget::connect(address, &integration, "").await;
    let mut limited = None;
    for n in 0..30 {
        let answer = widget.send_text(&format!("m-{n}"), "hello").await;
        if answer["type"] == "error" {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the burst ran out");
    assert_eq!(limited["problem"], "/problems/rate-limited", "{limited}");
}
