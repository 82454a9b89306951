//! A fake of the five platforms' OAuth, token and account endpoints on `127.0.0.1:0`, speaking
//! each one's documented formats: an authorization page that remembers the client, redirect
//! URI and PKCE challenge and sends the browser back with a single-use code; token endpoints
//! that check the client secret, the redirect URI and the verifier against the challenge, and
//! answer with the platform's success and error bodies; and the account reads the flows (and
//! connecting's verification) make.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use switchboard_adapters::channels::oauth_flow::s256_challenge;

/// The platform credentials the fake expects, as `channel.field=value` entries, with every
/// endpoint pointed at it.
pub fn platform_credentials(base: &str) -> String {
    [
        format!("zalo.app_id={ZALO_APP_ID}"),
        format!("zalo.app_secret={ZALO_SECRET}"),
        format!("zalo.oauth_base={base}/zalo/oauth"),
        format!("zalo.api_base={base}/zalo/api"),
        format!("google-sheets.client_id={GOOGLE_CLIENT}"),
        format!("google-sheets.client_secret={GOOGLE_SECRET}"),
        format!("google-sheets.authorize_url={base}/google/authorize"),
        format!("google-sheets.oauth_base={base}/google/oauth"),
        format!("google-sheets.api_base={base}/google/api"),
        format!("messenger.app_id={META_APP_ID}"),
        format!("messenger.app_secret={META_SECRET}"),
        format!("messenger.authorize_url={base}/meta/dialog"),
        format!("messenger.api_base={base}/graph"),
        format!("whatsapp.app_id={META_APP_ID}"),
        format!("whatsapp.app_secret={META_SECRET}"),
        "whatsapp.configuration_id=es-config-1".to_owned(),
        format!("whatsapp.authorize_url={base}/meta/dialog"),
        format!("whatsapp.api_base={base}/graph"),
        format!("tiktok.client_key={TIKTOK_CLIENT}"),
        format!("tiktok.client_secret={TIKTOK_SECRET}"),
        format!("tiktok.authorize_url={base}/tiktok/authorize"),
        format!("tiktok.api_base={base}/tiktok/api"),
    ]
    .join(";")
}

/// How every authorization code the fake issues starts (so logs can be searched for them).
pub const CODE_PREFIX: &str = "fake-authorization-code-";
pub const ZALO_APP_ID: &str = "zalo-app-1";
pub const ZALO_SECRET: &str = "zalo-app-secret";
pub const GOOGLE_CLIENT: &str = "google-client-1.apps.example";
pub const GOOGLE_SECRET: &str = "google-client-secret";
pub const META_APP_ID: &str = "meta-app-1";
pub const META_SECRET: &str = "meta-oauth-secret";
pub const TIKTOK_CLIENT: &str = "tiktok-app-1";
pub const TIKTOK_SECRET: &str = "tiktok-oauth-secret";

/// What the authorization page remembered about a code it issued.
#[derive(Debug, Clone)]
struct Grant {
    client: String,
    redirect_uri: String,
    challenge: Option<String>,
}

#[derive(Default)]
struct Inner {
    grants: HashMap<String, Grant>,
    next: u32,
    /// Every token exchange attempted, with whether it succeeded.
    exchanges: Vec<(String, bool)>,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeOAuth {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeOAuth {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/{platform}/authorize", get(authorize))
            .route("/zalo/oauth/oa/permission", get(authorize))
            .route("/meta/dialog", get(authorize))
            .route("/zalo/oauth/oa/access_token", post(zalo_token))
            .route("/zalo/api/v2.0/oa/getoa", get(zalo_getoa))
            .route("/google/oauth/token", post(google_token))
            .route("/google/api/v4/spreadsheets/{id}", get(google_spreadsheet))
            .route("/graph/oauth/access_token", post(meta_token))
            .route("/graph/me/accounts", get(meta_accounts))
            .route("/graph/debug_token", get(meta_debug_token))
            .route("/graph/{node}/phone_numbers", get(meta_phone_numbers))
            .route(
                "/graph/{node}/subscribed_apps",
                post(meta_subscribed).delete(meta_subscribed),
            )
            .route("/graph/{node}", get(meta_node))
            .route("/tiktok/api/tt_user/oauth2/token/", post(tiktok_token))
            .route("/tiktok/api/business/get/", get(tiktok_business))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, inner }
    }

    /// The token exchanges attempted so far: (platform, succeeded).
    pub fn exchanges(&self) -> Vec<(String, bool)> {
        self.inner.lock().unwrap().exchanges.clone()
    }
}

type Shared = State<Arc<Mutex<Inner>>>;

/// The authorization page: consent is given at once, and the browser sent back with a code
/// (Zalo adds the OA id, as its callback does).
async fn authorize(
    State(inner): Shared,
    uri: Uri,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let client = ["client_id", "app_id", "client_key"]
        .iter()
        .find_map(|k| query.get(*k))
        .cloned()
        .unwrap_or_default();
    let (Some(redirect_uri), Some(state)) = (query.get("redirect_uri"), query.get("state")) else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri and state are required",
        )
            .into_response();
    };
    let challenge = query.get("code_challenge").cloned();
    if challenge.is_some() && uri.path().starts_with("/google") {
        assert_eq!(query["code_challenge_method"], "S256");
    }
    let code = {
        let mut inner = inner.lock().unwrap();
        inner.next += 1;
        let code = format!("{CODE_PREFIX}{}", inner.next);
        inner.grants.insert(
            code.clone(),
            Grant {
                client,
                redirect_uri: redirect_uri.clone(),
                challenge,
            },
        );
        code
    };
    let mut back = reqwest::Url::parse(redirect_uri).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", state);
    if uri.path().starts_with("/zalo") {
        back.query_pairs_mut().append_pair("oa_id", "OA-1");
    }
    (StatusCode::FOUND, [("location", back.to_string())]).into_response()
}

/// Takes a code once and checks it was issued to `client` for `redirect_uri` (when the
/// platform compares it) with the challenge of `verifier`.
fn redeem(
    inner: &Mutex<Inner>,
    platform: &str,
    code: Option<&String>,
    client: &str,
    redirect_uri: Option<&String>,
    verifier: Option<&String>,
) -> Result<(), &'static str> {
    let mut inner = inner.lock().unwrap();
    let grant = code.and_then(|c| inner.grants.remove(c));
    let outcome = match grant {
        None => Err("invalid_grant"),
        Some(grant) if grant.client != client => Err("invalid_client"),
        Some(grant) if redirect_uri.is_some_and(|r| r != &grant.redirect_uri) => {
            Err("redirect_uri_mismatch")
        }
        Some(grant) => match (&grant.challenge, verifier) {
            (Some(challenge), Some(verifier)) if &s256_challenge(verifier) == challenge => Ok(()),
            (Some(_), _) => Err("invalid_code_verifier"),
            (None, _) => Ok(()),
        },
    };
    inner.exchanges.push((platform.to_owned(), outcome.is_ok()));
    outcome
}

async fn zalo_token(
    State(inner): Shared,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    if headers.get("secret_key").and_then(|v| v.to_str().ok()) != Some(ZALO_SECRET) {
        return Json(json!({"error": -14001, "error_name": "Invalid secret key",
            "error_reason": "secret_key is wrong", "error_description": "Invalid secret key"}))
        .into_response();
    }
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("authorization_code")
    );
    let app = form.get("app_id").cloned().unwrap_or_default();
    match redeem(
        &inner,
        "zalo",
        form.get("code"),
        &app,
        None,
        form.get("code_verifier"),
    ) {
        // Zalo answers its lifetimes as strings.
        Ok(()) => Json(
            json!({"access_token": "zalo-access", "refresh_token": "zalo-refresh",
            "expires_in": "90000"}),
        )
        .into_response(),
        Err(reason) => Json(json!({"error": -14019, "error_name": reason,
            "error_reason": reason, "error_description": "Invalid code"}))
        .into_response(),
    }
}

async fn zalo_getoa(headers: HeaderMap) -> Json<Value> {
    if headers.get("access_token").and_then(|v| v.to_str().ok()) != Some("zalo-access") {
        return Json(json!({"error": -216, "message": "Access token is invalid"}));
    }
    Json(json!({"error": 0, "message": "Success",
        "data": {"oa_id": "OA-1", "name": "Acme OA", "description": "", "is_verified": true}}))
}

async fn google_token(
    State(inner): Shared,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let bad = |reason: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": reason, "error_description": "Bad Request"})),
        )
            .into_response()
    };
    if form.get("client_secret").map(String::as_str) != Some(GOOGLE_SECRET) {
        return bad("invalid_client");
    }
    let client = form.get("client_id").cloned().unwrap_or_default();
    match redeem(
        &inner,
        "google",
        form.get("code"),
        &client,
        form.get("redirect_uri"),
        form.get("code_verifier"),
    ) {
        Ok(()) => Json(json!({"access_token": "g-access", "expires_in": 3599,
            "refresh_token": "g-refresh", "scope": "https://www.googleapis.com/auth/spreadsheets",
            "token_type": "Bearer"}))
        .into_response(),
        Err(reason) => bad(reason),
    }
}

async fn google_spreadsheet(Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !bearer_is(&headers, "g-access") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}})),
        )
            .into_response();
    }
    if id != "sheet-1" {
        return (StatusCode::NOT_FOUND, Json(json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}))).into_response();
    }
    Json(json!({"spreadsheetId": id, "properties": {"title": "Leads"}})).into_response()
}

fn graph_error(message: &str, code: i64) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(
            json!({"error": {"message": message, "type": "OAuthException",
        "code": code, "fbtrace_id": "AbCdEf"}}),
        ),
    )
        .into_response()
}

async fn meta_token(State(inner): Shared, Form(form): Form<BTreeMap<String, String>>) -> Response {
    if form.get("client_secret").map(String::as_str) != Some(META_SECRET) {
        return graph_error("Error validating client secret.", 1);
    }
    match form.get("grant_type").map(String::as_str) {
        Some("fb_exchange_token") => match form.get("fb_exchange_token").map(String::as_str) {
            Some("user-short") => Json(json!({"access_token": "user-long", "token_type": "bearer",
                "expires_in": 5183944}))
            .into_response(),
            _ => graph_error("Invalid OAuth access token.", 190),
        },
        _ => {
            let client = form.get("client_id").cloned().unwrap_or_default();
            match redeem(
                &inner,
                "meta",
                form.get("code"),
                &client,
                form.get("redirect_uri"),
                None,
            ) {
                Ok(()) => Json(json!({"access_token": "user-short", "token_type": "bearer",
                    "expires_in": 5183944}))
                .into_response(),
                Err(_) => graph_error("This authorization code has been used.", 100),
            }
        }
    }
}

fn bearer_is(headers: &HeaderMap, token: &str) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {token}"))
}

async fn meta_accounts(headers: HeaderMap) -> Response {
    if !bearer_is(&headers, "user-long") {
        return graph_error("Invalid OAuth access token.", 190);
    }
    Json(json!({"data": [
        {"id": "PAGE-1", "name": "Acme Page", "access_token": "page-token-1", "category": "Shop", "tasks": ["MESSAGING"]},
        {"id": "PAGE-2", "name": "Other Page", "access_token": "page-token-2", "category": "Shop", "tasks": ["MESSAGING"]}
    ], "paging": {"cursors": {"before": "a", "after": "b"}}}))
    .into_response()
}

async fn meta_debug_token(
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if !bearer_is(&headers, &format!("{META_APP_ID}|{META_SECRET}")) {
        return graph_error("Invalid OAuth access token.", 190);
    }
    if query.get("input_token").map(String::as_str) != Some("user-short") {
        return graph_error("Invalid input token.", 190);
    }
    Json(
        json!({"data": {"app_id": META_APP_ID, "type": "USER", "is_valid": true,
        "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"],
        "granular_scopes": [
            {"scope": "whatsapp_business_management", "target_ids": ["WABA-1"]},
            {"scope": "whatsapp_business_messaging", "target_ids": ["WABA-1"]}
        ]}}),
    )
    .into_response()
}

async fn meta_phone_numbers(Path(node): Path<String>, headers: HeaderMap) -> Response {
    if !bearer_is(&headers, "user-short") || node != "WABA-1" {
        return graph_error("Unsupported get request.", 100);
    }
    Json(
        json!({"data": [{"verified_name": "Acme", "display_phone_number": "+1 555-0100",
        "id": "PHONE-1", "quality_rating": "GREEN"}]}),
    )
    .into_response()
}

async fn meta_subscribed() -> Json<Value> {
    Json(json!({"success": true}))
}

/// A node read, as connecting verifies pages and numbers.
async fn meta_node(Path(node): Path<String>) -> Response {
    match node.as_str() {
        "PAGE-1" => Json(json!({"id": "PAGE-1", "name": "Acme Page"})).into_response(),
        "PAGE-2" => Json(json!({"id": "PAGE-2", "name": "Other Page"})).into_response(),
        "PHONE-1" => Json(json!({"id": "PHONE-1", "verified_name": "Acme",
            "display_phone_number": "+1 555-0100"}))
        .into_response(),
        _ => graph_error("Unsupported get request.", 100),
    }
}

async fn tiktok_token(State(inner): Shared, Json(body): Json<Value>) -> Json<Value> {
    let text = |k: &str| body[k].as_str().map(str::to_owned);
    if text("client_secret").as_deref() != Some(TIKTOK_SECRET) {
        return Json(
            json!({"code": 40001, "message": "Invalid client secret", "request_id": "r1"}),
        );
    }
    assert_eq!(text("grant_type").as_deref(), Some("authorization_code"));
    let client = text("client_id").unwrap_or_default();
    match redeem(
        &inner,
        "tiktok",
        text("auth_code").as_ref(),
        &client,
        text("redirect_uri").as_ref(),
        None,
    ) {
        Ok(()) => Json(
            json!({"code": 0, "message": "OK", "request_id": "r2", "data": {
            "access_token": "tt-access", "token_type": "Bearer", "expires_in": 86400,
            "refresh_token": "tt-refresh", "refresh_token_expires_in": 31536000,
            "open_id": "TT-BIZ-1", "scope": "user.info.basic,message.list.send"}}),
        ),
        Err(_) => Json(
            json!({"code": 40002, "message": "auth_code is invalid or expired", "request_id": "r3"}),
        ),
    }
}

async fn tiktok_business() -> Json<Value> {
    Json(json!({"code": 0, "message": "OK", "request_id": "r4",
        "data": {"display_name": "Acme TikTok", "username": "acme", "business_id": "TT-BIZ-1"}}))
}
