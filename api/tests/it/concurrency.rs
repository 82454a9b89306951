//! Racing commands on one integration against real PostgreSQL: none may be lost.

use crate::helpers::{TestApp, TestKafka};
use std::collections::HashMap;
use switchboard_adapters::store::CommandMetadata;
use switchboard_domain::integration::IntegrationCommand;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_commands_on_one_integration_lose_no_event() {
    const WRITERS: usize = 12;
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id: switchboard_domain::IntegrationId =
        app.connected_telegram("acme", "1:a").await.parse().unwrap();
    let store = app.app.as_ref().unwrap().state.integrations.clone();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let command = IntegrationCommand::UpdateSettings {
                    name: None,
                    settings: Some(serde_json::json!({ "writer": n })),
                };
                store.execute(id, command, CommandMetadata::default()).await
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap()
            .expect("every racing command eventually commits");
    }
    let sequences: Vec<i64> =
        sqlx::query_scalar("SELECT sequence FROM events WHERE aggregate_id = $1 ORDER BY sequence")
            .bind(id.to_string())
            .fetch_all(&app.pool())
            .await
            .unwrap();
    let expected: Vec<i64> = (1..=(2 + WRITERS as i64)).collect();
    assert_eq!(
        sequences, expected,
        "create + connect + one event per writer, no gaps"
    );
    let writers: HashMap<i64, i64> = sqlx::query_as(
        "SELECT (payload->'settings'->>'writer')::bigint, count(*) FROM events
         WHERE aggregate_id = $1 AND event_type = 'SettingsUpdated' GROUP BY 1",
    )
    .bind(id.to_string())
    .fetch_all(&app.pool())
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(
        writers.len(),
        WRITERS,
        "each writer's event is there exactly once: {writers:?}"
    );
    assert!(writers.values().all(|&count| count == 1));
    let outbox_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE aggregate_id = $1")
            .bind(id.to_string())
            .fetch_one(&app.pool())
            .await
            .unwrap();
    assert_eq!(
        outbox_rows,
        expected.len() as i64,
        "every event has its outbox row"
    );
}
