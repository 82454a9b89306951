//! Inboxes from the Integration aggregate's events: created with the integration, renamed,
//! connected, disconnected, deleted.

use serde_json::Value;
use sqlx::PgConnection;
use switchboard_adapters::kafka::ConsumedRecord;

/// Applies lifecycle records, in order.
pub async fn apply(tx: &mut PgConnection, records: &[&ConsumedRecord]) -> Result<(), sqlx::Error> {
    for record in records {
        let Ok(event) = serde_json::from_slice::<Value>(&record.payload) else {
            tracing::warn!(
                offset = record.offset,
                "unreadable lifecycle record skipped"
            );
            continue;
        };
        apply_event(tx, &event).await?;
    }
    Ok(())
}

async fn apply_event(tx: &mut PgConnection, event: &Value) -> Result<(), sqlx::Error> {
    let Some(id) = event["integration_id"]
        .as_str()
        .and_then(|s| s.parse::<uuid::Uuid>().ok())
    else {
        return Ok(());
    };
    let at = event["at"].as_str().unwrap_or_default();
    match event["type"].as_str().unwrap_or_default() {
        "IntegrationCreated" => {
            sqlx::query(
                "INSERT INTO inboxes (integration_id, workspace_id, channel, name, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'created', $5::timestamptz, $5::timestamptz)
                 ON CONFLICT (integration_id) DO NOTHING",
            )
            .bind(id)
            .bind(event["workspace_id"].as_str().unwrap_or_default())
            .bind(event["channel"].as_str().unwrap_or_default())
            .bind(event["name"].as_str().unwrap_or_default())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        "SettingsUpdated" => {
            if let Some(name) = event["name"].as_str() {
                set(tx, id, "name", name, at).await?;
            }
        }
        "IntegrationConnected" => set(tx, id, "status", "connected", at).await?,
        "IntegrationDisconnected" => set(tx, id, "status", "disconnected", at).await?,
        "IntegrationDeleted" => set(tx, id, "status", "deleted", at).await?,
        _ => {}
    }
    Ok(())
}

async fn set(
    tx: &mut PgConnection,
    id: uuid::Uuid,
    column: &str,
    value: &str,
    at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE inboxes SET {column} = $2, updated_at = GREATEST(updated_at, $3::timestamptz)
         WHERE integration_id = $1"
    ))
    .bind(id)
    .bind(value)
    .bind(at)
    .execute(tx)
    .await?;
    Ok(())
}
