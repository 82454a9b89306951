//! The PostgreSQL ceiling of the projection benchmark: the workload's message rows stored with
//! bare multi-row inserts into a fresh copy of the inbox's tables (the same indexes), over as
//! many connections as the rebuild has lanes. No broker, no conversations, no offsets, no
//! status logic: what PostgreSQL on this machine allows for the rows any inbox must keep.

use crate::event;
use sqlx::{Executor, PgPool};
use std::time::Instant;
use switchboard_domain::message::{InboundEvent, InboundKind};
use switchboard_domain::IntegrationId;
use switchboard_projections::inbox::{conversation_id, InboxProjection};
use switchboard_projections::Projection;

const CHUNK: usize = 5_000;
const SCHEMA: &str = "bare_ceiling";

/// Rows per second storing the messages of events `0..total` in `lanes` connections.
pub async fn rate(
    pool: &PgPool,
    integration: IntegrationId,
    total: usize,
    lanes: usize,
) -> anyhow::Result<f64> {
    let mut setup = pool.acquire().await?;
    setup
        .execute(format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}").as_str())
        .await?;
    setup
        .execute(format!("SET search_path TO {SCHEMA}").as_str())
        .await?;
    setup.execute(InboxProjection.ddl()).await?;
    drop(setup);
    let started = Instant::now();
    let lanes = lanes.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..lanes {
        let pool = pool.clone();
        tasks.spawn(async move {
            let mut from = lane * CHUNK;
            while from < total {
                let chunk: Vec<InboundEvent> = (from..(from + CHUNK).min(total))
                    .map(|n| event(integration, n))
                    .collect();
                insert(&pool, &chunk).await?;
                from += lanes * CHUNK;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let per_second = total as f64 / started.elapsed().as_secs_f64();
    pool.execute(format!("DROP SCHEMA {SCHEMA} CASCADE").as_str())
        .await?;
    Ok(per_second)
}

async fn insert(pool: &PgPool, events: &[InboundEvent]) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    let mut conversations = Vec::new();
    let mut workspaces = Vec::new();
    let mut directions = Vec::new();
    let mut platform_ids = Vec::new();
    let mut contents = Vec::new();
    let mut sent = Vec::new();
    for event in events {
        let InboundKind::MessageReceived {
            platform_message_id,
            content,
            is_echo,
            ..
        } = &event.kind
        else {
            continue;
        };
        ids.push(event.event_id);
        conversations.push(conversation_id(&event.conversation_key));
        workspaces.push(event.workspace_id.to_string());
        directions.push(if *is_echo { "outbound" } else { "inbound" });
        platform_ids.push(platform_message_id.clone());
        contents.push(serde_json::to_value(content)?);
        sent.push(event.platform_timestamp);
    }
    sqlx::query(&format!(
        "INSERT INTO {SCHEMA}.messages (id, conversation_id, workspace_id, direction,
                                        platform_message_id, content, sent_at)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                              $6::jsonb[], $7::timestamptz[])
         ON CONFLICT DO NOTHING"
    ))
    .bind(ids)
    .bind(conversations)
    .bind(workspaces)
    .bind(directions)
    .bind(platform_ids)
    .bind(contents)
    .bind(sent)
    .execute(pool)
    .await?;
    Ok(())
}
