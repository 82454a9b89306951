//! A fake of the platforms' app credential checks, answering as they document: Graph's
//! `POST /oauth/access_token` (client credentials: an app token, or an `OAuthException`),
//! TikTok's `POST /oauth/token/` (client credentials: a client token or `invalid_client`), and
//! Google's `POST /token` (a made-up code: `invalid_grant` for a known client, `invalid_client`
//! otherwise). A client secret `down` gets a 503.

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;

/// The one client secret the fake accepts.
pub const GOOD_SECRET: &str = "the-right-secret";

/// Starts the fake on a free port; returns its base URL.
pub async fn start() -> String {
    let router = Router::new()
        .route("/oauth/access_token", post(graph))
        .route("/oauth/token/", post(tiktok))
        .route("/token", post(google));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

fn secret(form: &HashMap<String, String>) -> &str {
    form.get("client_secret").map(String::as_str).unwrap_or("")
}

async fn graph(Form(form): Form<HashMap<String, String>>) -> Response {
    match (secret(&form), form.get("grant_type").map(String::as_str)) {
        ("down", _) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        (GOOD_SECRET, Some("client_credentials")) => Json(json!({
            "access_token": format!("{}|app-token", form["client_id"]), "token_type": "bearer"
        }))
        .into_response(),
        _ => (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"error": {"message": "Error validating client secret.",
                "type": "OAuthException", "code": 1, "fbtrace_id": "Fake"}}),
            ),
        )
            .into_response(),
    }
}

async fn tiktok(Form(form): Form<HashMap<String, String>>) -> Response {
    match (secret(&form), form.get("grant_type").map(String::as_str)) {
        ("down", _) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        (GOOD_SECRET, Some("client_credentials")) => Json(json!({
            "access_token": "clt.fake", "expires_in": 7200, "token_type": "Bearer"
        }))
        .into_response(),
        _ => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client",
                "error_description": "Client key or secret is incorrect.", "log_id": "fake"})),
        )
            .into_response(),
    }
}

async fn google(Form(form): Form<HashMap<String, String>>) -> Response {
    match secret(&form) {
        "down" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        GOOD_SECRET => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "Malformed auth code."})),
        )
            .into_response(),
        _ => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "Unauthorized"})),
        )
            .into_response(),
    }
}
