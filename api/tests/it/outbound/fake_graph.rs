//! A fake Graph Send API on a local port: `POST /{page-id}/messages` answered with Meta's
//! documented success and error bodies, scripted per recipient to fail, throttle or be slow,
//! recording every call with when it arrived and when it was answered.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// One scripted Graph answer.
#[derive(Clone)]
pub struct Answer {
    status: u16,
    body: Value,
    delay: Duration,
}

pub fn graph_error(status: u16, code: i64, message: &str) -> Answer {
    Answer {
        status,
        body: json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AWswcO7WbGC"}}),
        delay: Duration::ZERO,
    }
}

/// One Send API call the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    pub path: String,
    pub authorization: String,
    pub recipient: String,
    pub text: String,
    pub received: Instant,
    pub answered: Instant,
}

/// What the fake was told and what it saw.
#[derive(Default)]
pub struct Graph {
    script: HashMap<String, VecDeque<Answer>>,
    /// Recipients whose default answers take this long.
    pub slow: HashMap<String, Duration>,
    calls: Vec<Call>,
    started: usize,
}

/// The fake's shared state.
pub type Fake = Arc<Mutex<Graph>>;

/// Starts the fake Graph API; returns its state and base URL.
pub async fn fake_graph() -> (Fake, String) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route("/{page}/messages", axum::routing::post(send_api))
        .with_state(fake.clone())
        .merge(crate::fake_accounts::router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, base)
}

async fn send_api(
    State(fake): State<Fake>,
    Path(page): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let received = Instant::now();
    let recipient = body["recipient"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let answer = {
        let mut graph = fake.lock().unwrap();
        graph.started += 1;
        let scripted = graph
            .script
            .get_mut(&recipient)
            .and_then(VecDeque::pop_front);
        let number = graph.calls.len();
        scripted.unwrap_or(Answer {
            status: 200,
            body: json!({"recipient_id": recipient, "message_id": format!("m_{recipient}_{number}")}),
            delay: graph.slow.get(&recipient).copied().unwrap_or_default(),
        })
    };
    tokio::time::sleep(answer.delay).await;
    fake.lock().unwrap().calls.push(Call {
        path: format!("/{page}/messages"),
        authorization: headers["authorization"].to_str().unwrap().to_owned(),
        recipient,
        text: body["message"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        received,
        answered: Instant::now(),
    });
    (
        StatusCode::from_u16(answer.status).unwrap(),
        Json(answer.body),
    )
}

/// Every call answered so far.
pub fn calls(fake: &Fake) -> Vec<Call> {
    fake.lock().unwrap().calls.clone()
}

/// Queues `answers` for the next calls to `recipient` (then the default success).
pub fn script(fake: &Fake, recipient: &str, answers: Vec<Answer>) {
    fake.lock()
        .unwrap()
        .script
        .insert(recipient.into(), answers.into());
}

/// Waits until the fake has received `count` calls (answered or not).
pub async fn until_started(fake: &Fake, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.lock().unwrap().started < count {
        assert!(Instant::now() < deadline, "the fake was never called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
