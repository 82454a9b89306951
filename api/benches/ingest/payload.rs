//! The payloads: distinct, signed Messenger webhooks of exactly [`BODY_BYTES`].

use super::setup::PAGE_ID;
use axum::body::Bytes;
use axum::http::HeaderValue;
use std::time::{SystemTime, UNIX_EPOCH};
use switchboard_adapters::channels::webhook::hmac_sha256;

/// Size of every webhook body, in bytes.
pub const BODY_BYTES: usize = 1024;

/// One request's body and its `X-Hub-Signature-256` value.
pub struct Payload {
    /// The raw JSON body.
    pub body: Bytes,
    /// `sha256=<hex HMAC-SHA256(app secret, body)>`.
    pub signature: HeaderValue,
}

/// `count` distinct payloads signed with `secret`. Message ids carry a tag of this run, so
/// a rerun against the same broker publishes new event ids.
pub fn build(count: usize, secret: &str) -> Vec<Payload> {
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    (0..count)
        .map(|i| sign(messenger_body(&format!("{run:x}"), i), secret))
        .collect()
}

/// `body` with the signature Meta would send for it.
fn sign(body: Vec<u8>, secret: &str) -> Payload {
    let digest = hmac_sha256(secret.as_bytes(), &[&body]);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Payload {
        body: Bytes::from(body),
        signature: HeaderValue::from_str(&format!("sha256={hex}")).expect("hex is ASCII"),
    }
}

/// A page-message webhook from sender `i` with message id `m_<run>_<i>`, its text padded
/// so the whole body is [`BODY_BYTES`] long.
fn messenger_body(run: &str, i: usize) -> Vec<u8> {
    let sender = (7_000_000_000_000_000u64 + i as u64).to_string();
    let timestamp = 1_700_000_000_000i64 + i as i64;
    let envelope = |text: &str| {
        serde_json::json!({"object": "page", "entry": [{"id": PAGE_ID, "time": timestamp,
            "messaging": [{"sender": {"id": sender}, "recipient": {"id": PAGE_ID},
                "timestamp": timestamp, "message": {"mid": format!("m_{run}_{i}"), "text": text}}]}]})
        .to_string()
    };
    let room = BODY_BYTES.saturating_sub(envelope("").len());
    envelope(&filler(room, i)).into_bytes()
}

/// `len` bytes of plain ASCII text that JSON does not escape.
fn filler(len: usize, i: usize) -> String {
    format!("Hello, where is my order {i}? It was due yesterday; could you also change the delivery address please. ")
        .chars()
        .cycle()
        .take(len)
        .collect()
}
