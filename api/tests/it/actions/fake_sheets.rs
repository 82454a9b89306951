//! A fake Google Sheets API v4 on a local port, speaking the documented wire formats: the
//! connect proof (`GET /v4/spreadsheets/{id}?fields=…`), `values.append`
//! (`POST …/values/{range}:append`), `values.get` (`GET …/values/{range}`) and `values.update`
//! (`PUT …/values/{range}`) over one in-memory sheet, Google's error bodies, the OAuth token
//! endpoint (`POST /token`, refresh grant), and files to attach (`GET /files/{name}`). Calls
//! to `values` can be scripted to fail first; every one is recorded.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The access token the fake accepts at first.
pub const ACCESS_TOKEN: &str = "ya29.sheets-access-token";
/// The refresh token the fake trades for a fresh access token.
pub const REFRESH_TOKEN: &str = "1//sheets-refresh-token";
/// The access token a refresh answers.
pub const FRESH_TOKEN: &str = "ya29.fresh-access-token";

/// One `values` call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Path and query, percent-decoded.
    pub path: String,
    pub authorization: String,
    pub body: Value,
}

#[derive(Default)]
struct State {
    script: VecDeque<(u16, Value)>,
    tokens: Vec<String>,
    rows: Vec<Vec<Value>>,
    calls: Vec<Call>,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeSheets {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl FakeSheets {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            tokens: vec![ACCESS_TOKEN.to_owned()],
            ..State::default()
        }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { answer(&state, method, uri, headers, body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, state }
    }

    /// The next `values` calls answer these (status, Google error body) first.
    pub fn fail_next(&self, answers: Vec<(u16, Value)>) {
        self.state.lock().unwrap().script.extend(answers);
    }

    /// Makes the current access token invalid (it "expired").
    pub fn expire_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    /// Every `values` call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The sheet's rows.
    pub fn rows(&self) -> Vec<Vec<Value>> {
        self.state.lock().unwrap().rows.clone()
    }
}

/// Google's error body.
pub fn google_error(code: u16, status: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

fn column(n: usize) -> char {
    (b'A' + (n.saturating_sub(1) as u8).min(25)) as char
}

fn answer(
    state: &Mutex<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = percent_decode(uri.path());
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut state = state.lock().unwrap();
    let authorized = authorization
        .strip_prefix("Bearer ")
        .is_some_and(|t| state.tokens.iter().any(|known| known == t));
    let (status, answer) = match (method.as_str(), segments.as_slice()) {
        ("GET", ["files", name]) => {
            return (
                [("content-type", "application/pdf")],
                format!("%PDF fake file {name}"),
            )
                .into_response()
        }
        ("POST", ["token"]) => {
            let form = String::from_utf8_lossy(&body).into_owned();
            if form.contains(&format!(
                "refresh_token={}",
                REFRESH_TOKEN.replace('/', "%2F")
            )) || form.contains(&format!("refresh_token={REFRESH_TOKEN}"))
            {
                state.tokens.push(FRESH_TOKEN.to_owned());
                (
                    200,
                    json!({"access_token": FRESH_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
                )
            } else {
                (
                    400,
                    json!({"error": "invalid_grant", "error_description": "Bad Request"}),
                )
            }
        }
        _ if !authorized => google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        ),
        ("GET", ["v4", "spreadsheets", id]) => (
            200,
            json!({"spreadsheetId": id, "properties": {"title": "Leads"}}),
        ),
        (_, ["v4", "spreadsheets", id, "values", range]) => {
            state.calls.push(Call {
                method: method.clone(),
                path: match uri.query() {
                    Some(query) => format!("{path}?{query}"),
                    None => path.clone(),
                },
                authorization: authorization.clone(),
                body: json_body.clone(),
            });
            if let Some(scripted) = state.script.pop_front() {
                scripted
            } else {
                values(&mut state, method.as_str(), id, range, &json_body)
            }
        }
        _ => google_error(404, "NOT_FOUND", "Requested entity was not found."),
    };
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}

fn values(state: &mut State, method: &str, id: &str, range: &str, body: &Value) -> (u16, Value) {
    let rows: Vec<Vec<Value>> = serde_json::from_value(body["values"].clone()).unwrap_or_default();
    let sheet = range
        .split_once('!')
        .map_or("Sheet1", |(sheet, _)| sheet)
        .to_owned();
    let width = rows.iter().map(Vec::len).max().unwrap_or_default();
    let cells: usize = rows.iter().map(Vec::len).sum();
    match method {
        "POST" if range.ends_with(":append") => {
            let first = state.rows.len() + 1;
            state.rows.extend(rows.iter().cloned());
            let last = state.rows.len();
            (
                200,
                json!({
                    "spreadsheetId": id,
                    "tableRange": format!("{sheet}!A1:{}{}", column(width), first.saturating_sub(1).max(1)),
                    "updates": {
                        "spreadsheetId": id,
                        "updatedRange": format!("{sheet}!A{first}:{}{last}", column(width)),
                        "updatedRows": rows.len(),
                        "updatedColumns": width,
                        "updatedCells": cells,
                    }
                }),
            )
        }
        "GET" => {
            let stored = state.rows.clone();
            let width = stored.iter().map(Vec::len).max().unwrap_or_default();
            let mut answer = json!({
                "range": format!("{sheet}!A1:{}{}", column(width), stored.len().max(1)),
                "majorDimension": "ROWS",
            });
            if !stored.is_empty() {
                answer["values"] = json!(stored);
            }
            (200, answer)
        }
        "PUT" => {
            state.rows = rows.clone();
            let named = if range.contains('!') {
                range.to_owned()
            } else {
                format!("{sheet}!{range}")
            };
            (
                200,
                json!({
                    "spreadsheetId": id,
                    "updatedRange": named,
                    "updatedRows": rows.len(),
                    "updatedColumns": width,
                    "updatedCells": cells,
                }),
            )
        }
        _ => google_error(400, "INVALID_ARGUMENT", "Invalid request."),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
