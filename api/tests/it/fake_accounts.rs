//! A fake of every platform's account calls, shared by the whole test binary: what connecting,
//! disconnecting and deleting an integration ask (Graph `GET /{id}` and `subscribed_apps`, the
//! Bot API's `getMe`, `setWebhook` and `deleteWebhook`, Zalo's `getoa`, TikTok's `business/get`;
//! and Graph's app access token, which verifies a Meta app's platform credentials),
//! answered as the platforms document, on a runtime of its own so every test (and every
//! `switchboard` process a test starts) can point its `api_base` settings at [`base`].
//!
//! What it answers follows from the request, so tests need not script it:
//! - a Graph id is read back as itself (`Page <id>`, `Number <id>`);
//! - a bot token `<n>:<secret>` is bot `n` (`@bot<n>_bot`); another shape is Telegram's 404;
//! - a Zalo token is the OA registered for it with [`register_zalo`], else Zalo's -216;
//! - a TikTok token reads the business account it is asked about;
//! - any token starting with `refused` is refused (Graph 190, Telegram 401, Zalo -216, TikTok
//!   40105), any starting with `down` gets a 503.
//!
//! Every request is recorded ([`requests`]) with its method, path and JSON body. An SMTP
//! server beside it ([`smtp_port`]) accepts every login whose password does not start with
//! `refused`.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    requests: Vec<Seen>,
    zalo: HashMap<String, String>,
}

fn shared() -> &'static Mutex<Shared> {
    static SHARED: OnceLock<Mutex<Shared>> = OnceLock::new();
    SHARED.get_or_init(Default::default)
}

/// Where the fakes listen: the HTTP platforms' base URL and the SMTP server's port.
struct Fakes {
    base: String,
    smtp_port: u16,
}

/// The fakes, started on first use on a thread and runtime of their own.
fn fakes() -> &'static Fakes {
    static FAKES: OnceLock<Fakes> = OnceLock::new();
    FAKES.get_or_init(|| {
        let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let smtp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        for listener in [&http, &smtp] {
            listener.set_nonblocking(true).unwrap();
        }
        let fakes = Fakes {
            base: format!("http://{}", http.local_addr().unwrap()),
            smtp_port: smtp.local_addr().unwrap().port(),
        };
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let smtp = tokio::net::TcpListener::from_std(smtp).unwrap();
                tokio::spawn(async move {
                    while let Ok((socket, _)) = smtp.accept().await {
                        tokio::spawn(smtp_session(socket));
                    }
                });
                let http = tokio::net::TcpListener::from_std(http).unwrap();
                axum::serve(http, router()).await.unwrap();
            });
        });
        fakes
    })
}

/// `http://127.0.0.1:<port>` of the fake platforms.
pub fn base() -> &'static str {
    &fakes().base
}

/// The port of the fake SMTP server on 127.0.0.1 (no TLS; a password starting with `refused`
/// is refused with 535).
pub fn smtp_port() -> u16 {
    fakes().smtp_port
}

/// Just enough SMTP for a login probe: greeting, EHLO offering AUTH PLAIN, AUTH, NOOP, QUIT.
async fn smtp_session(socket: tokio::net::TcpStream) {
    use base64::Engine;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    if write.write_all(b"220 fake.test ESMTP\r\n").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let verb = words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        let reply = match verb.as_str() {
            "EHLO" | "HELO" => "250-fake.test\r\n250 AUTH PLAIN".to_owned(),
            "AUTH" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(words.get(2).unwrap_or(&""))
                    .unwrap_or_default();
                let password = String::from_utf8_lossy(&decoded)
                    .rsplit('\0')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if password.starts_with("refused") {
                    "535 5.7.8 Authentication credentials invalid".to_owned()
                } else {
                    "235 2.7.0 Authentication successful".to_owned()
                }
            }
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                return;
            }
            _ => "250 2.0.0 Ok".to_owned(),
        };
        if write
            .write_all(format!("{reply}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The fake as a router, for fakes of a platform's other calls to merge.
pub fn router() -> Router {
    Router::new().fallback(answer)
}

/// The `api_base` platform settings of every channel with a platform app and account calls,
/// pointing at the fake (Telegram has no platform app: see [`point_telegram_at_fake`]).
pub fn api_bases() -> String {
    let base = base();
    ["messenger", "whatsapp", "zalo", "tiktok", "telegram"]
        .iter()
        .map(|channel| format!("{channel}.api_base={base}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Points Telegram's calls at the fake in the credentials in force of `live`, without storing
/// anything: for apps configured without platform credentials, whose outbox must hold only
/// integration events.
pub fn point_telegram_at_fake(
    live: &switchboard_adapters::channels::platform_credentials::LivePlatformCredentials,
) {
    let mut credentials = (*live.current()).clone();
    credentials.insert(
        switchboard_domain::ChannelKind::parse("telegram").unwrap(),
        "api_base",
        switchboard_domain::SecretString::new(base()),
    );
    live.replace(credentials);
}

/// Makes Zalo's `getoa` answer `oa_id` for `token`.
pub fn register_zalo(token: &str, oa_id: &str) {
    shared()
        .lock()
        .unwrap()
        .zalo
        .insert(token.to_owned(), oa_id.to_owned());
}

/// Every request received whose path contains `needle`.
pub fn requests(needle: &str) -> Vec<Seen> {
    shared()
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.path.contains(needle))
        .cloned()
        .collect()
}

async fn answer(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    shared().lock().unwrap().requests.push(Seen {
        method: method.clone(),
        path: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (status, body) = match (method.as_str(), segments.as_slice()) {
        ("POST", [bot, call]) if bot.starts_with("bot") => telegram(&bot[3..], call),
        ("GET", ["v2.0", "oa", "getoa"]) => zalo(&header("access_token")),
        ("POST", ["oauth", "access_token"]) => meta_app_token(&body),
        ("GET", ["business", "get"]) => tiktok(&header("access-token")),
        ("POST", ["tt_user", "oauth2", "revoke"]) => tiktok_revoke(&body),
        ("POST" | "DELETE", [_, "subscribed_apps"]) => {
            graph(&header("authorization"), json!({"success": true}))
        }
        ("GET", [id]) if query.contains("display_phone_number") => graph(
            &header("authorization"),
            json!({"id": id, "display_phone_number": "+1 555-0100", "verified_name": format!("Number {id}")}),
        ),
        ("GET", [id]) => graph(
            &header("authorization"),
            json!({"id": id, "name": format!("Page {id}")}),
        ),
        _ => (
            404,
            json!({"error": {"message": "Unknown path components", "type": "OAuthException", "code": 2500}}),
        ),
    };
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

/// Graph's app access token (client credentials): a client secret starting with `refused` is
/// Graph's "Error validating client secret."
fn meta_app_token(form: &[u8]) -> (u16, Value) {
    // The test apps' values need no percent-decoding.
    let form: HashMap<String, String> = String::from_utf8_lossy(form)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let secret = form.get("client_secret").map(String::as_str).unwrap_or("");
    if secret.is_empty() || secret.starts_with("refused") {
        return (
            400,
            json!({"error": {"message": "Error validating client secret.", "type": "OAuthException", "code": 1}}),
        );
    }
    let app = form.get("client_id").cloned().unwrap_or_default();
    (
        200,
        json!({"access_token": format!("{app}|app-token"), "token_type": "bearer"}),
    )
}

fn graph(authorization: &str, success: Value) -> (u16, Value) {
    let token = authorization.strip_prefix("Bearer ").unwrap_or_default();
    if token.starts_with("refused") {
        (
            400,
            json!({"error": {"message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190}}),
        )
    } else if token.starts_with("down") {
        (
            503,
            json!({"error": {"message": "Service temporarily unavailable", "code": 2, "is_transient": true}}),
        )
    } else {
        (200, success)
    }
}

fn telegram(token: &str, call: &str) -> (u16, Value) {
    if token.starts_with("refused") {
        return (
            401,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        );
    }
    if token.starts_with("down") {
        return (
            502,
            json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
        );
    }
    let Some(id) = token
        .split_once(':')
        .and_then(|(id, _)| id.parse::<u64>().ok())
    else {
        return (
            404,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        );
    };
    match call {
        "getMe" => (
            200,
            json!({"ok": true, "result": {"id": id, "is_bot": true, "first_name": "Test bot", "username": format!("bot{id}_bot")}}),
        ),
        "setWebhook" => (
            200,
            json!({"ok": true, "result": true, "description": "Webhook was set"}),
        ),
        "deleteWebhook" => (
            200,
            json!({"ok": true, "result": true, "description": "Webhook was deleted"}),
        ),
        _ => (
            404,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        ),
    }
}

fn zalo(token: &str) -> (u16, Value) {
    if token.starts_with("down") {
        return (503, json!({}));
    }
    let oa = shared().lock().unwrap().zalo.get(token).cloned();
    match oa {
        Some(oa) if !token.starts_with("refused") => (
            200,
            json!({"data": {"oa_id": oa, "name": format!("OA {oa}")}, "error": 0, "message": "Success"}),
        ),
        _ => (
            200,
            json!({"error": -216, "message": "Access token is invalid"}),
        ),
    }
}

/// TikTok's `tt_user/oauth2/revoke/`: JSON `client_id, client_secret, access_token`, answered
/// in TikTok's envelope.
fn tiktok_revoke(body: &[u8]) -> (u16, Value) {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if body["client_id"] != "tiktok-client-key" || body["client_secret"] != "tiktok-client-secret" {
        return (
            200,
            json!({"code": 40001, "message": "Invalid client_id or client_secret", "request_id": "r"}),
        );
    }
    match body["access_token"].as_str() {
        Some(token) if !token.starts_with("refused") => (
            200,
            json!({"code": 0, "message": "OK", "request_id": "r", "data": {}}),
        ),
        _ => (
            200,
            json!({"code": 40105, "message": "Access token is incorrect or has been revoked.", "request_id": "r"}),
        ),
    }
}

fn tiktok(token: &str) -> (u16, Value) {
    if token.starts_with("refused") {
        (
            200,
            json!({"code": 40105, "message": "The access token is invalid or has expired."}),
        )
    } else if token.starts_with("down") {
        (503, json!({}))
    } else {
        (
            200,
            json!({"code": 0, "message": "OK", "data": {"display_name": "Test business", "username": "test_business"}}),
        )
    }
}
