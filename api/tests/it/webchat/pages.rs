//! The widget's script, style and demo page: served for web chat integrations only.

use super::widget;
use crate::helpers::{TestApp, TestKafka};
use axum::body::Body;
use axum::http::Request;

#[tokio::test]
async fn the_script_style_and_demo_are_served_for_a_web_chat_integration_only() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let get = |path: String| Request::get(path).body(Body::empty()).unwrap();

    let (status, content_type, script) = app
        .send_as_is(get(format!("/webchat/{integration}/widget.js")))
        .await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(content_type, "text/javascript; charset=utf-8");
    assert_eq!(
        script.as_str(),
        Some(switchboard_api::routes::webchat::WIDGET_JS)
    );
    let (status, content_type, _) = app
        .send_as_is(get(format!("/webchat/{integration}/widget.css")))
        .await;
    assert_eq!(
        (status.as_u16(), content_type.as_str()),
        (200, "text/css; charset=utf-8")
    );
    let (status, _, page) = app
        .send_as_is(get(format!("/webchat/{integration}/demo")))
        .await;
    assert_eq!(status.as_u16(), 200);
    let tag = format!("<script src=\"/webchat/{integration}/widget.js\" async></script>");
    assert!(page.as_str().unwrap().contains(&tag), "{page}");

    let telegram = app.connected_telegram("acme", "123:abc").await;
    for path in [
        format!("/webchat/{telegram}/widget.js"),
        format!("/webchat/{}/demo", uuid::Uuid::new_v4()),
        "/webchat/not-an-id/widget.css".to_owned(),
    ] {
        let (status, content_type, problem) = app.send_as_is(get(path)).await;
        assert_eq!(status.as_u16(), 404, "{problem}");
        assert_eq!(content_type, "application/problem+json");
    }
}
