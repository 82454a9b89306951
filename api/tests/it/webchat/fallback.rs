//! The fallback transport: a Server-Sent Events stream to receive and plain POSTs to send,
//! with the socket's rules (origin, session, dedup, limits) and its fan-out.

use super::fan_out::conversation_of;
use super::{serve, widget, SITE};
use crate::helpers::outbound_engine;
use crate::helpers::{read_topic, TestApp, TestKafka};
use crate::send::projector;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// How long an event may take to arrive.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// An open event stream, read event by event.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// Opens the stream of `integration` from `origin` with `token`; the refusal's status
    /// when it is refused.
    async fn open(
        address: SocketAddr,
        integration: &str,
        origin: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> Result<Self, (u16, Value)> {
        let mut request = reqwest::Client::new()
            .get(format!("http://{address}/webchat/{integration}/events"))
            .query(&[("token", token)])
            .header("origin", origin);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        if !response.status().is_success() {
            let status = response.status().as_u16();
            return Err((status, response.json().await.unwrap_or(Value::Null)));
        }
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            origin,
            "the page may read it"
        );
        Ok(Self {
            response,
            buffer: String::new(),
        })
    }

    /// The next event before `deadline`: its id, if any, and its frame (keep-alive comments
    /// are skipped, so they do not extend the wait).
    async fn next_before(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Option<(Option<String>, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in event.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        id = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if !data.is_empty() {
                    return Some((id, serde_json::from_str(&data).unwrap()));
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .unwrap()
                .expect("the stream is open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Reads events until a frame of `kind` that `wanted` accepts, within [`EVENT_TIMEOUT`];
    /// fails naming the frames read meanwhile.
    async fn next_where(
        &mut self,
        kind: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> (Option<String>, Value) {
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        let mut skipped = Vec::new();
        loop {
            let Some((id, frame)) = self.next_before(deadline).await else {
                panic!("no {kind} frame within {EVENT_TIMEOUT:?}; read meanwhile: {skipped:?}");
            };
            if frame["type"] == kind && wanted(&frame) {
                return (id, frame);
            }
            skipped.push(frame);
        }
    }

    /// Reads events until a frame of `kind`.
    async fn next_of(&mut self, kind: &str) -> (Option<String>, Value) {
        self.next_where(kind, |_| true).await
    }
}

/// POSTs `body` as the widget does (`text/plain`) from `origin`: status and answer.
async fn post(address: SocketAddr, integration: &str, origin: &str, body: String) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{address}/webchat/{integration}/frames"))
        .header("origin", origin)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn frame(token: &str, frame: Value) -> String {
    json!({"token": token, "frame": frame}).to_string()
}

#[tokio::test]
async fn over_the_fallback_a_message_goes_in_once_and_a_reply_comes_out() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;
    let projector = projector(&app);
    let adapters = outbound_engine(&app);

    let mut events = Events::open(address, &integration, SITE, "", None)
        .await
        .unwrap();
    let (_, ready) = events.next_of("ready").await;
    let token = ready["token"].as_str().unwrap().to_owned();
    let visitor = ready["visitor"].as_str().unwrap().to_owned();
    let send = json!({"type": "send", "client_id": "f-1", "text": "Is anyone there?"});
    let (status, accepted) = post(address, &integration, SITE, frame(&token, send.clone())).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["type"], "accepted");
    let (_, again) = post(address, &integration, SITE, frame(&token, send)).await;
    assert_eq!(
        again["message_id"], accepted["message_id"],
        "a resend is one message"
    );
    let (visitor_event, echoed) = events.next_of("message").await;
    assert_eq!(echoed["message"]["id"], accepted["message_id"]);

    let conversation = conversation_of(&app, &visitor).await;
    projector.abort();
    let _ = projector.await;
    let (status, sent) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/conversations/{conversation}/messages"),
            Some(json!({"text": "Yes, here."})),
        )
        .await;
    assert_eq!(status.as_u16(), 202, "{sent}");
    let reply = events
        .next_where("message", |frame| frame["message"]["author"] == "agent")
        .await;
    assert_eq!(reply.1["message"]["text"], "Yes, here.");
    let ack = json!({"type": "ack", "message_ids": [sent["message_id"]], "status": "read"});
    let (status, _) = post(address, &integration, SITE, frame(&token, ack)).await;
    assert_eq!(status, 204);

    // Resumed after the visitor's message: the reply again (the bound is inclusive and the
    // widget drops what it shows), not what came before; and found although the inbox,
    // where history comes from, never got it (its projector stopped before the reply).
    let mut resumed = Events::open(
        address,
        &integration,
        SITE,
        &token,
        visitor_event.as_deref(),
    )
    .await
    .unwrap();
    let (_, ready_again) = resumed.next_of("ready").await;
    assert_eq!(
        ready_again["visitor"],
        visitor.as_str(),
        "the token keeps the visitor"
    );
    let mut ids = Vec::new();
    while ids.last() != Some(&reply.1["message"]["id"]) {
        ids.push(resumed.next_of("message").await.1["message"]["id"].clone());
    }
    assert!(ids.len() <= 2, "{ids:?}");

    let received = read_topic(
        &kafka.brokers(),
        &app.config.topics().received,
        3,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(received.len(), 2, "both sends stored, as one event id");
    adapters.abort();
}

#[tokio::test]
async fn the_fallback_refuses_what_the_socket_refuses() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;
    let mut events = Events::open(address, &integration, SITE, "", None)
        .await
        .unwrap();
    let token = events.next_of("ready").await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let hello = json!({"type": "send", "client_id": "r-1", "text": "hi"});

    let foreign = "https://elsewhere.example";
    let (status, problem) = Events::open(address, &integration, foreign, &token, None)
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, problem["type"].as_str()),
        (403, Some("/problems/origin-refused"))
    );
    let cases = [
        (
            foreign,
            frame(&token, hello.clone()),
            403,
            "/problems/origin-refused",
        ),
        (
            SITE,
            frame("forged", hello.clone()),
            401,
            "/problems/session-invalid",
        ),
        (
            SITE,
            "not json".to_owned(),
            400,
            "/problems/malformed-frame",
        ),
        (
            SITE,
            frame(&token, json!({"type": "launch"})),
            400,
            "/problems/malformed-frame",
        ),
        (
            SITE,
            frame(
                &token,
                json!({"type": "send", "client_id": "a b", "text": "hi"}),
            ),
            422,
            "/problems/validation",
        ),
        (SITE, "x".repeat(30 * 1024), 413, "/problems/body-too-large"),
    ];
    for (origin, body, expected, kind) in cases {
        let (status, problem) = post(address, &integration, origin, body).await;
        assert_eq!(
            (status, problem["type"].as_str()),
            (expected, Some(kind)),
            "{problem}"
        );
    }
    let mut limited = None;
    for n in 0..30 {
        let send = json!({"type": "send", "client_id": format!("m-{n}"), "text": "hello"});
        let (status, problem) = post(address, &integration, SITE, frame(&token, send)).await;
        if status == 429 {
            limited = Some(problem);
            break;
        }
    }
    let limited = limited.expect("the burst ran out");
    assert_eq!(limited["type"], "/problems/rate-limited");
    let (status, _) = post(
        address,
        &integration,
        SITE,
        frame(&token, json!({"type": "typing"})),
    )
    .await;
    assert_eq!(status, 204, "typing is taken");
    drop(events);
}

#[tokio::test]
async fn a_visitors_streams_count_as_connections() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = widget(&app).await;
    let address = serve(app.router.clone()).await;
    let mut first = Events::open(address, &integration, SITE, "", None)
        .await
        .unwrap();
    let token = first.next_of("ready").await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut open = vec![first];
    let limit = switchboard_api::webchat::limits::MAX_SOCKETS_PER_VISITOR;
    for _ in 1..limit {
        let mut stream = Events::open(address, &integration, SITE, &token, None)
            .await
            .unwrap();
        stream.next_of("ready").await;
        open.push(stream);
    }
    let (status, problem) = Events::open(address, &integration, SITE, &token, None)
        .await
        .err()
        .unwrap();
    assert_eq!(status, 429, "{problem}");
    assert_eq!(problem["type"], "/problems/too-many-connections");
}
