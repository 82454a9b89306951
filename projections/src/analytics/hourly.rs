//! Hourly message counts and first-response times per workspace and channel.
//!
//! Each event id is recorded once (`seen_events`), so a redelivered event counts nothing;
//! a conversation waits for a response from its first unanswered inbound message until the
//! next outbound one, and that wait is added to the hour the response was sent in.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::PgConnection;
use switchboard_adapters::kafka::ConsumedRecord;
use switchboard_domain::message::{InboundEvent, InboundKind};

/// The analytics tables.
pub const DDL: &str = "
CREATE TABLE seen_events (event_id uuid PRIMARY KEY);
CREATE TABLE hourly_messages (
    workspace_id        text        NOT NULL,
    channel             text        NOT NULL,
    hour                timestamptz NOT NULL,
    inbound             bigint      NOT NULL DEFAULT 0,
    outbound            bigint      NOT NULL DEFAULT 0,
    responses           bigint      NOT NULL DEFAULT 0,
    response_ms_total   bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, channel, hour)
);
CREATE TABLE awaiting_response (
    conversation_key text PRIMARY KEY,
    since            timestamptz NOT NULL
);";

/// Applies `messages.received` records.
pub async fn apply(tx: &mut PgConnection, records: &[ConsumedRecord]) -> Result<(), sqlx::Error> {
    for record in records {
        let Ok(event) = InboundEvent::from_json_without_raw(&record.payload) else {
            continue;
        };
        let InboundKind::MessageReceived { is_echo, .. } = event.kind else {
            continue;
        };
        if first_time(tx, &event).await? {
            count(tx, &event, is_echo).await?;
        }
    }
    Ok(())
}

async fn first_time(tx: &mut PgConnection, event: &InboundEvent) -> Result<bool, sqlx::Error> {
    let inserted =
        sqlx::query("INSERT INTO seen_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(event.event_id)
            .execute(tx)
            .await?;
    Ok(inserted.rows_affected() == 1)
}

fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

async fn count(
    tx: &mut PgConnection,
    event: &InboundEvent,
    outbound: bool,
) -> Result<(), sqlx::Error> {
    let response_ms = if outbound {
        answered(tx, &event.conversation_key, event.platform_timestamp).await?
    } else {
        sqlx::query(
            "INSERT INTO awaiting_response (conversation_key, since) VALUES ($1, $2)
             ON CONFLICT (conversation_key) DO UPDATE SET since = LEAST(awaiting_response.since, EXCLUDED.since)",
        )
        .bind(&event.conversation_key)
        .bind(event.platform_timestamp)
        .execute(&mut *tx)
        .await?;
        None
    };
    sqlx::query(
        "INSERT INTO hourly_messages (workspace_id, channel, hour, inbound, outbound, responses, response_ms_total)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (workspace_id, channel, hour) DO UPDATE SET
             inbound = hourly_messages.inbound + EXCLUDED.inbound,
             outbound = hourly_messages.outbound + EXCLUDED.outbound,
             responses = hourly_messages.responses + EXCLUDED.responses,
             response_ms_total = hourly_messages.response_ms_total + EXCLUDED.response_ms_total",
    )
    .bind(event.workspace_id.as_str())
    .bind(event.channel.as_str())
    .bind(hour_of(event.platform_timestamp))
    .bind(i64::from(!outbound))
    .bind(i64::from(outbound))
    .bind(i64::from(response_ms.is_some()))
    .bind(response_ms.unwrap_or(0))
    .execute(tx)
    .await?;
    Ok(())
}

/// Ends the conversation's wait, returning how long it was (ms), if it was waiting.
async fn answered(
    tx: &mut PgConnection,
    key: &str,
    at: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    let since: Option<DateTime<Utc>> = sqlx::query_scalar(
        "DELETE FROM awaiting_response WHERE conversation_key = $1 RETURNING since",
    )
    .bind(key)
    .fetch_optional(tx)
    .await?;
    Ok(since.map(|since| (at - since).num_milliseconds().max(0)))
}
