//! The server loop's limits, over real sockets: a client that never finishes its headers is
//! disconnected, a body that stalls gets 408, requests beyond the concurrency cap are shed with
//! 503, connections beyond the connection cap wait, and a source address whose webhooks keep
//! failing verification, or whose credentials keep being refused, gets 429 (the address a
//! trusted proxy names, behind one).

use crate::helpers::{json_request, TestApp, TestKafka};
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use std::net::SocketAddr;
use std::time::Duration;
use switchboard_api::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for anything these tests wait on; the limits under test are far shorter.
const PATIENCE: Duration = Duration::from_secs(15);

/// Serves an app with `tweak` on a loopback port; returns the port and the app.
async fn serving(kafka: &TestKafka, tweak: impl FnOnce(&mut Config)) -> (u16, TestApp) {
    let mut app = TestApp::new_with(kafka, tweak).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = app.app.take().unwrap();
    tokio::spawn(served.serve(listener, std::future::pending()));
    (port, app)
}

/// Everything the server sends until it closes the connection.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let kafka = TestKafka::new();
    let (port, _app) = serving(&kafka, |c| c.header_read_timeout_ms = 300).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(!answer.contains("200 OK"), "{answer}");

    let mut patient = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    patient
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut patient)
        .await
        .starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_stalled_body_is_408_and_requests_past_the_cap_are_shed() {
    let kafka = TestKafka::new();
    let (port, _app) = serving(&kafka, |c| {
        c.body_read_timeout_ms = 1_500;
        c.max_concurrent_requests = 1;
    })
    .await;
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stalled
        .write_all(b"POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"work")
        .await
        .unwrap();
    // The stalled request holds the only slot while its body is awaited.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    let shed = client
        .get(format!("http://127.0.0.1:{port}/v1/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");
    let problem: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/overloaded");
    let probe = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), StatusCode::OK, "probes are never shed");

    let answer = read_to_close(&mut stalled).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("/problems/body-timeout"), "{answer}");
    let after = client
        .get(format!("http://127.0.0.1:{port}/v1/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK, "the slot is free again");
}

#[tokio::test]
async fn a_source_that_keeps_failing_webhook_verification_gets_429() {
    let kafka = TestKafka::new();
    let app = TestApp::new_with(&kafka, |c| c.webhook_failures_per_minute = 3).await;
    let id = app.connected_telegram("acme", "1:token").await;
    let uri = format!("/webhooks/telegram/{id}");
    let from = |address: [u8; 4], secret: &str| {
        let mut request = json_request("POST", &uri, Some(serde_json::json!({"update_id": 1})));
        request
            .headers_mut()
            .insert("x-telegram-bot-api-secret-token", secret.parse().unwrap());
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((address, 40_000))));
        request
    };
    let attacker = [198, 51, 100, 9];
    for _ in 0..3 {
        assert_eq!(
            app.send_as_is(from(attacker, "guess")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, _, problem) = app.send_as_is(from(attacker, "guess")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    let (status, _, _) = app.send_as_is(from(attacker, "hook-secret")).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "paused, even with the right secret"
    );
    let (status, _, body) = app
        .send_as_is(from([198, 51, 100, 10], "hook-secret"))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another address is unaffected: {body}"
    );
}

/// A request to a workspace route with `token`, from `peer` (naming `forwarded_for`).
fn credentialed(
    token: &str,
    peer: [u8; 4],
    forwarded_for: Option<&str>,
) -> axum::http::Request<axum::body::Body> {
    let mut request = json_request("GET", "/v1/workspaces/acme/integrations", None);
    let headers = request.headers_mut();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(client) = forwarded_for {
        headers.insert("x-forwarded-for", client.parse().unwrap());
    }
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
    request
}

#[tokio::test]
async fn a_source_that_keeps_presenting_bad_credentials_gets_429_everywhere() {
    let kafka = TestKafka::new();
    let app = TestApp::new_with(&kafka, |c| c.credential_failures_per_minute = 3).await;
    let good = crate::helpers::bearer("acme");
    let good = good.trim_start_matches("Bearer ");
    let guesser = [198, 51, 100, 20];
    for _ in 0..3 {
        let (status, _, _) = app
            .send_as_is(credentialed("sbk_guess", guesser, None))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, problem) = app
        .send_as_is(credentialed("sbk_guess", guesser, None))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    let mut operator = json_request("GET", "/v1/keys", None);
    operator
        .headers_mut()
        .insert("authorization", "Bearer not-the-operator".parse().unwrap());
    operator
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((guesser, 1))));
    let (status, _, _) = app.send_as_is(operator).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the operator routes too"
    );
    let (status, _, body) = app.send_as_is(credentialed(good, guesser, None)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a good credential from the same address still passes: {body}"
    );
    let mut bare = json_request("GET", "/v1/workspaces/acme/integrations", None);
    bare.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((guesser, 1))));
    let (status, _, _) = app.send_as_is(bare).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no credential at all guesses nothing: still 401"
    );
    let (status, _, _) = app
        .send_as_is(credentialed("sbk_guess", [198, 51, 100, 21], None))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "another address is unaffected"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_client_it_names_is_limited() {
    let kafka = TestKafka::new();
    let app = TestApp::new_with(&kafka, |c| {
        c.credential_failures_per_minute = 2;
        c.trusted_proxies = Some("10.0.0.0/8".into());
    })
    .await;
    let proxy = [10, 0, 0, 5];
    for _ in 0..2 {
        let forged = Some("6.6.6.6, 203.0.113.1");
        app.send_as_is(credentialed("sbk_guess", proxy, forged))
            .await;
    }
    let (status, _, _) = app
        .send_as_is(credentialed("sbk_guess", proxy, Some("203.0.113.1")))
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the named client is paused"
    );
    let (status, _, _) = app
        .send_as_is(credentialed("sbk_guess", proxy, Some("203.0.113.2")))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the proxy's other clients are not"
    );

    let untrusted = [198, 51, 100, 30];
    for client in ["203.0.113.3", "203.0.113.4"] {
        app.send_as_is(credentialed("sbk_guess", untrusted, Some(client)))
            .await;
    }
    let (status, _, _) = app
        .send_as_is(credentialed("sbk_guess", untrusted, Some("203.0.113.6")))
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "an untrusted peer's X-Forwarded-For is not believed"
    );
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let kafka = TestKafka::new();
    let (port, _app) = serving(&kafka, |c| {
        c.max_connections = 1;
        c.header_read_timeout_ms = 10_000;
    })
    .await;
    let mut first = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut second = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    second
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(500), second.read(&mut byte)).await;
    assert!(
        waited.is_err(),
        "the second connection was served beside the first"
    );
    drop(first);
    let answer = read_to_close(&mut second).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "served once the first closed: {answer}"
    );
    let mut again = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut again).await.starts_with("HTTP/1.1 200"));
}
