//! Every webhook channel end to end through HTTP: a documented payload, signed with the
//! platform's own scheme, ends as the right events on `messages.received` (count, types,
//! keys, ids and content); the same request unsigned is refused, and so is the same request
//! posted to an integration of another account.

use crate::helpers::{read_topic, TestApp, TestKafka};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use switchboard_adapters::channels::webhook::hmac_sha256;

type Signer = fn(&[u8]) -> Vec<(&'static str, String)>;

struct Case {
    channel: &'static str,
    auth: Value,
    /// The auth of an integration of another account on the same platform app, when the
    /// channel's bodies name an account.
    other_account: Option<Value>,
    fixture: &'static str,
    /// Makes the fixture current where the signature covers a time in the body.
    prepare: fn(Vec<u8>) -> Vec<u8>,
    sign: Signer,
    types: &'static [&'static str],
    check: fn(&[Value]),
}

fn as_is(body: Vec<u8>) -> Vec<u8> {
    body
}

/// Zalo signs the body's own `timestamp` and refuses one outside its replay window: restamp
/// the fixture with now.
fn restamped(body: Vec<u8>) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&body).unwrap();
    value["timestamp"] = chrono::Utc::now().timestamp_millis().to_string().into();
    value.to_string().into_bytes()
}

fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../adapters/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn meta(body: &[u8]) -> Vec<(&'static str, String)> {
    let mac = hmac_sha256(b"meta-app-secret", &[body]);
    vec![("x-hub-signature-256", format!("sha256={}", hex(&mac)))]
}

fn zalo(body: &[u8]) -> Vec<(&'static str, String)> {
    let value: Value = serde_json::from_slice(body).unwrap();
    let timestamp = match &value["timestamp"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut hasher = Sha256::new();
    hasher.update(b"zalo-app-id");
    hasher.update(body);
    hasher.update(timestamp.as_bytes());
    hasher.update(b"zalo-oa-secret");
    vec![(
        "x-zevent-signature",
        format!("mac={}", hex(&hasher.finalize())),
    )]
}

fn tiktok(body: &[u8]) -> Vec<(&'static str, String)> {
    let t = chrono::Utc::now().timestamp().to_string();
    let mac = hmac_sha256(b"tiktok-client-secret", &[t.as_bytes(), b".", body]);
    vec![("tiktok-signature", format!("t={t},s={}", hex(&mac)))]
}

fn telegram(_: &[u8]) -> Vec<(&'static str, String)> {
    vec![("x-telegram-bot-api-secret-token", "tg-hook-secret".into())]
}

fn chatbotx(_: &[u8]) -> Vec<(&'static str, String)> {
    vec![("authorization", "Bearer cbx-key".into())]
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            channel: "messenger",
            auth: json!({"page_id": "1122334455", "page_access_token": "EAAB"}),
            other_account: Some(json!({"page_id": "5566778899", "page_access_token": "EAAB"})),
            fixture: "messenger/delivery_and_read.json",
            prepare: as_is,
            sign: meta,
            types: &["MessageDelivered", "MessageRead"],
            check: |events| {
                assert_eq!(
                    events[0]["platform_message_ids"][0],
                    "mid.1458668856218:ed81099e15d3f4f233"
                )
            },
        },
        Case {
            channel: "whatsapp",
            auth: json!({"phone_number_id": "106540352242922", "business_account_id": "102290129340398", "access_token": "EAAG"}),
            other_account: Some(
                json!({"phone_number_id": "106540352249999", "business_account_id": "102290129340398", "access_token": "EAAG"}),
            ),
            fixture: "whatsapp/batch_with_bad_item.json",
            prepare: as_is,
            sign: meta,
            types: &[
                "MessageDelivered",
                "MessageRead",
                "MessageReceived",
                "MessageReceived",
                "MessageReceived",
                "MessageReceived",
                "MessageReceived",
            ],
            check: |events| {
                assert!(events
                    .iter()
                    .any(|e| e["platform_message_id"] == "wamid.BATCH_TEXT"));
                let unattributed = events
                    .iter()
                    .find(|e| e["platform_message_id"] == "wamid.BATCH_NO_SENDER")
                    .expect("the message without a sender is kept");
                assert_eq!(unattributed["contact"]["platform_id"], "~unattributed");
                assert_eq!(unattributed["content"]["type"], "unsupported");
            },
        },
        Case {
            channel: "zalo",
            auth: json!({"oa_id": "388613280878808645", "access_token": "zat", "refresh_token": "zrt"}),
            other_account: Some(
                json!({"oa_id": "388613280878800000", "access_token": "zat-globex", "refresh_token": "zrt"}),
            ),
            fixture: "zalo/text.json",
            prepare: restamped,
            sign: zalo,
            types: &["MessageReceived"],
            check: |events| {
                assert_eq!(
                    events[0]["content"]["text"],
                    "Xin chào, shop còn hàng không?"
                );
                assert_eq!(events[0]["platform_message_id"], "96d3cdf3af150460909");
            },
        },
        Case {
            channel: "tiktok",
            auth: json!({"business_id": "-000bX2dLq0QkK5k7U9Hn3Qz1r8sVhXyTbA", "access_token": "act"}),
            other_account: Some(
                json!({"business_id": "-000bOtherBusiness", "access_token": "act"}),
            ),
            fixture: "tiktok/receive_text.json",
            prepare: as_is,
            sign: tiktok,
            types: &["MessageReceived"],
            check: |events| assert_eq!(events[0]["content"]["text"], "Hi! Do you ship to Hanoi?"),
        },
        Case {
            channel: "telegram",
            auth: json!({"bot_token": "123:abc", "webhook_secret": "tg-hook-secret"}),
            other_account: None,
            fixture: "telegram/text.json",
            prepare: as_is,
            sign: telegram,
            types: &["MessageReceived"],
            check: |events| {
                assert_eq!(events[0]["content"]["text"], "/start");
                assert_eq!(events[0]["contact"]["platform_id"], "1111111");
            },
        },
        Case {
            channel: "chatbotx",
            auth: json!({"bot_id": "bot-1", "api_key": "cbx-key"}),
            other_account: None,
            fixture: "chatbotx/batch.json",
            prepare: as_is,
            sign: chatbotx,
            types: &[
                "MessageReceived",
                "MessageReceived",
                "MessageReceived",
                "MessageReceived",
            ],
            check: |events| {
                assert_eq!(events.iter().filter(|e| e["is_echo"] == true).count(), 1);
                assert_eq!(
                    events
                        .iter()
                        .filter(|e| e["contact"]["platform_id"] == "~unattributed")
                        .count(),
                    1,
                    "the element without a contact id is kept"
                );
            },
        },
    ]
}

fn request(uri: &str, headers: &[(&'static str, String)], body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn every_channel_turns_its_signed_fixture_into_the_right_events() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let topic = format!("{}messages.received", kafka.prefix);
    let mut expected_total = 0;
    let mut cases_by_integration = Vec::new();
    for case in cases() {
        let id = app.connected("acme", case.channel, case.auth.clone()).await;
        let body = (case.prepare)(fixture(case.fixture));
        let uri = format!("/webhooks/{}/{id}", case.channel);
        let (status, _, problem) = app.send(request(&uri, &[], body.clone())).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{}: {problem}",
            case.channel
        );
        if let Some(auth) = &case.other_account {
            let other = app.connected("globex", case.channel, auth.clone()).await;
            let uri = format!("/webhooks/{}/{other}", case.channel);
            let (status, content_type, problem) = app
                .send(request(&uri, &(case.sign)(&body), body.clone()))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{}: {problem}", case.channel);
            assert_eq!(content_type, "application/problem+json");
            assert_eq!(
                problem["type"], "/problems/webhook-account-mismatch",
                "{}: {problem}",
                case.channel
            );
        }
        let (status, _, answer) = app.send(request(&uri, &(case.sign)(&body), body)).await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", case.channel);
        assert_eq!(answer["events"], case.types.len(), "{}", case.channel);
        expected_total += case.types.len();
        cases_by_integration.push((id, case));
    }
    let records = read_topic(
        &kafka.brokers(),
        &topic,
        expected_total,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(records.len(), expected_total);
    for (id, case) in cases_by_integration {
        let mine: Vec<_> = records
            .iter()
            .filter(|r| {
                r.key
                    .as_deref()
                    .is_some_and(|k| k.starts_with(&format!("{id}:")))
            })
            .collect();
        let events: Vec<Value> = mine
            .iter()
            .map(|r| serde_json::from_slice(&r.payload).unwrap())
            .collect();
        let mut types: Vec<String> = events
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect();
        types.sort();
        assert_eq!(types, case.types, "{}", case.channel);
        for (record, event) in mine.iter().zip(&events) {
            assert_eq!(event["channel"], case.channel);
            assert_eq!(event["workspace_id"], "acme");
            assert_eq!(record.key.as_deref(), event["conversation_key"].as_str());
            assert_eq!(
                record.header("ce_id").as_deref(),
                event["event_id"].as_str()
            );
            let ce_type = format!("switchboard.message.{}.v1", event["type"].as_str().unwrap());
            assert_eq!(record.header("ce_type"), Some(ce_type));
            assert!(
                event["raw"].is_object(),
                "{}: the verified item travels along",
                case.channel
            );
        }
        (case.check)(&events);
    }
}
