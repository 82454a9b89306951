//! Creating and connecting the benchmark's Messenger integration through the service's API.

use super::settings::Settings;
use super::{load, payload};
use anyhow::{ensure, Context};
use axum::http::{header, StatusCode};
use switchboard_adapters::channels::meta::SIGNATURE_HEADER;

/// The Facebook page the benchmark integration stands for.
pub const PAGE_ID: &str = "104000000000001";

/// The workspace the benchmark integration lives in.
pub const WORKSPACE: &str = "bench";

/// Creates and connects a Messenger integration; returns its id.
pub async fn messenger_integration(settings: &Settings) -> anyhow::Result<String> {
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
