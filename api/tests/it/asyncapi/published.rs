//! Records the running code publishes validate against their messages.

use super::*;

// ---------------------------------------------------------------------------------------------
// Records the running code publishes
// ---------------------------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The headers that authenticate `body` on `channel` with the test platform credentials.
fn signed(channel: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    match channel {
        "messenger" | "whatsapp" => {
            let mac = hmac_sha256(b"meta-app-secret", &[body]);
            vec![("x-hub-signature-256", format!("sha256={}", hex(&mac)))]
        }
        "zalo" => {
            use sha2::{Digest, Sha256};
            let value: Value = serde_json::from_slice(body).unwrap();
            let timestamp = match &value["timestamp"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let digest = Sha256::new()
                .chain_update(b"zalo-app-id")
                .chain_update(body)
                .chain_update(timestamp.as_bytes())
                .chain_update(b"zalo-oa-secret")
                .finalize();
            vec![("x-zevent-signature", format!("mac={}", hex(&digest)))]
        }
        "tiktok" => {
            let t = Utc::now().timestamp().to_string();
            let mac = hmac_sha256(b"tiktok-client-secret", &[t.as_bytes(), b".", body]);
            vec![("tiktok-signature", format!("t={t},s={}", hex(&mac)))]
        }
        "telegram" => vec![("x-telegram-bot-api-secret-token", "tg-hook-secret".into())],
        "chatbotx" => vec![("authorization", "Bearer cbx-key".into())],
        other => panic!("no signer for {other}"),
    }
}

/// The fixture `body`, with a Zalo delivery's signed timestamp moved to now (Zalo deliveries
/// older than the replay window are refused).
fn fresh(channel: &str, body: Vec<u8>) -> Vec<u8> {
    if channel != "zalo" {
        return body;
    }
    let value: Value = serde_json::from_slice(&body).unwrap();
    let Some(old) = value["timestamp"].as_str() else {
        return body;
    };
    let now = Utc::now().timestamp_millis().to_string();
    String::from_utf8(body)
        .unwrap()
        .replace(
            &format!("\"timestamp\":\"{old}\""),
            &format!("\"timestamp\":\"{now}\""),
        )
        .into_bytes()
}

fn webhook_auth(channel: &str) -> Value {
    match channel {
        "messenger" => json!({"page_id": "1122334455", "page_access_token": "EAAB"}),
        "whatsapp" => json!({"phone_number_id": "106540352242922",
            "business_account_id": "102290129340398", "access_token": "EAAG"}),
        "zalo" => {
            json!({"oa_id": "388613280878808645", "access_token": "zat", "refresh_token": "zrt"})
        }
        "tiktok" => {
            json!({"business_id": "-000bX2dLq0QkK5k7U9Hn3Qz1r8sVhXyTbA", "access_token": "act"})
        }
        "telegram" => json!({"bot_token": "123:abc", "webhook_secret": "tg-hook-secret"}),
        "chatbotx" => json!({"bot_id": "bot-1", "api_key": "cbx-key"}),
        other => panic!("no auth for {other}"),
    }
}

fn records_of(records: &[ConsumedRecord], topic: &str, doc: &Doc) -> BTreeSet<String> {
    let mut types = BTreeSet::new();
    for record in records {
        let what = format!(
            "{topic} record at {}:{} ({})",
            record.partition,
            record.offset,
            String::from_utf8_lossy(&record.payload)
        );
        let errors = doc.check_record(
            topic,
            record.key.as_deref(),
            &record.headers,
            &record.payload,
        );
        assert_valid(&what, errors);
        types.insert(record.header("ce_type").unwrap());
    }
    types
}

#[tokio::test]
async fn every_webhook_fixture_becomes_records_that_validate_against_their_message() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let fixtures = format!("{}/../adapters/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut expected = 0;
    for channel in [
        "messenger",
        "whatsapp",
        "zalo",
        "tiktok",
        "telegram",
        "chatbotx",
    ] {
        let id = app.connected("acme", channel, webhook_auth(channel)).await;
        let mut files: Vec<_> = std::fs::read_dir(format!("{fixtures}/{channel}"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let body = fresh(channel, std::fs::read(&file).unwrap());
            let mut request = Request::post(format!("/webhooks/{channel}/{id}"))
                .header("content-type", "application/json");
            for (name, value) in signed(channel, &body) {
                request = request.header(name, value);
            }
            let (status, _, answer) = app.send(request.body(Body::from(body)).unwrap()).await;
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(status, StatusCode::OK, "{channel}/{name}: {answer}");
            expected += answer["events"].as_u64().unwrap() as usize;
        }
    }
    assert!(
        expected > 40,
        "the fixtures produced only {expected} events"
    );
    let topic = app.config.topics().received;
    let records = read_topic(&kafka.brokers(), &topic, expected, READ_TIMEOUT).await;
    assert_eq!(records.len(), expected);
    let doc = Doc::load();
    let types = records_of(&records, RECEIVED, &doc);
    assert_eq!(
        types,
        doc.ce_types(RECEIVED),
        "the fixtures cover every type"
    );
}

#[tokio::test]
async fn lifecycle_records_the_outbox_relay_publishes_validate_against_their_message() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (status, created) = app
        .call(
            "POST",
            "/v1/workspaces/acme/integrations",
            Some(json!({"channel": "smtp", "name": "Receipts", "auth": {
                "host": "127.0.0.1", "port": crate::fake_accounts::smtp_port(), "username": "mailer",
                "password": "hunter2", "from_address": "shop@example.com", "starttls": false}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let base = format!("/v1/workspaces/acme/integrations/{id}");
    let steps = [
        (
            "POST",
            format!("{base}/connect"),
            Some(
                json!({"account": {"external_id": "shop@example.com", "display_name": "Receipts"}}),
            ),
        ),
        (
            "PATCH",
            base.clone(),
            Some(json!({"name": "Receipts (EU)", "settings": {"footer": "Acme"}})),
        ),
        ("PATCH", base.clone(), Some(json!({"name": "Receipts"}))),
        (
            "POST",
            format!("{base}/credentials"),
            Some(json!({"auth": {"password": "hunter3", "port": 465}})),
        ),
        (
            "POST",
            format!("{base}/disconnect"),
            Some(json!({"reason": "moving to another provider"})),
        ),
        ("DELETE", base.clone(), None),
    ];
    for (method, uri, body) in steps {
        let (status, answer) = app.call(method, &uri, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {answer}");
    }
    // The platform credentials' events share the topic: the configured ones were put and
    // verified at start; a refusal and a deletion complete the set.
    let fake = crate::platform_credentials::fake::start().await;
    let refused = json!({"client_key": "k", "client_secret": "wrong", "oauth_base": fake});
    let platform_steps = [
        ("PUT", "/v1/platform-credentials/tiktok", Some(refused)),
        ("POST", "/v1/platform-credentials/tiktok/verify", None),
        ("DELETE", "/v1/platform-credentials/zalo", None),
    ];
    for (method, uri, body) in platform_steps {
        let (status, answer) =
            crate::platform_credentials::as_operator(&app, method, uri, body).await;
        assert!(status.as_u16() < 500, "{method} {uri}: {status} {answer}");
    }
    let platform_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Platform'")
            .fetch_one(&app.pool())
            .await
            .unwrap();
    let expected = 7 + platform_events as usize;
    let producer = EventProducer::new(&app.config.kafka()).unwrap();
    let relay = OutboxRelay::new(app.pool(), producer, app.config.topics().lifecycle);
    while relay.publish_batch().await.unwrap() > 0 {}
    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().lifecycle,
        expected,
        READ_TIMEOUT,
    )
    .await;
    assert_eq!(records.len(), expected);
    let doc = Doc::load();
    let types = records_of(&records, LIFECYCLE, &doc);
    assert_eq!(
        types,
        doc.ce_types(LIFECYCLE),
        "every lifecycle type was published"
    );
    // What start-up recorded (the configured platform credentials) had no request to continue.
    let from_requests = records.iter().filter(|r| {
        r.header("ce_type")
            .is_some_and(|t| t.starts_with("switchboard.integration."))
    });
    assert!(
        from_requests
            .clone()
            .all(|r| r.header("traceparent").is_some()),
        "lifecycle events continue the request's trace"
    );
    assert_eq!(from_requests.count(), 7);
}

/// A stand-in for Meta's Send API that accepts every message.
async fn accepting_send_api() -> String {
    async fn accept(axum::Json(body): axum::Json<Value>) -> axum::Json<Value> {
        let recipient = body["recipient"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        axum::Json(json!({"recipient_id": recipient, "message_id": format!("m_{recipient}_0")}))
    }
    let app = axum::Router::new()
        .route("/{page}/messages", axum::routing::post(accept))
        .merge(crate::fake_accounts::router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_their_outcomes_and_dead_letters_validate_against_their_messages() {
    let kafka = TestKafka::new();
    let base = accepting_send_api().await;
    let credentials = format!("{TEST_PLATFORM_CREDENTIALS};messenger.api_base={base}");
    let app = TestApp::new_with(&kafka, |c| {
        c.platform_credentials = Some(SecretString::new(credentials));
    })
    .await;
    let integration: IntegrationId = app
        .connected("acme", "messenger", webhook_auth("messenger"))
        .await
        .parse()
        .unwrap();
    let state = &app.app.as_ref().unwrap().state;
    let (stop, running) = crate::helpers::stoppable_outbound_engine(&app, |_| {});

    let topics = app.config.topics();
    let doc = Doc::load();
    let sent = command(
        integration,
        "1254477777772919",
        OutboundContent::text("Shipped!"),
    );
    let unknown = command(IntegrationId::new(), "42", OutboundContent::text("hello"));
    let mut command_errors = Vec::new();
    for command in [&sent, &unknown] {
        let record = command_record(command, &topics.outbound, Some(TRACEPARENT.into()));
        command_errors.extend(doc.check_record(
            OUTBOUND,
            Some(&record.key),
            &headers_of(&record),
            &record.body,
        ));
        state.producer.publish(&record).await.unwrap();
    }
    let poison = RawRecord {
        topic: topics.outbound.clone(),
        key: Some(b"not:a-command".to_vec()),
        payload: b"{\"message_id\": 7}".to_vec(),
        headers: vec![("content-type".into(), Some(b"application/json".to_vec()))],
    };
    state.producer.publish_raw(&poison).await.unwrap();
    let statuses = read_topic(&kafka.brokers(), &topics.status, 2, READ_TIMEOUT).await;
    let dead_topic = format!("{}.dlq", topics.outbound);
    let dead = read_topic(&kafka.brokers(), &dead_topic, 1, READ_TIMEOUT).await;
    stop.send(true).unwrap();
    running.await.unwrap();

    assert_valid("the commands", command_errors);
    assert_eq!(statuses.len(), 2);
    let types = records_of(&statuses, STATUS, &doc);
    let engine_outcomes: BTreeSet<String> = doc
        .ce_types(STATUS)
        .into_iter()
        .filter(|t| t.ends_with("MessageSent.v1") || t.ends_with("MessageFailed.v1"))
        .collect();
    assert_eq!(types, engine_outcomes, "both outcomes were published");
    assert_eq!(dead.len(), 1);
    let messages = doc.messages(OUTBOUND_DLQ);
    assert_eq!(messages.len(), 1);
    let headers = header_object(&dead[0].headers);
    assert_valid(
        "the dead letter",
        doc.check_envelope(messages[0], dead[0].key.as_deref(), &headers),
    );
    assert_eq!(
        dead[0].payload, poison.payload,
        "the value is kept as it was"
    );
}

#[test]
fn agents_actions_validate_against_their_messages() {
    let doc = Doc::load();
    let mut types = BTreeSet::new();
    for action in [
        ConversationAction::Read {
            up_to: Utc::now() - chrono::Duration::seconds(5),
        },
        ConversationAction::Resolved,
        ConversationAction::Reopened,
        ConversationAction::ContactTyping,
    ] {
        let activity = ConversationActivity {
            event_id: Uuid::new_v4(),
            workspace_id: "acme".parse().unwrap(),
            conversation_key: conversation_key(IntegrationId::new(), "1254477777772919"),
            at: Utc::now(),
            action,
        };
        let record = activity_record(&activity, ACTIVITY, Some(TRACEPARENT.into()));
        assert_valid(
            &format!("{activity:?}"),
            doc.check_record(
                ACTIVITY,
                Some(&record.key),
                &headers_of(&record),
                &record.body,
            ),
        );
        types.insert(record.event.event_type);
    }
    assert_eq!(types, doc.ce_types(ACTIVITY), "every action is documented");
}
