//! The OAuth2 connect flows through the real HTTP routes, against a fake of each platform
//! (`fake`): the authorize route's URL is followed to the fake's consent page, whose redirect
//! is handed to the callback route, which trades the code and keeps the outcome pending; the
//! complete route, with the authorize step's browser binding, connects.

mod completion;
mod fake;
mod flows;
mod states;

use crate::helpers::{json_request, TestApp, TestKafka};
use axum::http::StatusCode;
use fake::FakeOAuth;
use serde_json::{json, Value};

/// The public URL test apps are configured with.
pub const PUBLIC_BASE: &str = "https://switchboard.test";

/// An app whose platform credentials point every OAuth endpoint at `fake`.
pub async fn app_with(kafka: &TestKafka, fake: &FakeOAuth, return_url: Option<&str>) -> TestApp {
    let credentials = format!(
        "{};{}",
        crate::helpers::TEST_PLATFORM_CREDENTIALS,
        fake::platform_credentials(&fake.base)
    );
    let return_url = return_url.map(str::to_owned);
    TestApp::new_with(kafka, move |config| {
        config.platform_credentials = Some(switchboard_domain::SecretString::new(credentials));
        config.public_base_url = Some(PUBLIC_BASE.into());
        config.oauth_return_url = return_url;
    })
    .await
}

/// Creates an integration of `channel` in `ws` with `auth`, returns its id.
pub async fn create(app: &TestApp, ws: &str, channel: &str, auth: Value) -> String {
    let (status, body) = app
        .call(
            "POST",
            &format!("/v1/workspaces/{ws}/integrations"),
            Some(json!({"channel": channel, "name": "Inbox", "auth": auth})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Asks for the authorization URL of integration `id`.
pub async fn authorize(app: &TestApp, ws: &str, id: &str, body: Value) -> (StatusCode, Value) {
    let uri = format!("/v1/workspaces/{ws}/integrations/{id}/oauth/authorize");
    app.call("POST", &uri, Some(body)).await
}

/// Follows `authorization_url` to the fake's consent page and returns the callback path (and
/// query) the platform sends the browser back to.
pub async fn consent(authorization_url: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client.get(authorization_url).send().await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::FOUND);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    location
        .strip_prefix(PUBLIC_BASE)
        .unwrap_or_else(|| panic!("the platform sends the browser back here: {location}"))
        .to_owned()
}

/// Hands the browser's return to the callback route (no credential: it comes from the platform).
pub async fn callback(app: &TestApp, path: &str) -> (StatusCode, String, Value) {
    app.send_as_is(json_request("GET", path, None)).await
}

/// The integration as the API shows it.
pub async fn show(app: &TestApp, ws: &str, id: &str) -> Value {
    let (status, body) = app
        .call(
            "GET",
            &format!("/v1/workspaces/{ws}/integrations/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Completes outcome `outcome` of integration `id` with `binding`, as the admin's browser does.
pub async fn complete(
    app: &TestApp,
    ws: &str,
    id: &str,
    outcome: &str,
    binding: &str,
) -> (StatusCode, Value) {
    let uri = format!("/v1/workspaces/{ws}/integrations/{id}/oauth/complete");
    app.call(
        "POST",
        &uri,
        Some(json!({"outcome": outcome, "binding": binding})),
    )
    .await
}

/// The browser's return `path` through the callback, then the completion with the binding of
/// `authorization` (the authorize step's answer): the integration, or the first problem.
pub async fn finish(
    app: &TestApp,
    ws: &str,
    id: &str,
    authorization: &Value,
    path: &str,
) -> (StatusCode, Value) {
    let (status, _, pending) = callback(app, path).await;
    if status != StatusCode::OK {
        return (status, pending);
    }
    assert_eq!(pending["integration"], id, "{pending}");
    let binding = authorization["binding"].as_str().unwrap();
    complete(app, ws, id, pending["outcome"].as_str().unwrap(), binding).await
}

/// The whole flow for a new integration of `channel`: create, authorize, consent, callback,
/// complete.
pub async fn connect(
    app: &TestApp,
    ws: &str,
    channel: &str,
    auth: Value,
    authorize_body: Value,
) -> (String, StatusCode, Value) {
    let id = create(app, ws, channel, auth).await;
    let (status, body) = authorize(app, ws, &id, authorize_body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let back = consent(body["authorization_url"].as_str().unwrap()).await;
    let (status, view) = finish(app, ws, &id, &body, &back).await;
    (id, status, view)
}
