//! Setting the Meta app's platform credentials and creating and connecting the benchmark's
//! Messenger integration through the service's API, as an operator and a workspace would
//! (Graph's part played by a local fake).

use super::settings::Settings;
use super::{load, payload};
use anyhow::{ensure, Context};
use axum::http::{header, StatusCode};
use switchboard_adapters::channels::meta::SIGNATURE_HEADER;

/// The Facebook page the benchmark integration stands for.
pub const PAGE_ID: &str = "104000000000001";

/// The workspace the benchmark integration lives in.
pub const WORKSPACE: &str = "bench";

/// Puts and verifies the Meta app's platform credentials (Graph played by `graph`).
async fn meta_app(settings: &Settings, graph: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let uri = format!(
        "http://{}/v1/platform-credentials/messenger",
        settings.server_addr
    );
    let fields = serde_json::json!({"app_id": "104000000000000", "app_secret": settings.app_secret,
        "verify_token": "bench-verify-token", "api_base": graph});
    let put = client
        .put(&uri)
        .bearer_auth(&settings.operator_token)
        .json(&fields)
        .send()
        .await?;
    ensure!(
        put.status() == StatusCode::OK,
        "putting the platform credentials: {}",
        put.text().await?
    );
    let verified = client
        .post(format!("{uri}/verify"))
        .bearer_auth(&settings.operator_token)
        .send()
        .await?;
    ensure!(
        verified.status() == StatusCode::OK,
        "verifying the platform credentials: {}",
        verified.text().await?
    );
    Ok(())
}

/// Sets the Meta app up, creates and connects a Messenger integration; returns its id.
pub async fn messenger_integration(settings: &Settings) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let graph = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, crate::fake_meta_app::routes()).await });
    meta_app(settings, &graph).await?;
    let client = reqwest::Client::new();
    let base = format!(
        "http://{}/v1/workspaces/{WORKSPACE}/integrations",
        settings.server_addr
    );
    let created = client
        .post(&base)
        .bearer_auth(&settings.api_key)
        .json(
            &serde_json::json!({"channel": "messenger", "name": "Ingest benchmark",
            "auth": {"page_id": PAGE_ID, "page_access_token": "bench-page-token"}}),
        )
        .send()
        .await?;
    ensure!(
        created.status() == StatusCode::CREATED,
        "creating the integration: {}",
        created.text().await?
    );
    let body: serde_json::Value = created.json().await?;
    let id = body["id"]
        .as_str()
        .context("no id in the answer")?
        .to_owned();
    let connected = client
        .post(format!("{base}/{id}/connect"))
        .bearer_auth(&settings.api_key)
        .json(&serde_json::json!({}))
        .send()
        .await?;
    ensure!(
        connected.status() == StatusCode::OK,
        "connecting the integration: {}",
        connected.text().await?
    );
    Ok(id)
}

/// Posts one webhook (not from the measured set) and insists on `200 {"events": 1}`.
pub async fn check_one_webhook(settings: &Settings, integration: &str) -> anyhow::Result<()> {
    let payload = payload::build(1, &settings.app_secret).remove(0);
    let answer = reqwest::Client::new()
        .post(format!(
            "http://{}{}",
            settings.server_addr,
            load::webhook_path(integration)
        ))
        .header(header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, payload.signature)
        .body(payload.body)
        .send()
        .await?;
    let status = answer.status();
    let body = answer.text().await?;
    ensure!(
        status == StatusCode::OK && body.contains("\"events\":1"),
        "a single signed webhook was answered {status}: {body}"
    );
    Ok(())
}
