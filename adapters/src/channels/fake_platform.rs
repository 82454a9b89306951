//! A scriptable stand-in for a platform API, for sender tests: an axum app on `127.0.0.1:0`
//! that records every request (method, path with query, headers, JSON body) and answers from
//! a script of replies, then with a default. Each channel's tests script the documented
//! success and error bodies of their platform.
//!
//! The fakes listen on loopback, which the egress policy refuses by default: senders under test
//! use [`test_egress`], whose allow-list permits `127.0.0.1` and the `cdn.example` attachment
//! host of the tests' fixtures.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers (`Retry-After`…).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: Value,
}

impl Reply {
    /// A JSON answer with `status`.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// The same answer with one more header.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// HTTP method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when it was not JSON).
    pub body: Value,
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    requests: Vec<Recorded>,
}

/// A running fake platform.
#[derive(Clone)]
pub struct FakePlatform {
    /// `http://127.0.0.1:<port>`: the `api_base` to point a sender at.
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl FakePlatform {
    /// Starts a fake that answers `default` whenever the script is empty.
    pub async fn start(default: Reply) -> Self {
        let state = Arc::new(Mutex::new(State {
            default: Some(default),
            ..State::default()
        }));
        let shared = state.clone();
        let app = Router::new().fallback(move |method, uri, headers, body| {
            answer(shared.clone(), method, uri, headers, body)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, state }
    }

    /// Queues `reply` as the answer to the next unanswered request.
    pub fn then(&self, reply: Reply) -> &Self {
        self.state.lock().unwrap().script.push_back(reply);
        self
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut state = state.lock().unwrap();
        state.requests.push(Recorded {
            method,
            path: uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let next = state.script.pop_front();
        next.or_else(|| state.default.clone()).unwrap()
    };
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        axum::Json(reply.body),
    )
        .into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// The egress allow-list of sender tests: the fakes' loopback address, and the (never
/// fetched) attachment host of the fixtures.
pub const TEST_EGRESS_ALLOW: &str = "127.0.0.1/32,cdn.example:443";

/// The egress policy of sender tests: [`TEST_EGRESS_ALLOW`], and no real DNS (any other name
/// does not resolve).
pub fn test_policy() -> crate::egress::EgressPolicy {
    crate::egress::EgressPolicy::parse(TEST_EGRESS_ALLOW)
        .expect("valid test allow-list")
        .with_lookup(std::sync::Arc::new(crate::egress::StaticLookup::default()))
}

/// HTTP clients under [`test_policy`], shared by the sender tests.
pub fn test_egress() -> crate::egress::EgressHttp {
    static HTTP: std::sync::OnceLock<crate::egress::EgressHttp> = std::sync::OnceLock::new();
    HTTP.get_or_init(|| crate::egress::EgressHttp::new(test_policy()))
        .clone()
}

/// A target of `channel` calling `base`, with `fields` as its opened auth fields.
pub fn target(
    channel: &str,
    base: &str,
    fields: &[(&str, &str)],
) -> crate::channels::sender::SendTarget {
    let opened = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), switchboard_domain::SecretString::new(*v)))
        .collect();
    crate::channels::sender::SendTarget {
        integration_id: switchboard_domain::IntegrationId::new(),
        workspace_id: "acme".parse().unwrap(),
        channel: switchboard_domain::ChannelKind::parse(channel).unwrap(),
        version: 1,
        api_base: base.to_owned(),
        secrets: crate::channels::webhook::WebhookSecrets::new(opened, Default::default()),
    }
}

/// A command to send `content` to `recipient` through `target`.
pub fn message(
    target: &crate::channels::sender::SendTarget,
    recipient: &str,
    content: switchboard_domain::message::OutboundContent,
) -> switchboard_domain::message::SendMessage {
    switchboard_domain::message::SendMessage {
        message_id: uuid::Uuid::new_v4(),
        integration_id: target.integration_id,
        workspace_id: target.workspace_id.clone(),
        channel: target.channel.clone(),
        conversation_key: switchboard_domain::message::conversation_key(
            target.integration_id,
            recipient,
        ),
        recipient: recipient.to_owned(),
        content,
        idempotency_key: None,
        requested_at: chrono::Utc::now(),
    }
}
