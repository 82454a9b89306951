//! The settings read model: each workspace's integrations with their channel, name, status,
//! connected account, settings, last error and who changed it last (`ce_actor`: an API key
//! id or a JWT subject), and each channel's platform credentials (status, field names, last
//! refusal), for settings pages. Built from `integrations.lifecycle`; credentials are never
//! copied into it.

use crate::engine::{Projection, ProjectionError};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::PgConnection;
use switchboard_adapters::kafka::{ConsumedRecord, Topics};

/// The settings projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct SettingsProjection;

#[async_trait]
impl Projection for SettingsProjection {
    fn name(&self) -> &'static str {
        "settings"
    }

    fn version(&self) -> i32 {
        3
    }

    fn topics(&self, topics: &Topics) -> Vec<String> {
        vec![topics.lifecycle.clone()]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        _topics: &Topics,
        records: &[ConsumedRecord],
    ) -> Result<(), ProjectionError> {
        for record in records {
            match serde_json::from_slice::<Value>(&record.payload) {
                Ok(event) => apply_event(tx, &event, record.header("ce_actor")).await?,
                Err(error) => {
                    tracing::warn!(offset = record.offset, %error, "unreadable lifecycle record skipped")
                }
            }
        }
        Ok(())
    }
}

async fn apply_event(
    tx: &mut PgConnection,
    event: &Value,
    actor: Option<String>,
) -> Result<(), sqlx::Error> {
    if event["type"]
        .as_str()
        .is_some_and(|t| t.starts_with("PlatformCredentials"))
    {
        return apply_platform_event(tx, event, actor).await;
    }
    let Some(id) = event["integration_id"]
        .as_str()
        .and_then(|s| s.parse::<uuid::Uuid>().ok())
    else {
        return Ok(());
    };
    let at = event["at"].as_str().unwrap_or_default();
    let query = match event["type"].as_str().unwrap_or_default() {
        "IntegrationCreated" => {
            sqlx::query(
                "INSERT INTO integrations (integration_id, workspace_id, channel, name, status, created_at, updated_at, updated_by)
                 VALUES ($1, $2, $3, $4, 'created', $5::timestamptz, $5::timestamptz, $6)
                 ON CONFLICT (integration_id) DO NOTHING",
            )
            .bind(id)
            .bind(event["workspace_id"].as_str().unwrap_or_default())
            .bind(event["channel"].as_str().unwrap_or_default())
            .bind(event["name"].as_str().unwrap_or_default())
            .bind(at)
        }
        "IntegrationConnected" => sqlx::query(
            "UPDATE integrations SET status = 'connected', account = $3, last_error = NULL, updated_at = $2::timestamptz,
                                     updated_by = $4
             WHERE integration_id = $1",
        )
        .bind(id)
        .bind(at)
        .bind(event["account"].clone()),
        "SettingsUpdated" => sqlx::query(
            "UPDATE integrations SET name = COALESCE($3, name), settings = COALESCE($4, settings),
                                     updated_at = $2::timestamptz, updated_by = $5
             WHERE integration_id = $1",
        )
        .bind(id)
        .bind(at)
        .bind(event["name"].as_str())
        .bind(event.get("settings").filter(|s| !s.is_null()).cloned()),
        "CredentialsRefreshed" => sqlx::query(
            "UPDATE integrations SET updated_at = $2::timestamptz, updated_by = $3 WHERE integration_id = $1",
        )
        .bind(id)
        .bind(at),
        "IntegrationDisconnected" => sqlx::query(
            "UPDATE integrations SET status = 'disconnected', last_error = $3, updated_at = $2::timestamptz,
                                     updated_by = $4
             WHERE integration_id = $1",
        )
        .bind(id)
        .bind(at)
        .bind(event["reason"].as_str()),
        "IntegrationDeleted" => sqlx::query(
            "UPDATE integrations SET status = 'deleted', updated_at = $2::timestamptz, updated_by = $3
             WHERE integration_id = $1",
        )
        .bind(id)
        .bind(at),
        _ => return Ok(()),
    };
    query.bind(actor).execute(tx).await?;
    Ok(())
}

/// One event of a channel's platform credentials (the `Platform` aggregate).
async fn apply_platform_event(
    tx: &mut PgConnection,
    event: &Value,
    actor: Option<String>,
) -> Result<(), sqlx::Error> {
    let Some(channel) = event["channel"].as_str() else {
        return Ok(());
    };
    let at = event["at"].as_str().unwrap_or_default();
    let query = match event["type"].as_str().unwrap_or_default() {
        "PlatformCredentialsPut" => {
            let fields: Vec<String> = event["fields"]
                .as_object()
                .map(|f| f.keys().cloned().collect())
                .unwrap_or_default();
            sqlx::query(
                "INSERT INTO platform_apps (channel, status, fields, updated_at, updated_by)
                 VALUES ($1, 'unverified', $3, $2::timestamptz, $4)
                 ON CONFLICT (channel) DO UPDATE SET status = 'unverified', fields = $3, check_method = NULL,
                     refusal = NULL, updated_at = $2::timestamptz, updated_by = $4",
            )
            .bind(channel)
            .bind(at)
            .bind(fields)
        }
        "PlatformCredentialsVerified" => sqlx::query(
            "UPDATE platform_apps SET status = 'verified', check_method = $3, verified_at = $2::timestamptz,
                                      refusal = NULL, updated_at = $2::timestamptz, updated_by = $4
             WHERE channel = $1",
        )
        .bind(channel)
        .bind(at)
        .bind(event["check"].as_str()),
        "PlatformCredentialsRefused" => sqlx::query(
            "UPDATE platform_apps SET status = 'refused', check_method = NULL, refusal = $3,
                                      updated_at = $2::timestamptz, updated_by = $4
             WHERE channel = $1",
        )
        .bind(channel)
        .bind(at)
        .bind(event["reason"].as_str()),
        "PlatformCredentialsDeleted" => {
            sqlx::query("DELETE FROM platform_apps WHERE channel = $1")
                .bind(channel)
                .execute(tx)
                .await?;
            return Ok(());
        }
        _ => return Ok(()),
    };
    query.bind(actor).execute(tx).await?;
    Ok(())
}
