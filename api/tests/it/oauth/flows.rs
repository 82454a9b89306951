//! Each channel's whole connect flow through HTTP alone: the authorization URL carries the
//! platform's documented parameters, the fake's consent page sends the browser back, the
//! callback keeps the outcome pending and its completion records the account and its tokens
//! (sealed, with their expiry) as `IntegrationConnected`, with the admin as the actor.

use super::fake::{FakeOAuth, GOOGLE_CLIENT, META_APP_ID, TIKTOK_CLIENT, ZALO_APP_ID, ZALO_SECRET};
use super::{app_with, authorize, callback, connect, consent, create, finish, show, PUBLIC_BASE};
use crate::helpers::{TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The query parameters of `url`.
fn params(url: &str) -> BTreeMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The payload and metadata of the integration's `IntegrationConnected` events.
async fn connected_events(app: &TestApp, id: &str) -> Vec<(Value, Value)> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT payload::text, metadata::text FROM events WHERE aggregate_id = $1 \
         AND event_type = 'IntegrationConnected' ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(&app.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|(p, m)| {
            (
                serde_json::from_str(p).unwrap(),
                serde_json::from_str(m).unwrap(),
            )
        })
        .collect()
}

/// Asserts the connect event seals every token and names the account and the actor.
async fn assert_connected(app: &TestApp, id: &str, account: &str, tokens: &[&str]) -> Value {
    let events = connected_events(app, id).await;
    assert_eq!(events.len(), 1, "one IntegrationConnected");
    let (payload, metadata) = &events[0];
    let text = payload.to_string();
    for token in tokens {
        assert!(!text.contains(token), "{token} is stored sealed only");
    }
    assert_eq!(payload["account"]["external_id"], account, "{payload}");
    // The caller of the authorize step (the tests' credential is a JWT of the workspace).
    assert_eq!(metadata["actor"], "jwt:user-of-acme", "{metadata}");
    payload.clone()
}

#[tokio::test]
async fn a_zalo_oa_connects_with_pkce() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let id = create(&app, "acme", "zalo", json!({})).await;
    let (status, body) = authorize(&app, "acme", &id, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["authorization_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/zalo/oauth/oa/permission?", fake.base)),
        "{url}"
    );
    let query = params(url);
    assert_eq!(query["app_id"], ZALO_APP_ID);
    assert_eq!(
        query["redirect_uri"],
        format!("{PUBLIC_BASE}/oauth/zalo/callback")
    );
    assert_eq!(query["code_challenge"].len(), 43, "an S256 challenge");
    assert_eq!(
        body["redirect_uri"],
        format!("{PUBLIC_BASE}/oauth/zalo/callback")
    );

    let (status, view) = finish(&app, "acme", &id, &body, &consent(url).await).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "connected");
    assert_eq!(view["account"]["external_id"], "OA-1");
    assert_eq!(view["account"]["display_name"], "Acme OA");
    assert_eq!(view["auth"]["oa_id"], "OA-1");
    assert_eq!(view["auth"]["access_token"], "[set]");
    assert_eq!(view["auth"]["refresh_token"], "[set]");
    let access_expiry = view["auth"]["access_token_expires_at"].as_str().unwrap();
    let access_expiry = chrono::DateTime::parse_from_rfc3339(access_expiry).unwrap();
    let lifetime = access_expiry.signed_duration_since(chrono::Utc::now());
    assert!(
        (89_000..=90_000).contains(&lifetime.num_seconds()),
        "{lifetime}"
    );
    assert!(view["auth"]["refresh_token_expires_at"].is_string());
    assert_connected(&app, &id, "OA-1", &["zalo-access", "zalo-refresh"]).await;
    assert_eq!(fake.exchanges(), vec![("zalo".to_owned(), true)]);
    let logs = crate::helpers::captured_logs();
    for secret in [
        "zalo-access",
        "zalo-refresh",
        super::fake::CODE_PREFIX,
        ZALO_SECRET,
    ] {
        assert!(!logs.contains(secret), "{secret} is in the logs");
    }
}

#[tokio::test]
async fn a_google_spreadsheet_connects_with_offline_access_and_pkce() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let id = create(&app, "acme", "google-sheets", json!({})).await;
    let (status, problem) = authorize(&app, "acme", &id, json!({})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a spreadsheet must be named"
    );
    assert_eq!(problem["type"], "/problems/validation");

    let (status, body) = authorize(&app, "acme", &id, json!({"account": "sheet-1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["authorization_url"].as_str().unwrap();
    let query = params(url);
    assert_eq!(query["client_id"], GOOGLE_CLIENT);
    assert_eq!(query["access_type"], "offline");
    assert_eq!(query["prompt"], "consent");
    assert_eq!(query["response_type"], "code");
    assert_eq!(
        query["scope"],
        "https://www.googleapis.com/auth/spreadsheets"
    );
    assert_eq!(query["code_challenge_method"], "S256");

    let (status, view) = finish(&app, "acme", &id, &body, &consent(url).await).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "connected");
    assert_eq!(view["auth"]["spreadsheet_id"], "sheet-1");
    assert_eq!(view["account"]["display_name"], "Leads");
    assert_eq!(view["auth"]["refresh_token"], "[set]");
    assert!(view["auth"]["access_token_expires_at"].is_string());
    assert_connected(&app, &id, "sheet-1", &["g-access", "g-refresh"]).await;
}

#[tokio::test]
async fn a_spreadsheet_the_account_cannot_reach_is_not_connected() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let (id, status, problem) = connect(
        &app,
        "acme",
        "google-sheets",
        json!({"spreadsheet_id": "someone-elses"}),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/oauth-account-unavailable");
    assert_eq!(show(&app, "acme", &id).await["status"], "created");
    assert!(connected_events(&app, &id).await.is_empty());
}

#[tokio::test]
async fn a_facebook_page_connects_with_its_page_token() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let id = create(&app, "acme", "messenger", json!({})).await;
    let (status, body) = authorize(&app, "acme", &id, json!({"account": "PAGE-1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["authorization_url"].as_str().unwrap();
    let query = params(url);
    assert_eq!(query["client_id"], META_APP_ID);
    assert_eq!(query["response_type"], "code");
    assert!(query["scope"].contains("pages_messaging"));
    assert!(
        !query.contains_key("code_challenge"),
        "Facebook Login takes the app secret"
    );

    let (status, view) = finish(&app, "acme", &id, &body, &consent(url).await).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["auth"]["page_id"], "PAGE-1");
    assert_eq!(view["auth"]["page_name"], "Acme Page");
    assert_eq!(view["auth"]["page_access_token"], "[set]");
    assert_connected(&app, &id, "PAGE-1", &["page-token-1", "user-long"]).await;
}

#[tokio::test]
async fn several_pages_without_a_choice_connect_none() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let (id, status, problem) = connect(&app, "acme", "messenger", json!({}), json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/oauth-account-unavailable");
    assert!(problem["detail"].as_str().unwrap().contains("several"));
    assert!(connected_events(&app, &id).await.is_empty());
}

#[tokio::test]
async fn a_whatsapp_number_connects_through_embedded_signup() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let id = create(&app, "acme", "whatsapp", json!({})).await;
    let (status, body) = authorize(&app, "acme", &id, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["authorization_url"].as_str().unwrap();
    let query = params(url);
    assert_eq!(query["config_id"], "es-config-1");
    assert_eq!(query["override_default_response_type"], "true");
    assert!(query["scope"].contains("whatsapp_business_management"));

    let (status, view) = finish(&app, "acme", &id, &body, &consent(url).await).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["auth"]["phone_number_id"], "PHONE-1");
    assert_eq!(view["auth"]["business_account_id"], "WABA-1");
    assert_eq!(view["auth"]["display_phone_number"], "+1 555-0100");
    assert_eq!(view["auth"]["access_token"], "[set]");
    assert_connected(&app, &id, "PHONE-1", &["user-short"]).await;
}

#[tokio::test]
async fn a_tiktok_business_account_connects() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let id = create(&app, "acme", "tiktok", json!({})).await;
    let (status, body) = authorize(&app, "acme", &id, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["authorization_url"].as_str().unwrap();
    let query = params(url);
    assert_eq!(query["client_key"], TIKTOK_CLIENT);
    assert!(query["scope"].contains("message.list.send"));

    let (status, view) = finish(&app, "acme", &id, &body, &consent(url).await).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["auth"]["business_id"], "TT-BIZ-1");
    assert_eq!(view["auth"]["refresh_token"], "[set]");
    assert!(view["auth"]["access_token_expires_at"].is_string());
    assert!(view["auth"]["refresh_token_expires_at"].is_string());
    assert_connected(&app, &id, "TT-BIZ-1", &["tt-access", "tt-refresh"]).await;
}

#[tokio::test]
async fn the_browser_is_sent_to_the_return_url_with_the_outcome() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let back = "https://app.example/integrations?tab=channels";
    let app = app_with(&kafka, &fake, Some(back)).await;
    let id = create(&app, "acme", "tiktok", json!({})).await;
    let (_, body) = authorize(&app, "acme", &id, json!({})).await;
    let path = consent(body["authorization_url"].as_str().unwrap()).await;
    let response = tower::ServiceExt::oneshot(
        app.router.clone(),
        crate::helpers::json_request("GET", &path, None),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap();
    let query = params(location);
    assert!(location.starts_with(back), "{location}");
    assert_eq!(query["integration"], id);
    let outcome = query["outcome"].clone();
    assert!(uuid::Uuid::parse_str(&outcome).is_ok(), "{location}");
    assert!(!location.contains("tt-access"), "no token in the URL");
    assert_eq!(show(&app, "acme", &id).await["status"], "created");
    let replayed = tower::ServiceExt::oneshot(
        app.router.clone(),
        crate::helpers::json_request("GET", &path, None),
    )
    .await
    .unwrap();
    let location = replayed.headers()["location"].to_str().unwrap();
    // A spent state names no integration: it proves nothing about who replays it.
    assert_eq!(location, format!("{back}&error=oauth-state-used"));
    let binding = body["binding"].as_str().unwrap();
    let (status, view) = super::complete(&app, "acme", &id, &outcome, binding).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(show(&app, "acme", &id).await["status"], "connected");
}

#[tokio::test]
async fn without_a_public_url_there_is_no_callback_to_send() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let id = create(&app, "acme", "zalo", json!({})).await;
    let mut handles = app.app.as_ref().unwrap().state.handles();
    handles.public_base_url = None;
    let router = switchboard_api::routes::router(
        switchboard_api::state::AppState::new(handles),
        switchboard_api::routes::limits::RequestLimits::from_config(&app.config),
    );
    let bare = TestApp {
        app: None,
        router,
        config: app.config.clone(),
    };
    let (status, problem) = authorize(&bare, "acme", &id, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "/problems/oauth-not-configured");
}

#[tokio::test]
async fn channels_without_oauth_and_connected_integrations_are_refused() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let (zalo, status, _) = connect(&app, "acme", "zalo", json!({}), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = authorize(&app, "acme", &zalo, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "connected already: {problem}");
    assert_eq!(problem["type"], "/problems/lifecycle-conflict");
    let created = create(&app, "acme", "webchat", json!({})).await;
    let (status, problem) = authorize(&app, "acme", &created, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = authorize(&app, "other", &created, json!({})).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another workspace's integration: {problem}"
    );
}

#[tokio::test]
async fn an_unreachable_token_endpoint_connects_nothing() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let id = create(&app, "acme", "google-sheets", json!({})).await;
    let (_, body) = authorize(&app, "acme", &id, json!({"account": "sheet-1"})).await;
    let back = consent(body["authorization_url"].as_str().unwrap()).await;
    // The operator points the token endpoint at a port nothing listens on.
    let credentials = format!(
        "{};google-sheets.oauth_base=http://127.0.0.1:1",
        super::fake::platform_credentials(&fake.base)
    );
    let state = &app.app.as_ref().unwrap().state;
    state.platform_credentials.replace(
        switchboard_adapters::channels::platform_credentials::PlatformCredentials::parse(
            &credentials,
        )
        .unwrap(),
    );
    let (status, _, problem) = callback(&app, &back).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{problem}");
    assert_eq!(problem["type"], "/problems/oauth-platform-unavailable");
    assert_eq!(show(&app, "acme", &id).await["status"], "created");
    assert!(connected_events(&app, &id).await.is_empty());
}
