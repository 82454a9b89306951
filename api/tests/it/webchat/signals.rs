//! Statuses, typing and read marks: the widget's acknowledgements are status events on
//! `messages.status` (the inbox goes sent, delivered, read), the visitor's typing is a
//! `ContactTyping` activity (rate-limited), an agent's typing and read reach the visitor's
//! sockets, and other channels cannot type.

use super::fan_out::{conversation_of, messages_when};
use super::{serve, widget, Widget};
use crate::helpers::outbound_engine;
use crate::helpers::{read_topic, TestApp, TestKafka};
use crate::projections::{inbound, publish};
use crate::send::projector;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_domain::IntegrationId;

/// The status of message `id` in a page of the inbox API.
fn status_in(page: &Value, id: &str) -> Option<String> {
    page["items"]
        .as_array()?
        .iter()
        .find(|m| m["id"] == id)
        .and_then(|m| m["status"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn acknowledgements_are_status_events_and_the_inbox_goes_sent_delivered_read() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;
    let projector = projector(&app);
    let adapters = outbound_engine(&app);

    let mut tab = Widget::connect(address, &integration, "").await;
    assert_eq!(tab.send_text("q-1", "Any news?").await["type"], "accepted");
    let conversation = conversation_of(&app, &tab.visitor).await;
    let (status, sent) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/conversations/{conversation}/messages"),
            Some(json!({"text": "It left the warehouse."})),
        )
        .await;
    assert_eq!(status.as_u16(), 202, "{sent}");
    let id = sent["message_id"].as_str().unwrap().to_owned();
    tab.next_from("agent").await;
    messages_when(&app, &conversation, |page| {
        status_in(page, &id).as_deref() == Some("sent")
    })
    .await;

    for how in ["delivered", "read"] {
        tab.say(json!({"type": "ack", "message_ids": [id], "status": how}))
            .await;
        messages_when(&app, &conversation, |page| {
            status_in(page, &id).as_deref() == Some(how)
        })
        .await;
    }
    // A late or repeated delivered does not move it back.
    tab.say(json!({"type": "ack", "message_ids": [id], "status": "delivered"}))
        .await;

    let topics = app.config.topics();
    let statuses = read_topic(&kafka.brokers(), &topics.status, 4, Duration::from_secs(10)).await;
    let types: Vec<(String, String)> = statuses
        .iter()
        .map(|record| {
            let body: Value = serde_json::from_slice(&record.payload).unwrap();
            assert_eq!(body["message_id"], id.as_str());
            assert_eq!(body["channel"], "webchat");
            (
                body["type"].as_str().unwrap().to_owned(),
                body["event_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let names: Vec<&str> = types.iter().map(|(t, _)| t.as_str()).collect();
    assert!(names.contains(&"MessageSent"), "{names:?}");
    assert_eq!(names.iter().filter(|t| **t == "MessageRead").count(), 1);
    let delivered: Vec<&String> = types
        .iter()
        .filter(|(t, _)| t == "MessageDelivered")
        .map(|(_, id)| id)
        .collect();
    assert_eq!(delivered.len(), 2, "{names:?}");
    assert_eq!(
        delivered[0], delivered[1],
        "a repeated ack is the same event"
    );
    let page = messages_when(&app, &conversation, |_| true).await;
    assert_eq!(status_in(&page, &id).as_deref(), Some("read"));
    projector.abort();
    adapters.abort();
}

#[tokio::test]
async fn visitor_typing_is_an_activity_passed_on_at_most_every_interval() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;
    let mut tab = Widget::connect(address, &integration, "").await;
    for _ in 0..5 {
        tab.say(json!({"type": "typing"})).await;
    }
    // A frame that is answered, so the typing frames before it were handled.
    assert_eq!(tab.send_text("t-1", "hi").await["type"], "accepted");
    let activity = read_topic(
        &kafka.brokers(),
        &app.config.topics().activity,
        2,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(activity.len(), 1, "one notice per interval");
    let body: Value = serde_json::from_slice(&activity[0].payload).unwrap();
    assert_eq!(body["action"], "contact_typing");
    assert_eq!(body["workspace_id"], "acme");
    assert_eq!(
        body["conversation_key"],
        format!("{integration}:{}", tab.visitor).as_str()
    );
}

#[tokio::test]
async fn an_agent_typing_and_reading_reach_the_visitors_sockets_only() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;
    let projector = projector(&app);

    let mut tab = Widget::connect(address, &integration, "").await;
    let mut stranger = Widget::connect(address, &integration, "").await;
    assert_eq!(tab.send_text("q-1", "Hello?").await["type"], "accepted");
    let conversation = conversation_of(&app, &tab.visitor).await;
    let uri = format!("/v1/workspaces/acme/conversations/{conversation}");

    let (status, body) = app.call("POST", &format!("{uri}/typing"), None).await;
    assert_eq!(status.as_u16(), 204, "{body}");
    let typing = tab.next_of("typing").await;
    assert_eq!(typing["expires_in_ms"], 6000);

    let (status, read) = app
        .call("POST", &format!("{uri}/read"), Some(json!({})))
        .await;
    assert_eq!(status.as_u16(), 202, "{read}");
    let seen = tab.next_of("seen").await;
    assert_eq!(seen["up_to"], read["up_to"]);
    let leaked = stranger.receives_within(Duration::from_millis(500)).await;
    assert!(leaked.is_none(), "another visitor gets nothing: {leaked:?}");

    // A widget that connects later learns the read mark after the history.
    wait_for_mark(&app, &conversation).await;
    let mut later = Widget::connect(address, &integration, &tab.token).await;
    let seen_again = later.next_of("seen").await;
    assert_eq!(seen_again["up_to"], read["up_to"]);
    projector.abort();
}

/// Waits until the inbox has the read mark of `conversation`.
async fn wait_for_mark(app: &TestApp, conversation: &str) {
    let uri = "/v1/workspaces/acme/conversations";
    crate::send::eventually(app, uri, |list| {
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["id"] == conversation && c["unread_count"] == 0)
    })
    .await;
}

#[tokio::test]
async fn a_conversation_of_another_channel_cannot_type() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let projector = projector(&app);
    let integration = IntegrationId::new();
    publish(
        &app,
        &[inbound(
            integration,
            "dora",
            "m-1",
            "hi",
            1_700_000_000_000,
            false,
        )],
    )
    .await;
    let conversation = conversation_of(&app, "dora").await;
    let (status, problem) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/conversations/{conversation}/typing"),
            None,
        )
        .await;
    assert_eq!(status.as_u16(), 409, "{problem}");
    assert_eq!(problem["type"], "/problems/channel-cannot-type");
    let (status, _) = app
        .call(
            "POST",
            &format!(
                "/v1/workspaces/acme/conversations/{}/typing",
                uuid::Uuid::new_v4()
            ),
            None,
        )
        .await;
    assert_eq!(status.as_u16(), 404);
    projector.abort();
}
