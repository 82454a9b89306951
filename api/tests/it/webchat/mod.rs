//! The web chat widget's socket: visitor messages become `MessageReceived` (once per client
//! id), sessions belong to one visitor of one integration, origins off the allow-list are
//! refused, replies reach every socket of the visitor on every replica, acknowledgements are
//! status events, and typing and read marks go both ways.

mod fallback;
mod fan_out;
mod pages;
mod sessions;
mod signals;
mod visitor;

use crate::helpers::TestApp;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The site the test widgets are embedded in.
pub const SITE: &str = "https://shop.example.com";

/// How long a looked-up integration may be remembered by the routes.
pub const SITE_TTL: Duration = switchboard_api::webchat::sites::SITE_TTL;

/// How long a frame may take to arrive.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on a loopback port, as a replica would; returns its address.
pub async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    address
}

/// A connected web chat integration of workspace `acme` embedded on [`SITE`].
pub async fn widget(app: &TestApp) -> String {
    app.connected("acme", "webchat", json!({"allowed_origin": SITE}))
        .await
}

/// A widget's socket, speaking the web chat protocol.
pub struct Widget {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The visitor's token, as the last `ready` gave it.
    pub token: String,
    /// The visitor's contact id.
    pub visitor: String,
    /// The history frames that followed `ready`, and messages read since.
    pub seen: Vec<Value>,
}

/// Opens a socket to `integration`'s widget from `origin`: the handshake's HTTP status when
/// it is refused.
pub async fn open(
    address: std::net::SocketAddr,
    integration: &str,
    origin: Option<&str>,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, u16> {
    let mut request = format!("ws://{address}/webchat/{integration}/ws")
        .into_client_request()
        .unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

impl Widget {
    /// Opens a socket from [`SITE`] and says hello with `token` (empty: first contact).
    pub async fn connect(address: std::net::SocketAddr, integration: &str, token: &str) -> Self {
        let socket = open(address, integration, Some(SITE))
            .await
            .expect("the site's origin is allowed");
        let mut widget = Self {
            socket,
            token: String::new(),
            visitor: String::new(),
            seen: Vec::new(),
        };
        widget.say(json!({"type": "hello", "token": token})).await;
        let ready = widget.next().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        widget.token = ready["token"].as_str().unwrap().to_owned();
        widget.visitor = ready["visitor"].as_str().unwrap().to_owned();
        widget
    }

    /// Sends one frame.
    pub async fn say(&mut self, frame: Value) {
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }

    /// The next frame, within [`FRAME_TIMEOUT`]; messages are also kept in `seen`.
    pub async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(FRAME_TIMEOUT, self.socket.next())
                .await
                .expect("a frame within the timeout")
                .expect("the socket is open")
                .unwrap();
            if let Message::Text(text) = frame {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                if value["type"] == "message" {
                    self.seen.push(value["message"].clone());
                }
                return value;
            }
        }
    }

    /// Reads frames until one of `kind`, returning it.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Reads frames until a message by `author` (`visitor` or `agent`), returning it.
    pub async fn next_from(&mut self, author: &str) -> Value {
        loop {
            let frame = self.next_of("message").await;
            if frame["message"]["author"] == author {
                return frame;
            }
        }
    }

    /// Sends `text` as `client_id` and returns the `accepted` or `error` answer.
    pub async fn send_text(&mut self, client_id: &str, text: &str) -> Value {
        self.say(json!({"type": "send", "client_id": client_id, "text": text}))
            .await;
        loop {
            let frame = self.next().await;
            if frame["type"] == "accepted" || frame["type"] == "error" {
                return frame;
            }
        }
    }

    /// Closes the socket, as a tab that is closed.
    pub async fn close(&mut self) {
        let _ = self.socket.close(None).await;
    }

    /// Whether a message frame arrives within `wait`.
    pub async fn receives_within(&mut self, wait: Duration) -> Option<Value> {
        let frame = tokio::time::timeout(wait, self.socket.next())
            .await
            .ok()??;
        match frame.ok()? {
            Message::Text(text) => serde_json::from_str(text.as_str()).ok(),
            _ => None,
        }
    }
}
