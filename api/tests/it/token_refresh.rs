//! The token refresher against a fake Zalo OAuth endpoint that, like Zalo, accepts each
//! refresh token once: two refresher processes racing on the same expiring integrations spend
//! each token once and record one `CredentialsRefreshed` each; a due token is renewed before
//! it expires and one that is not due is left alone; a refresh the platform refuses
//! disconnects the integration with the platform's reason, visible on the API; a refusal of the
//! app's own secret disconnects nobody and marks the platform credentials refused.

use crate::helpers::{process_env, test_platform_credentials, TestApp, TestKafka};
use crate::processes::switchboard;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// One token request the fake received.
#[derive(Debug, Clone)]
struct TokenRequest {
    refresh_token: String,
    accepted: bool,
    at: DateTime<Utc>,
}

#[derive(Default)]
struct TokenState {
    /// Refresh tokens not spent yet.
    valid: HashSet<String>,
    requests: Vec<TokenRequest>,
    issued: u64,
    /// Answer 502 without looking at the token (a Zalo outage).
    down: bool,
}

/// Zalo's OAuth v4 token endpoint: `POST /oa/access_token`, each refresh token good once.
struct FakeZaloOauth {
    base: String,
    state: Arc<Mutex<TokenState>>,
}

impl FakeZaloOauth {
    async fn start(valid: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(TokenState {
            valid: valid.iter().map(|t| (*t).to_owned()).collect(),
            ..TokenState::default()
        }));
        let shared = state.clone();
        let app = Router::new().route(
            "/oa/access_token",
            post(move |headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { token(&state, &headers, &body).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, state }
    }

    fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    fn requests(&self) -> Vec<TokenRequest> {
        self.state.lock().unwrap().requests.clone()
    }
}

async fn token(
    state: &Mutex<TokenState>,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, Json<Value>) {
    let form: HashMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["app_id"], "zalo-app-id");
    let refresh_token = form["refresh_token"].clone();
    // Slow enough that two processes starting together overlap.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut state = state.lock().unwrap();
    if headers["secret_key"] != "zalo-app-secret" {
        state.requests.push(TokenRequest {
            refresh_token,
            accepted: false,
            at: Utc::now(),
        });
        return (
            StatusCode::OK,
            Json(json!({"error": -14012, "error_name": "Invalid secret key",
                "error_reason": "secret_key is invalid"})),
        );
    }
    if state.down {
        state.requests.push(TokenRequest {
            refresh_token,
            accepted: false,
            at: Utc::now(),
        });
        return (StatusCode::BAD_GATEWAY, Json(Value::Null));
    }
    let accepted = state.valid.remove(&refresh_token);
    state.requests.push(TokenRequest {
        refresh_token,
        accepted,
        at: Utc::now(),
    });
    if !accepted {
        return (
            StatusCode::OK,
            Json(json!({
                "error": -14014,
                "error_name": "Invalid refresh token",
                "error_reason": "Refresh token is invalid or has been used"
            })),
        );
    }
    state.issued += 1;
    let n = state.issued;
    let next = format!("rotated-refresh-{n}");
    state.valid.insert(next.clone());
    (
        StatusCode::OK,
        Json(json!({
            "access_token": format!("rotated-access-{n}"),
            "refresh_token": next,
            "expires_in": "90000"
        })),
    )
}

fn platform_credentials(oauth: &FakeZaloOauth) -> String {
    format!(
        "{};zalo.oauth_base={}",
        test_platform_credentials(),
        oauth.base
    )
}

async fn app_for(kafka: &TestKafka, oauth: &FakeZaloOauth) -> TestApp {
    app_with(kafka, platform_credentials(oauth)).await
}

async fn app_with(kafka: &TestKafka, credentials: String) -> TestApp {
    TestApp::new_with(kafka, |config| {
        config.platform_credentials = Some(switchboard_domain::SecretString::new(credentials));
        config.token_refresh_margin_ms = 600_000;
    })
    .await
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A connected Zalo integration of OA `oa` whose access token expires at `expires`.
async fn zalo(app: &TestApp, oa: &str, refresh_token: &str, expires: DateTime<Utc>) -> String {
    app.connected(
        "acme",
        "zalo",
        json!({
            "oa_id": oa,
            "access_token": format!("access-of-{oa}"),
            "refresh_token": refresh_token,
            "access_token_expires_at": rfc3339(expires),
        }),
    )
    .await
}

async fn integration(app: &TestApp, id: &str) -> Value {
    let (status, body) = app
        .call(
            "GET",
            &format!("/v1/workspaces/acme/integrations/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// How many events of `event_type` the integration `id` has.
async fn events_of(app: &TestApp, id: &str, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = $2")
        .bind(id)
        .bind(event_type)
        .fetch_one(&app.pool())
        .await
        .unwrap()
}

fn expiry_of(body: &Value) -> DateTime<Utc> {
    let text = body["auth"]["access_token_expires_at"]
        .as_str()
        .unwrap_or_else(|| panic!("an expiry in {body}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn two_refresher_processes_spend_each_single_use_token_once() {
    let _one = crate::processes::exclusive().await;
    let tokens = ["refresh-a", "refresh-b", "refresh-c"];
    let oauth = FakeZaloOauth::start(&tokens).await;
    let kafka = TestKafka::new();
    let app = app_for(&kafka, &oauth).await;
    let soon = Utc::now() + Duration::minutes(2);
    let mut ids = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        ids.push(zalo(&app, &format!("oa-{n}"), token, soon).await);
    }

    let mut env = process_env();
    env.push(("SWITCHBOARD_DATABASE_URL", app.config.database_url.clone()));
    env.push((
        "SWITCHBOARD_SECRET_KEYS",
        app.config.secret_keys.as_ref().unwrap().expose().to_owned(),
    ));
    env.push((
        "SWITCHBOARD_PLATFORM_CREDENTIALS",
        platform_credentials(&oauth),
    ));
    env.push(("SWITCHBOARD_TOKEN_REFRESH_MARGIN_MS", "600000".to_owned()));
    env.push(("SWITCHBOARD_LOG_FORMAT", "json".to_owned()));
    let spawn = || {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            switchboard(&env)
                .args(["refresh-tokens", "--once"])
                .output()
                .expect("the binary runs")
        })
    };
    let (first, second) = (spawn(), spawn());
    for output in [first.await.unwrap(), second.await.unwrap()] {
        assert!(
            output.status.success(),
            "refresh-tokens failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let requests = oauth.requests();
    assert_eq!(
        requests.len(),
        tokens.len(),
        "one request per expiry: {requests:?}"
    );
    assert!(
        requests.iter().all(|r| r.accepted),
        "no token used twice: {requests:?}"
    );
    let spent: HashSet<&str> = requests.iter().map(|r| r.refresh_token.as_str()).collect();
    assert_eq!(spent, tokens.into_iter().collect());
    for id in &ids {
        let body = integration(&app, id).await;
        assert_eq!(body["status"], "connected", "{body}");
        assert!(
            expiry_of(&body) > Utc::now() + Duration::hours(24),
            "{body}"
        );
        assert_eq!(events_of(&app, id, "CredentialsRefreshed").await, 1);
        assert_eq!(events_of(&app, id, "IntegrationDisconnected").await, 0);
    }

    // Now nothing is due: another round asks the platform nothing.
    let again = spawn().await.unwrap();
    assert!(again.status.success());
    assert_eq!(oauth.requests().len(), tokens.len());
}

#[tokio::test]
async fn a_due_token_is_renewed_before_it_expires_and_a_refused_one_disconnects() {
    let oauth = FakeZaloOauth::start(&["refresh-due", "refresh-later"]).await;
    let kafka = TestKafka::new();
    let app = app_for(&kafka, &oauth).await;
    let due_at = Utc::now() + Duration::minutes(5);
    let due = zalo(&app, "oa-due", "refresh-due", due_at).await;
    let later = zalo(
        &app,
        "oa-later",
        "refresh-later",
        Utc::now() + Duration::hours(3),
    )
    .await;
    let revoked = zalo(&app, "oa-revoked", "refresh-revoked", due_at).await;

    let state = app.app.as_ref().unwrap().state.clone();
    let refresher = switchboard_api::token_refresh::refresher(
        &app.config,
        state.integrations.clone(),
        &state.platform_apps,
    )
    .unwrap();
    let report = refresher.run_once().await;
    assert_eq!(
        (report.due, report.refreshed, report.refused),
        (2, 1, 1),
        "{report:?}: {}",
        crate::helpers::captured_logs()
            .lines()
            .filter(|l| l.contains("refresh"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let requests = oauth.requests();
    let asked: HashSet<&str> = requests.iter().map(|r| r.refresh_token.as_str()).collect();
    assert_eq!(asked, HashSet::from(["refresh-due", "refresh-revoked"]));
    let renewal = requests
        .iter()
        .find(|r| r.refresh_token == "refresh-due")
        .unwrap();
    assert!(renewal.at < due_at, "renewed ahead of expiry");

    let body = integration(&app, &due).await;
    assert_eq!(body["status"], "connected");
    assert!(
        expiry_of(&body) > Utc::now() + Duration::hours(24),
        "{body}"
    );
    assert_eq!(events_of(&app, &later, "CredentialsRefreshed").await, 0);

    let body = integration(&app, &revoked).await;
    assert_eq!(body["status"], "disconnected", "{body}");
    let reason = body["last_disconnect_reason"].as_str().unwrap();
    assert!(reason.contains("Invalid refresh token"), "{reason}");
    assert!(
        !reason.contains("refresh-revoked"),
        "no token in the reason"
    );
}

#[tokio::test]
async fn an_outage_of_the_token_endpoint_is_retried_next_round_without_disconnecting() {
    let oauth = FakeZaloOauth::start(&["refresh-outage"]).await;
    let kafka = TestKafka::new();
    let app = app_for(&kafka, &oauth).await;
    let id = zalo(
        &app,
        "oa-outage",
        "refresh-outage",
        Utc::now() + Duration::minutes(5),
    )
    .await;
    let state = app.app.as_ref().unwrap().state.clone();
    let refresher = switchboard_api::token_refresh::refresher(
        &app.config,
        state.integrations.clone(),
        &state.platform_apps,
    )
    .unwrap();

    oauth.set_down(true);
    let report = refresher.run_once().await;
    assert_eq!((report.due, report.failed), (1, 1), "{report:?}");
    let body = integration(&app, &id).await;
    assert_eq!(body["status"], "connected", "{body}");
    assert_eq!(events_of(&app, &id, "IntegrationDisconnected").await, 0);

    oauth.set_down(false);
    let report = refresher.run_once().await;
    assert_eq!((report.due, report.refreshed), (1, 1), "{report:?}");
    assert_eq!(events_of(&app, &id, "CredentialsRefreshed").await, 1);
    assert!(oauth.requests().last().unwrap().accepted);
}

#[tokio::test]
async fn a_wrong_app_secret_disconnects_nobody_and_marks_the_platform_credentials_refused() {
    let oauth = FakeZaloOauth::start(&["refresh-kept"]).await;
    let kafka = TestKafka::new();
    let credentials = format!("{};zalo.app_secret=a-typo", platform_credentials(&oauth));
    let app = app_with(&kafka, credentials).await;
    let id = zalo(
        &app,
        "oa-typo",
        "refresh-kept",
        Utc::now() + Duration::minutes(5),
    )
    .await;
    let state = app.app.as_ref().unwrap().state.clone();
    let refresher = switchboard_api::token_refresh::refresher(
        &app.config,
        state.integrations.clone(),
        &state.platform_apps,
    )
    .unwrap();

    let report = refresher.run_once().await;
    assert_eq!((report.due, report.app_refused), (1, 1), "{report:?}");
    let body = integration(&app, &id).await;
    assert_eq!(body["status"], "connected", "{body}");
    assert_eq!(events_of(&app, &id, "IntegrationDisconnected").await, 0);
    let zalo = switchboard_domain::ChannelKind::parse("zalo").unwrap();
    let stored = state.platform_apps.load(&zalo).await.unwrap();
    assert_eq!(
        stored.status,
        switchboard_domain::platform::PlatformStatus::Refused
    );
    assert!(!state.platform_credentials.current().is_verified(&zalo));

    // Refused credentials take the channel out of the rounds: nothing more is asked.
    let report = refresher.run_once().await;
    assert_eq!(report.due, 0, "{report:?}");
    assert_eq!(oauth.requests().len(), 1);
    assert!(!oauth.requests()[0].accepted);
}
