//! Starting a conversation: a WhatsApp template to a phone number creates the conversation
//! the inbox shows and the contact's answer lands in, once per idempotency key; channels
//! that cannot start one, missing templates and bad recipients are refused, producing nothing.

use super::fake_cloud_api::until_sent;
use super::{order_update, start, WA_ID};
use crate::helpers::{read_topic, TestKafka};
use crate::send::{eventually, projector};
use axum::http::StatusCode;
use serde_json::json;
use std::time::Duration;
use switchboard_domain::message::SendMessage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_template_creates_the_conversation_its_answer_lands_in() {
    let kafka = TestKafka::new();
    let proactive = start(&kafka).await;
    let live = projector(&proactive.app);
    let (stop, engine) = crate::outbound::run_engine(&proactive.app, Duration::from_secs(5));
    let uri = format!(
        "/v1/workspaces/acme/integrations/{}/messages",
        proactive.whatsapp
    );
    let body = json!({"recipient": "+1 (650) 555-1234", "template": order_update("en_US"), "idempotency_key": "welcome-ada"});
    let (first, again) = tokio::join!(
        proactive.app.call("POST", &uri, Some(body.clone())),
        proactive.app.call("POST", &uri, Some(body.clone()))
    );
    assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.1);
    assert_eq!(again.0, StatusCode::ACCEPTED, "{}", again.1);
    assert_eq!(first.1["message_id"], again.1["message_id"]);
    assert_eq!(first.1["conversation_id"], again.1["conversation_id"]);
    let conversation = first.1["conversation_id"].as_str().unwrap().to_owned();
    let message = first.1["message_id"].as_str().unwrap().to_owned();

    let records = read_topic(
        &kafka.brokers(),
        &proactive.app.config.topics().outbound,
        2,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(records.len(), 1, "one command for one key");
    let command: SendMessage = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(command.recipient, WA_ID, "the number as its wa_id");
    assert_eq!(
        command.conversation_key,
        format!("{}:{WA_ID}", proactive.whatsapp)
    );
    let sends = until_sent(&proactive.fake, 1).await;
    assert_eq!(sends[0].1["to"], WA_ID);
    assert_eq!(sends[0].1["type"], "template");

    let list = eventually(&proactive.app, "/v1/workspaces/acme/conversations", |b| {
        b["items"][0]["id"] == conversation.as_str()
    })
    .await;
    assert_eq!(list["items"][0]["contact_id"], WA_ID);
    assert_eq!(list["items"][0]["channel"], "whatsapp");
    assert_eq!(list["items"][0]["unread_count"], 0);
    assert_eq!(
        list["items"][0]["last_message_preview"],
        "[template order_update]"
    );
    let messages = format!("/v1/workspaces/acme/conversations/{conversation}/messages");
    let page = eventually(&proactive.app, &messages, |b| {
        b["items"][0]["status"] == "sent"
    })
    .await;
    assert_eq!(page["items"][0]["id"], message.as_str());
    assert_eq!(page["items"][0]["direction"], "outbound");
    assert_eq!(
        page["items"][0]["content"]["template"]["name"],
        "order_update"
    );

    proactive.inbound(WA_ID, "wamid.answer", 0).await;
    let list = eventually(&proactive.app, "/v1/workspaces/acme/conversations", |b| {
        b["items"][0]["unread_count"] == 1
    })
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["id"], conversation.as_str());
    assert_eq!(list["items"][0]["contact_name"], "Ada");
    let reply = proactive
        .post(
            &messages,
            json!({"text": "Glad to help"}),
            StatusCode::ACCEPTED,
        )
        .await;
    assert_eq!(reply["status"], "queued", "the window is open now");

    stop.send(true).unwrap();
    engine.await.unwrap();
    live.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_that_cannot_start_a_conversation_and_bad_first_messages_are_refused() {
    let kafka = TestKafka::new();
    let proactive = start(&kafka).await;
    let app = &proactive.app;
    let whatsapp = format!(
        "/v1/workspaces/acme/integrations/{}/messages",
        proactive.whatsapp
    );
    let text_only = proactive
        .post(
            &whatsapp,
            json!({"recipient": "+16505551234", "text": "Hi!"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(text_only["type"], "/problems/template-required");
    let bad_number = proactive
        .post(
            &whatsapp,
            json!({"recipient": "ada@example.com", "template": order_update("en_US")}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(bad_number["type"], "/problems/validation");
    assert_eq!(bad_number["errors"][0]["field"], "recipient");
    let unknown = proactive
        .post(
            &whatsapp,
            json!({"recipient": "+16505551234", "template": {"name": "nope", "language": {"code": "en_US"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(unknown["type"], "/problems/template-unknown");
    let (status, _) = app
        .call(
            "POST",
            &whatsapp.replace("/workspaces/acme/", "/workspaces/rival/"),
            Some(json!({"recipient": "+16505551234", "template": order_update("en_US")})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another workspace's integration"
    );

    let messenger = app
        .connected(
            "acme",
            "messenger",
            json!({"page_id": "page-first", "page_access_token": "EAAB"}),
        )
        .await;
    let refused = proactive
        .post(
            &format!("/v1/workspaces/acme/integrations/{messenger}/messages"),
            json!({"recipient": "1254477777772919", "text": "Hi!"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(refused["type"], "/problems/cannot-start-conversation");
    assert!(
        refused["detail"].as_str().unwrap().contains("messenger"),
        "{refused}"
    );

    let telegram = app.connected_telegram("acme", "77:first-contact").await;
    let telegram = format!("/v1/workspaces/acme/integrations/{telegram}/messages");
    let bad_chat = proactive
        .post(
            &telegram,
            json!({"recipient": "@someone", "text": "Hi!"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(bad_chat["errors"][0]["field"], "recipient");
    let started = proactive
        .post(
            &telegram,
            json!({"recipient": "987654321", "text": "Your table is ready"}),
            StatusCode::ACCEPTED,
        )
        .await;
    assert!(started["conversation_id"].is_string());

    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().outbound,
        2,
        Duration::from_secs(8),
    )
    .await;
    assert_eq!(records.len(), 1, "only the Telegram message was produced");
    let command: SendMessage = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(command.recipient, "987654321");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_message_the_broker_did_not_take_is_503_and_its_retry_produces_it_once() {
    let kafka = TestKafka::new();
    let proactive = start(&kafka).await;
    let app = &proactive.app;
    let telegram = app.connected_telegram("acme", "78:broker-down").await;
    let uri = format!("/v1/workspaces/acme/integrations/{telegram}/messages");
    let body = json!({"recipient": "4242", "text": "Your order is ready", "idempotency_key": "ready-4242"});

    kafka.cluster.broker_down(1).unwrap();
    let mut request = crate::helpers::json_request("POST", &uri, Some(body.clone()));
    let credential = crate::helpers::bearer("acme").parse().unwrap();
    request.headers_mut().insert("authorization", credential);
    let response = tower::ServiceExt::oneshot(app.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    kafka.cluster.broker_up(1).unwrap();

    let accepted = proactive.post(&uri, body, StatusCode::ACCEPTED).await;
    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().outbound,
        2,
        Duration::from_secs(8),
    )
    .await;
    assert_eq!(records.len(), 1, "the retry produced it, once");
    let command: SendMessage = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(command.message_id.to_string(), accepted["message_id"]);
}
