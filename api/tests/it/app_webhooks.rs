//! The platform apps' shared URLs (`/webhooks/{channel}`) end to end: one signed delivery
//! naming several accounts lands each item in the workspace of the integration recording its
//! account and nowhere else; items of no live integration are counted, logged without payload
//! and acknowledged; only the platform's credentials verify; one account has one live
//! integration; channels without a shared app answer 404.

use crate::helpers::{captured_logs, json_request, TestApp, TestKafka, TEST_OPERATOR_TOKEN};
use crate::webhooks::{assert_problem, meta_signature, pages_body, post, stored};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

const PAGE_A: &str = "700000000000001";
const PAGE_B: &str = "700000000000002";
const PAGE_C: &str = "700000000000003";

async fn page(app: &TestApp, ws: &str, page: &str) -> String {
    app.connected(
        ws,
        "messenger",
        json!({"page_id": page, "page_access_token": "EAAB-token"}),
    )
    .await
}

/// The value of `switchboard_webhook_items_unrouted_total{channel}` (0 before its first count).
async fn unrouted_total(app: &TestApp, channel: &str) -> u64 {
    let mut request = json_request("GET", "/metrics", None);
    let operator = format!("Bearer {TEST_OPERATOR_TOKEN}");
    request
        .headers_mut()
        .insert("authorization", operator.parse().unwrap());
    let (status, _, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK);
    body.as_str()
        .unwrap()
        .lines()
        .find(|l| {
            l.starts_with("switchboard_webhook_items_unrouted_total")
                && l.contains(&format!("channel=\"{channel}\""))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

fn triple(id: &str, ws: &str, mid: &str) -> (String, String, String) {
    (id.to_owned(), ws.to_owned(), mid.to_owned())
}

#[tokio::test]
async fn one_delivery_to_the_meta_app_reaches_each_page_in_its_own_workspace_only() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let a = page(&app, "acme", PAGE_A).await;
    let b = page(&app, "globex", PAGE_B).await;
    let before = unrouted_total(&app, "messenger").await;
    let body = pages_body(&[
        (PAGE_A, "m_app_a"),
        (PAGE_B, "m_app_b"),
        (PAGE_C, "m_app_unknown_page"),
        (PAGE_A, "m_app_a2"),
    ]);
    let (status, _, answer) = app
        .send(post(
            "/webhooks/messenger",
            Some(&meta_signature(&body)),
            body,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"events": 3, "unrouted": 1}));

    let mut expected = vec![
        triple(&a, "acme", "m_app_a"),
        triple(&a, "acme", "m_app_a2"),
        triple(&b, "globex", "m_app_b"),
    ];
    expected.sort();
    assert_eq!(
        stored(&kafka, 10).await,
        expected,
        "page C published nowhere"
    );
    assert!(unrouted_total(&app, "messenger").await > before);
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("no live integration") && l.contains(PAGE_C))
        .expect("the unrouted page is logged by id");
    assert!(
        !line.contains("m_app_unknown_page"),
        "no payload in the log: {line}"
    );
}

#[tokio::test]
async fn only_the_platform_app_secret_verifies_a_delivery() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    page(&app, "acme", PAGE_A).await;
    let body = pages_body(&[(PAGE_A, "m_forged")]);
    let cases = [
        post("/webhooks/messenger", None, body.clone()),
        post("/webhooks/messenger", Some("sha256=00"), body.clone()),
        post(
            "/webhooks/messenger",
            Some(&meta_signature(b"another body")),
            body.clone(),
        ),
    ];
    for request in cases {
        let problem = assert_problem(&app, request, StatusCode::UNAUTHORIZED).await;
        assert_eq!(problem["type"], "/problems/bad-signature");
    }
    let garbage = br#"{"object": "page"}"#.to_vec();
    let signature = meta_signature(&garbage);
    assert_problem(
        &app,
        post("/webhooks/messenger", Some(&signature), garbage),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(stored(&kafka, 1).await.is_empty(), "nothing was published");
}

fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn the_handshake_is_answered_with_the_platform_verify_token() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    for channel in ["messenger", "whatsapp"] {
        let (status, content_type, body) = app
            .send(get(&format!(
                "/webhooks/{channel}?hub.mode=subscribe&hub.verify_token=meta-verify-token&hub.challenge=4711"
            )))
            .await;
        assert_eq!((status, body), (StatusCode::OK, json!(4711)), "{channel}");
        assert!(content_type.starts_with("text/plain"));
        let problem = assert_problem(
            &app,
            get(&format!(
                "/webhooks/{channel}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"
            )),
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(problem["type"], "/problems/handshake-refused");
    }
    assert_problem(
        &app,
        get("/webhooks/zalo?hub.challenge=1"),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

#[tokio::test]
async fn a_disconnected_integrations_page_is_unrouted_and_free_for_another() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let old = page(&app, "acme", PAGE_A).await;
    let disconnect = format!("/v1/workspaces/acme/integrations/{old}/disconnect");
    let (status, _) = app
        .call("POST", &disconnect, Some(json!({"reason": "left"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let late = pages_body(&[(PAGE_A, "m_after_disconnect")]);
    let (status, _, answer) = app
        .send(post(
            "/webhooks/messenger",
            Some(&meta_signature(&late)),
            late,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "acknowledged: {answer}");
    assert_eq!(answer, json!({"events": 0, "unrouted": 1}));

    let new = page(&app, "globex", PAGE_A).await;
    let body = pages_body(&[(PAGE_A, "m_new_owner")]);
    let (status, _, answer) = app
        .send(post(
            "/webhooks/messenger",
            Some(&meta_signature(&body)),
            body,
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"events": 1, "unrouted": 0}));
    assert_eq!(
        stored(&kafka, 5).await,
        [triple(&new, "globex", "m_new_owner")],
        "nothing reached the disconnected integration"
    );
}

#[tokio::test]
async fn a_page_has_one_live_integration() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    page(&app, "acme", PAGE_B).await;
    let (status, created) = app
        .call(
            "POST",
            "/v1/workspaces/globex/integrations",
            Some(json!({"channel": "messenger", "name": "Squatter",
                "auth": {"page_id": PAGE_B, "page_access_token": "EAAB-other"}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a typed page id claims nothing: {created}"
    );
    let squatter = created["id"].as_str().unwrap();
    let (status, problem) = app
        .call(
            "POST",
            &format!("/v1/workspaces/globex/integrations/{squatter}/connect"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "/problems/account-in-use");
    assert!(
        !problem.to_string().contains("acme"),
        "the holder is not revealed: {problem}"
    );
    let (status, shown) = app
        .call(
            "GET",
            &format!("/v1/workspaces/globex/integrations/{squatter}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["status"], "created", "{shown}");
}

/// A WhatsApp Business Account delivery with one text message per `(phone_number_id, wamid)`,
/// each in its own change, all under the business account `waba`.
fn whatsapp_body(waba: &str, items: &[(&str, &str)]) -> Vec<u8> {
    let changes: Vec<Value> = items
        .iter()
        .map(|(phone, wamid)| {
            json!({"field": "messages", "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone},
                "messages": [{"from": "16505551234", "id": wamid, "timestamp": "1749416383",
                              "type": "text", "text": {"body": "hi"}}]}})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": waba, "changes": changes}]})
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn whatsapp_is_routed_by_phone_number_id() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let waba = "800000000000001";
    let number = |ws: &str, phone: &str| {
        let auth =
            json!({"phone_number_id": phone, "business_account_id": waba, "access_token": "EAAG"});
        let ws = ws.to_owned();
        let app = &app;
        async move { app.connected(&ws, "whatsapp", auth).await }
    };
    let sales = number("acme", "900000000000001").await;
    let support = number("globex", "900000000000002").await;
    let before = unrouted_total(&app, "whatsapp").await;
    let body = whatsapp_body(
        waba,
        &[
            ("900000000000001", "wamid.SALES"),
            ("900000000000002", "wamid.SUPPORT"),
            ("900000000000003", "wamid.NOBODY"),
        ],
    );
    let (status, _, answer) = app
        .send(post(
            "/webhooks/whatsapp",
            Some(&meta_signature(&body)),
            body,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"events": 2, "unrouted": 1}));
    let mut expected = vec![
        triple(&sales, "acme", "wamid.SALES"),
        triple(&support, "globex", "wamid.SUPPORT"),
    ];
    expected.sort();
    assert_eq!(stored(&kafka, 10).await, expected);
    assert_eq!(unrouted_total(&app, "whatsapp").await, before + 1);

    let wrong_waba = whatsapp_body("800000000000009", &[("900000000000001", "wamid.FOREIGN")]);
    let (status, _, answer) = app
        .send(post(
            "/webhooks/whatsapp",
            Some(&meta_signature(&wrong_waba)),
            wrong_waba,
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"events": 0, "unrouted": 1}),
        "our phone under another business account is not ours"
    );
}

#[tokio::test]
async fn channels_without_a_shared_app_answer_404_and_the_routes_are_described() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    app.connected_telegram("acme", "1:tg").await;
    for channel in ["telegram", "chatbotx", "email", "nosuch", "NOT-A-NAME"] {
        let uri = format!("/webhooks/{channel}");
        assert_problem(&app, post(&uri, None, "{}"), StatusCode::NOT_FOUND).await;
        assert_problem(&app, get(&uri), StatusCode::NOT_FOUND).await;
    }
    let (status, doc) = app.call("GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let path = &doc["paths"]["/webhooks/{channel}"];
    assert!(
        path["get"].is_object() && path["post"].is_object(),
        "{path}"
    );
}

#[tokio::test]
async fn a_broker_that_cannot_take_the_events_gets_503() {
    let kafka = TestKafka::new();
    let app = TestApp::new_with(&kafka, |config| config.webhook_ack_timeout_ms = 1_000).await;
    page(&app, "acme", PAGE_A).await;
    kafka.cluster.broker_down(1).unwrap();
    let body = pages_body(&[(PAGE_A, "m_during_outage")]);
    let problem = assert_problem(
        &app,
        post("/webhooks/messenger", Some(&meta_signature(&body)), body),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(problem["type"], "/problems/unavailable");
    kafka.cluster.broker_up(1).unwrap();
}

#[tokio::test]
async fn the_shared_routes_are_off_unless_configured() {
    let kafka = TestKafka::new();
    let app = TestApp::new_with(&kafka, |config| config.shared_webhook_routes = false).await;
    page(&app, "acme", PAGE_A).await;
    let body = pages_body(&[(PAGE_A, "m_while_off")]);
    let problem = assert_problem(
        &app,
        post("/webhooks/messenger", Some(&meta_signature(&body)), body),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("shared_webhook_routes"),
        "{problem}"
    );
    assert!(stored(&kafka, 1).await.is_empty(), "nothing published");
}
