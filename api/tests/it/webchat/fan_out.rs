//! Replies: sent through the outbound API, announced by the webchat sender, pushed to every
//! socket of the visitor on every replica, and resumed from history after a reconnect.

use super::{serve, widget, Widget};
use crate::helpers::{outbound_engine, TestApp, TestKafka};
use crate::send::projector;
use serde_json::{json, Value};
use std::time::Duration;

/// A second replica of `app`: the same database, broker and keys, sockets of its own.
fn replica(app: &TestApp) -> axum::Router {
    let state = &app.app.as_ref().unwrap().state;
    let mut handles = state.handles();
    handles.webchat =
        switchboard_api::webchat::from_config(&app.config, state.integrations.clone()).unwrap();
    switchboard_api::routes::router(
        switchboard_api::state::AppState::new(handles),
        switchboard_api::routes::limits::RequestLimits::from_config(&app.config),
    )
}

/// The inbox conversation of `visitor`, once the projection has it.
pub async fn conversation_of(app: &TestApp, visitor: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, list) = app
            .call("GET", "/v1/workspaces/acme/conversations", None)
            .await;
        let found = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["contact_id"] == visitor)
            .and_then(|c| c["id"].as_str().map(str::to_owned));
        if let Some(id) = found {
            return id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no conversation: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Messages of `conversation` in the inbox API once `check` holds.
pub async fn messages_when(
    app: &TestApp,
    conversation: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let uri = format!("/v1/workspaces/acme/conversations/{conversation}/messages");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, page) = app.call("GET", &uri, None).await;
        if check(&page) {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never matched: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_reply_reaches_every_tab_of_the_visitor_on_every_replica_and_is_resumed_once() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let one = serve(app.router.clone()).await;
    let two = serve(replica(&app)).await;
    let projector = projector(&app);
    let adapters = outbound_engine(&app);

    let mut tab = Widget::connect(one, &integration, "").await;
    let accepted = tab.send_text("q-1", "Do you ship abroad?").await;
    assert_eq!(accepted["type"], "accepted");
    let conversation = conversation_of(&app, &tab.visitor).await;
    let mut other_tab = Widget::connect(two, &integration, &tab.token).await;
    let mut stranger = Widget::connect(two, &integration, "").await;
    // The other tab resumes with the visitor's message (history), then goes live.
    let resumed = other_tab.next_of("message").await;
    assert_eq!(resumed["message"]["id"], accepted["message_id"]);

    let (status, sent) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/conversations/{conversation}/messages"),
            Some(json!({"text": "Yes, to 40 countries."})),
        )
        .await;
    assert_eq!(status.as_u16(), 202, "{sent}");
    let message_id = sent["message_id"].as_str().unwrap();
    for socket in [&mut tab, &mut other_tab] {
        let reply = socket.next_from("agent").await;
        assert_eq!(reply["message"]["id"], message_id, "{reply}");
        assert_eq!(reply["message"]["author"], "agent");
        assert_eq!(reply["message"]["text"], "Yes, to 40 countries.");
    }
    let leaked = stranger.receives_within(Duration::from_millis(500)).await;
    assert!(leaked.is_none(), "another visitor gets nothing: {leaked:?}");

    // The widget's acknowledgement moves the reply to read in the inbox.
    tab.say(json!({"type": "ack", "message_ids": [message_id], "status": "read"}))
        .await;
    messages_when(&app, &conversation, |page| {
        page["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|m| m["id"] == message_id && m["status"] == "read")
        })
    })
    .await;

    // A new tab resumes both messages, each once, oldest first.
    let mut fresh = Widget::connect(one, &integration, &tab.token).await;
    let first = fresh.next_of("message").await;
    let second = fresh.next_of("message").await;
    assert_eq!(first["message"]["id"], accepted["message_id"]);
    assert_eq!(second["message"]["id"], message_id);
    assert!(fresh
        .receives_within(Duration::from_millis(300))
        .await
        .is_none());
    projector.abort();
    adapters.abort();
}
