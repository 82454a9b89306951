//! Webhooks end to end: a signed platform delivery becomes CloudEvents on `messages.received`
//! (ids, keys, content), every bad input gets its status, a delivery naming another page lands
//! in no other integration, and a broker that cannot take the events makes the webhook answer
//! 503, never 200.

use crate::helpers::{read_topic, TestApp, TestKafka};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use switchboard_adapters::channels::webhook::hmac_sha256;

const APP_SECRET: &str = "meta-app-secret";

fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../adapters/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

pub(crate) fn meta_signature(body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex(&hmac_sha256(APP_SECRET.as_bytes(), &[body]))
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn post(uri: &str, signature: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(signature) = signature {
        builder = builder.header("x-hub-signature-256", signature);
    }
    builder.body(body.into()).unwrap()
}

async fn messenger(app: &TestApp, ws: &str) -> String {
    app.connected(
        ws,
        "messenger",
        json!({"page_id": "1122334455", "page_access_token": "EAAB-page-token"}),
    )
    .await
}

fn message_body(psid: &str, mid: &str, text: &str) -> Vec<u8> {
    json!({"object": "page", "entry": [{"id": "1122334455", "time": 1_700_000_000_000i64, "messaging": [
        {"sender": {"id": psid}, "recipient": {"id": "1122334455"}, "timestamp": 1_700_000_000_000i64,
         "message": {"mid": mid, "text": text}}]}]})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_signed_messenger_batch_becomes_one_event_per_item() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = messenger(&app, "acme").await;
    let body = fixture("messenger/batch_with_bad_item.json");
    let uri = format!("/webhooks/messenger/{id}");
    let (status, _, answer) = app
        .send(post(&uri, Some(&meta_signature(&body)), body))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["events"], 4);

    let topic = format!("{}messages.received", kafka.prefix);
    let records = read_topic(&kafka.brokers(), &topic, 4, Duration::from_secs(10)).await;
    assert_eq!(records.len(), 4);
    let mut contacts = Vec::new();
    for record in &records {
        let event: Value = serde_json::from_slice(&record.payload).unwrap();
        let contact = event["contact"]["platform_id"].as_str().unwrap().to_owned();
        assert_eq!(
            record.key.as_deref(),
            Some(format!("{id}:{contact}").as_str())
        );
        assert_eq!(event["conversation_key"], format!("{id}:{contact}"));
        assert_eq!(event["workspace_id"], "acme");
        assert_eq!(event["channel"], "messenger");
        assert_eq!(event["integration_id"], id.as_str());
        assert_eq!(
            record.header("ce_id").unwrap(),
            event["event_id"].as_str().unwrap()
        );
        assert_eq!(
            record.header("ce_type").unwrap(),
            "switchboard.message.MessageReceived.v1"
        );
        assert_eq!(
            record.header("ce_source").unwrap(),
            "switchboard/webhooks/messenger"
        );
        assert!(record.header("traceparent").is_some());
        contacts.push(contact);
    }
    contacts.sort();
    assert_eq!(
        contacts,
        ["111", "222", "333", "~unattributed"],
        "the item without a sender is kept, unattributed"
    );
    let first = records
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.payload).unwrap())
        .find(|e| e["contact"]["platform_id"] == "111")
        .unwrap();
    assert_eq!(first["content"], json!({"type": "text", "text": "first"}));
    assert_eq!(first["platform_message_id"], "m_first");
    assert_eq!(first["raw"]["message"]["mid"], "m_first");
}

#[tokio::test]
async fn a_redelivered_webhook_carries_the_same_event_id() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = messenger(&app, "acme").await;
    let uri = format!("/webhooks/messenger/{id}");
    let body = message_body("42", "m_once", "hello");
    for _ in 0..2 {
        let signature = meta_signature(&body);
        let (status, _, _) = app.send(post(&uri, Some(&signature), body.clone())).await;
        assert_eq!(status, StatusCode::OK);
    }
    let other = message_body("42", "m_other", "hello");
    let (status, _, _) = app
        .send(post(&uri, Some(&meta_signature(&other)), other))
        .await;
    assert_eq!(status, StatusCode::OK);
    let topic = format!("{}messages.received", kafka.prefix);
    let records = read_topic(&kafka.brokers(), &topic, 3, Duration::from_secs(10)).await;
    let ids: Vec<String> = records.iter().map(|r| r.header("ce_id").unwrap()).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], ids[1], "a redelivery repeats the event id");
    assert_ne!(ids[0], ids[2], "another message has another id");
}

/// A delivery of one text per `(page, mid)`, each in its own entry.
pub(crate) fn pages_body(items: &[(&str, &str)]) -> Vec<u8> {
    let entries: Vec<Value> = items
        .iter()
        .map(|(page, mid)| {
            json!({"id": page, "time": 1_700_000_000_000i64, "messaging": [
                {"sender": {"id": "42"}, "recipient": {"id": page}, "timestamp": 1_700_000_000_000i64,
                 "message": {"mid": mid, "text": "hi"}}]})
        })
        .collect();
    json!({"object": "page", "entry": entries})
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn a_delivery_naming_another_page_lands_in_no_other_integration() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let ours = messenger(&app, "acme").await;
    let theirs = app
        .connected(
            "globex",
            "messenger",
            json!({"page_id": "5566778899", "page_access_token": "EAAB-globex"}),
        )
        .await;
    let our_uri = format!("/webhooks/messenger/{ours}");

    let foreign = pages_body(&[("5566778899", "m_theirs")]);
    let problem = assert_problem(
        &app,
        post(&our_uri, Some(&meta_signature(&foreign)), foreign.clone()),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        problem["type"], "/problems/webhook-account-mismatch",
        "{problem}"
    );
    let (status, _, answer) = app
        .send(post(
            &format!("/webhooks/messenger/{theirs}"),
            Some(&meta_signature(&foreign)),
            foreign,
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "on its own URL it is accepted: {answer}"
    );

    let mixed = pages_body(&[("1122334455", "m_ours"), ("5566778899", "m_leak")]);
    let (status, _, answer) = app
        .send(post(&our_uri, Some(&meta_signature(&mixed)), mixed))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["events"], 1, "only our page's item is kept");

    let stored = stored(&kafka, 10).await;
    let mut expected = vec![
        (ours.clone(), "acme".to_owned(), "m_ours".to_owned()),
        (theirs.clone(), "globex".to_owned(), "m_theirs".to_owned()),
    ];
    expected.sort();
    assert_eq!(
        stored, expected,
        "nothing of the other page reached our workspace"
    );
}

/// `(integration_id, workspace_id, platform_message_id)` of every event on the topic.
pub(crate) async fn stored(kafka: &TestKafka, at_least: usize) -> Vec<(String, String, String)> {
    let topic = format!("{}messages.received", kafka.prefix);
    let records = read_topic(&kafka.brokers(), &topic, at_least, Duration::from_secs(5)).await;
    let mut stored: Vec<_> = records
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.payload).unwrap())
        .map(|e| {
            let text = |key: &str| e[key].as_str().unwrap().to_owned();
            (
                text("integration_id"),
                text("workspace_id"),
                text("platform_message_id"),
            )
        })
        .collect();
    stored.sort();
    stored
}

pub(crate) async fn assert_problem(
    app: &TestApp,
    request: Request<Body>,
    status: StatusCode,
) -> Value {
    let (actual, content_type, body) = app.send(request).await;
    assert_eq!(actual, status, "{body}");
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["status"], status.as_u16());
    body
}

#[tokio::test]
async fn every_bad_delivery_gets_its_own_status() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = messenger(&app, "acme").await;
    let uri = format!("/webhooks/messenger/{id}");
    let body = message_body("42", "m_1", "hi");
    let good = meta_signature(&body);
    let cases: Vec<(Request<Body>, StatusCode)> = vec![
        (
            post(&format!("/webhooks/nosuch/{id}"), Some(&good), body.clone()),
            StatusCode::NOT_FOUND,
        ),
        (
            post(&format!("/webhooks/email/{id}"), Some(&good), body.clone()),
            StatusCode::NOT_FOUND,
        ),
        (
            post("/webhooks/messenger/not-a-uuid", Some(&good), body.clone()),
            StatusCode::NOT_FOUND,
        ),
        (
            post(
                &format!("/webhooks/messenger/{}", uuid::Uuid::new_v4()),
                Some(&good),
                body.clone(),
            ),
            StatusCode::NOT_FOUND,
        ),
        (
            post(
                &format!("/webhooks/whatsapp/{id}"),
                Some(&good),
                body.clone(),
            ),
            StatusCode::NOT_FOUND,
        ),
        (post(&uri, None, body.clone()), StatusCode::UNAUTHORIZED),
        (
            post(&uri, Some("sha256=00"), body.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            post(&uri, Some(&good), message_body("42", "m_1", "tampered")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            post(&uri, Some(&good), vec![b' '; 1024 * 1024 + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (request, status) in cases {
        assert_problem(&app, request, status).await;
    }
    let garbage = b"{\"object\": \"page\", \"entry\": ".to_vec();
    let body = assert_problem(
        &app,
        post(&uri, Some(&meta_signature(&garbage)), garbage),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(body["type"], "/problems/malformed-request");

    let disconnect = format!("/v1/workspaces/acme/integrations/{id}/disconnect");
    let (status, _) = app
        .call("POST", &disconnect, Some(json!({"reason": "test"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let body = message_body("42", "m_2", "late");
    let gone = assert_problem(
        &app,
        post(&uri, Some(&meta_signature(&body)), body),
        StatusCode::GONE,
    )
    .await;
    assert_eq!(gone["type"], "/problems/integration-inactive");
    let topic = format!("{}messages.received", kafka.prefix);
    let records = read_topic(&kafka.brokers(), &topic, 1, Duration::from_secs(3)).await;
    assert!(records.is_empty(), "no refused delivery produced an event");
}

#[tokio::test]
async fn the_meta_handshake_echoes_the_challenge_for_our_token_only() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = messenger(&app, "acme").await;
    let get = |query: &str| {
        Request::builder()
            .uri(format!("/webhooks/messenger/{id}?{query}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, content_type, body) = app
        .send(get(
            "hub.mode=subscribe&hub.verify_token=meta-verify-token&hub.challenge=1158201444",
        ))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!(1158201444)));
    assert!(content_type.starts_with("text/plain"));
    assert_problem(
        &app,
        get("hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"),
        StatusCode::FORBIDDEN,
    )
    .await;
    let telegram = app
        .connected(
            "acme",
            "telegram",
            json!({"bot_token": "1:x", "webhook_secret": "s"}),
        )
        .await;
    let request = Request::builder()
        .uri(format!("/webhooks/telegram/{telegram}?hub.challenge=1"))
        .body(Body::empty())
        .unwrap();
    assert_problem(&app, request, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn a_broker_that_cannot_take_the_events_gets_503_and_nothing_answered_200_is_missing() {
    let kafka = TestKafka::new();
    let app = TestApp::new_with(&kafka, |config| config.webhook_ack_timeout_ms = 1_000).await;
    let id = messenger(&app, "acme").await;
    let uri = format!("/webhooks/messenger/{id}");

    let before = message_body("1", "m_before", "before");
    let (status, _, _) = app
        .send(post(&uri, Some(&meta_signature(&before)), before))
        .await;
    assert_eq!(status, StatusCode::OK);

    kafka.cluster.broker_down(1).unwrap();
    let during = message_body("2", "m_during", "during");
    let (status, _, problem) = app
        .send(post(&uri, Some(&meta_signature(&during)), during))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert_eq!(problem["type"], "/problems/unavailable");

    let app = &app;
    let sends = (0..20).map(|n| {
        let body = message_body(&format!("c{n}"), &format!("m_race_{n}"), "race");
        let request = post(&uri, Some(&meta_signature(&body)), body);
        async move { (format!("m_race_{n}"), app.send(request).await.0) }
    });
    let racing = futures::future::join_all(sends);
    let toggle = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        kafka.cluster.broker_up(1).unwrap();
    };
    let (outcomes, ()) = tokio::join!(racing, toggle);

    let topic = format!("{}messages.received", kafka.prefix);
    let records = read_topic(&kafka.brokers(), &topic, 100, Duration::from_secs(8)).await;
    let stored: HashSet<String> = records
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.payload).unwrap())
        .map(|e| e["platform_message_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(stored.contains("m_before"));
    for (mid, status) in outcomes {
        assert!(
            status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
            "{mid}: {status}"
        );
        if status == StatusCode::OK {
            assert!(
                stored.contains(&mid),
                "{mid} was answered 200 but is not on the topic"
            );
        }
    }
}
