//! Who may open a widget's socket and as whom: only pages of an allowed origin, and only as
//! the visitor their own token names.

use super::{open, serve, widget, Widget, SITE};
use crate::helpers::{TestApp, TestKafka};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_page_of_a_foreign_origin_or_of_none_is_refused_before_the_upgrade() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;

    for origin in [
        Some("https://evil.example.com"),
        Some("http://shop.example.com"),
        Some("null"),
        None,
    ] {
        let refused = open(address, &integration, origin).await.err();
        assert_eq!(refused, Some(403), "{origin:?} is refused");
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(open(address, &unknown, Some(SITE)).await.err(), Some(404));
    let telegram = app.connected_telegram("acme", "123:abc").await;
    assert_eq!(open(address, &telegram, Some(SITE)).await.err(), Some(404));

    let (status, problem) = app
        .call("GET", &format!("/webchat/{integration}/ws"), None)
        .await;
    assert_eq!(status.as_u16(), 403, "no origin, no socket: {problem}");
    assert_eq!(problem["type"], "/problems/origin-refused");
}

#[tokio::test]
async fn a_visitor_cannot_read_or_write_another_visitors_conversation() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let other_site = widget(&app).await;
    let address = serve(app.router.clone()).await;
    let projector = crate::send::projector(&app);

    let mut alice = Widget::connect(address, &integration, "").await;
    let accepted = alice.send_text("a-1", "my address is 1 Main St").await;
    assert_eq!(accepted["type"], "accepted");

    // A token altered to name someone else, or one of another integration, is no session:
    // the socket gets a visitor of its own, with nothing to read.
    let mut parts: Vec<String> = alice.token.split('.').map(str::to_owned).collect();
    parts[3] = uuid::Uuid::new_v4().simple().to_string();
    let forged = parts.join(".");
    let elsewhere = Widget::connect(address, &other_site, "").await;
    for token in [forged.as_str(), elsewhere.token.as_str(), "garbage"] {
        let mut mallory = Widget::connect(address, &integration, token).await;
        assert_ne!(mallory.visitor, alice.visitor);
        let extra = mallory.receives_within(Duration::from_millis(300)).await;
        assert!(extra.is_none(), "nothing of alice's arrives: {extra:?}");
        let own = mallory.send_text("a-1", "hello").await;
        assert_ne!(
            own["message_id"], accepted["message_id"],
            "the same client id is not hers"
        );
    }

    // Alice resumes and sees her message once the inbox has it; mallory still sees nothing.
    let history = loop {
        let mut again = Widget::connect(address, &integration, &alice.token).await;
        let frame = again.receives_within(Duration::from_millis(500)).await;
        again.close().await;
        if let Some(frame) = frame {
            break frame;
        }
    };
    assert_eq!(history["message"]["text"], "my address is 1 Main St");
    assert_eq!(history["message"]["author"], "visitor");
    assert_eq!(history["message"]["client_id"], "a-1");
    let mut mallory = Widget::connect(address, &integration, &forged).await;
    assert!(mallory
        .receives_within(Duration::from_millis(500))
        .await
        .is_none());
    mallory
        .say(json!({"type": "hello", "token": alice.token}))
        .await;
    let refused = mallory.next_of("error").await;
    assert_eq!(
        refused["problem"], "/problems/malformed-frame",
        "one hello per socket"
    );
    projector.abort();
}

#[tokio::test]
async fn origins_in_the_allowed_origins_setting_are_admitted_too() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;
    let other = "https://www.example.com";
    assert_eq!(
        open(address, &integration, Some(other)).await.err(),
        Some(403)
    );

    let (status, body) = app
        .call(
            "PATCH",
            &format!("/v1/workspaces/acme/integrations/{integration}"),
            Some(json!({"settings": {"allowed_origins": [other]}})),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    tokio::time::sleep(crate::webchat::SITE_TTL).await;
    assert!(open(address, &integration, Some(other)).await.is_ok());
    assert!(open(address, &integration, Some(SITE)).await.is_ok());
}
