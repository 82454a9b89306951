//! The callback's state: a replayed, expired, forged or foreign state, a denied consent and a
//! PKCE verifier that does not match its challenge each give a clear problem and no event.

use super::fake::FakeOAuth;
use super::{app_with, authorize, callback, consent, create, finish, show};
use crate::helpers::{TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// A created Zalo integration, the callback path its consent produced and the authorize
/// step's answer.
async fn consented(app: &TestApp) -> (String, String, Value) {
    let id = create(app, "acme", "zalo", json!({})).await;
    let (status, body) = authorize(app, "acme", &id, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let path = consent(body["authorization_url"].as_str().unwrap()).await;
    (id, path, body)
}

/// `path` with its `state` parameter replaced by `state`.
fn with_state(path: &str, state: &str) -> String {
    let mut url = reqwest::Url::parse(&format!("https://x{path}")).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .map(|(k, v)| {
            if k == "state" {
                (k, state.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    format!("{}?{}", url.path(), url.query().unwrap())
}

fn state_of(path: &str) -> String {
    reqwest::Url::parse(&format!("https://x{path}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned()
}

async fn assert_problem(app: &TestApp, path: &str, status: StatusCode, kind: &str) -> Value {
    let (got, content_type, problem) = callback(app, path).await;
    assert_eq!(got, status, "{problem}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["type"], format!("/problems/{kind}"));
    problem
}

#[tokio::test]
async fn a_replayed_state_connects_nothing_twice() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let (id, path, _) = consented(&app).await;
    let (status, _, _) = callback(&app, &path).await;
    assert_eq!(status, StatusCode::OK);
    let version = show(&app, "acme", &id).await["version"].clone();
    assert_problem(&app, &path, StatusCode::CONFLICT, "oauth-state-used").await;
    assert_eq!(show(&app, "acme", &id).await["version"], version);
    assert_eq!(fake.exchanges().len(), 1, "the code is not traded again");
}

#[tokio::test]
async fn a_forged_or_foreign_state_is_refused_before_anything_is_read() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let (id, path, authorization) = consented(&app).await;
    let state = state_of(&path);
    let (payload, mac) = state.split_once('.').unwrap();
    // Another integration named in the payload, the MAC kept.
    let forged_payload = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut value: Value = serde_json::from_slice(&engine.decode(payload).unwrap()).unwrap();
        value["int"] = json!(uuid::Uuid::new_v4());
        engine.encode(value.to_string())
    };
    for forged in [
        format!("{forged_payload}.{mac}"),
        format!("{payload}.{}", "A".repeat(mac.len())),
        "not-a-state".to_owned(),
        String::new(),
    ] {
        assert_problem(
            &app,
            &with_state(&path, &forged),
            StatusCode::BAD_REQUEST,
            "oauth-state-invalid",
        )
        .await;
    }
    let no_state = path.split('?').next().unwrap().to_owned() + "?code=code-1";
    assert_problem(
        &app,
        &no_state,
        StatusCode::BAD_REQUEST,
        "oauth-state-invalid",
    )
    .await;
    // The state of a Zalo flow is no state of Google's callback.
    let foreign = path.replace("/oauth/zalo/", "/oauth/google-sheets/");
    assert_problem(
        &app,
        &foreign,
        StatusCode::BAD_REQUEST,
        "oauth-state-invalid",
    )
    .await;
    assert!(fake.exchanges().is_empty());
    // The genuine state still works once.
    let (status, view) = finish(&app, "acme", &id, &authorization, &path).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(show(&app, "acme", &id).await["status"], "connected");
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let (id, path, _) = consented(&app).await;
    sqlx::query("UPDATE oauth_states SET expires_at = now() - interval '1 second'")
        .execute(&app.pool())
        .await
        .unwrap();
    assert_problem(&app, &path, StatusCode::BAD_REQUEST, "oauth-state-expired").await;
    assert_eq!(show(&app, "acme", &id).await["status"], "created");
    assert!(fake.exchanges().is_empty());
}

#[tokio::test]
async fn a_denied_consent_connects_nothing() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let id = create(&app, "acme", "messenger", json!({})).await;
    let (_, body) = authorize(&app, "acme", &id, json!({})).await;
    let url = reqwest::Url::parse(body["authorization_url"].as_str().unwrap()).unwrap();
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1;
    let denied = format!(
        "/oauth/messenger/callback?error=access_denied&error_code=200&error_description=Permissions+error&error_reason=user_denied&state={}",
        urlencode(&state)
    );
    let problem =
        assert_problem(&app, &denied, StatusCode::FORBIDDEN, "oauth-consent-denied").await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("access_denied"));
    assert_eq!(show(&app, "acme", &id).await["status"], "created");
    // The state is spent: the flow starts over.
    assert_problem(&app, &denied, StatusCode::CONFLICT, "oauth-state-used").await;
}

#[tokio::test]
async fn the_fake_refuses_a_verifier_of_another_challenge() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let id = create(&app, "acme", "zalo", json!({})).await;
    let (_, body) = authorize(&app, "acme", &id, json!({})).await;
    let mut url = reqwest::Url::parse(body["authorization_url"].as_str().unwrap()).unwrap();
    // A code obtained with someone else's challenge cannot be redeemed with our verifier.
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| match k.as_ref() {
            "code_challenge" => (
                k.into_owned(),
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
            ),
            _ => (k.into_owned(), v.into_owned()),
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let path = consent(url.as_str()).await;
    let problem = assert_problem(
        &app,
        &path,
        StatusCode::BAD_REQUEST,
        "oauth-exchange-refused",
    )
    .await;
    assert!(
        !problem["detail"]
            .as_str()
            .unwrap()
            .contains(super::fake::CODE_PREFIX),
        "no code in the problem"
    );
    assert_eq!(fake.exchanges(), vec![("zalo".to_owned(), false)]);
    assert_eq!(show(&app, "acme", &id).await["status"], "created");
}

#[tokio::test]
async fn the_verifier_is_kept_sealed() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let id = create(&app, "acme", "zalo", json!({})).await;
    let (_, body) = authorize(&app, "acme", &id, json!({})).await;
    let (verifier, actor, hash): (String, String, String) =
        sqlx::query_as("SELECT pkce_verifier, actor, binding_hash FROM oauth_states")
            .fetch_one(&app.pool())
            .await
            .unwrap();
    assert!(verifier.starts_with("sb1:"), "sealed: {verifier}");
    assert_eq!(actor, "jwt:user-of-acme");
    let binding = body["binding"].as_str().unwrap();
    assert!(binding.len() >= 43, "{binding}");
    assert_ne!(hash, binding, "only the binding's hash is stored");
    assert_eq!(hash, switchboard_api::oauth_state::binding_hash(binding));
}

/// `text` as a query value.
fn urlencode(text: &str) -> String {
    let mut url = reqwest::Url::parse("https://x/").unwrap();
    url.query_pairs_mut().append_pair("v", text);
    url.query().unwrap().trim_start_matches("v=").to_owned()
}
