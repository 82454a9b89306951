//! Agents' actions through the API and the inbox: a read mark leaves unread only what came
//! after it, resolve and reopen set the status, a later message from the contact opens a
//! resolved conversation again, bad requests get precise errors, and the inbox ends the same
//! whatever order actions and messages are read in.

use crate::helpers::{TestApp, TestKafka};
use crate::projections::{count, inbound, publish, spawn_projector, wait_until};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::sync::Arc;
use switchboard_adapters::activity::activity_record;
use switchboard_adapters::kafka::EventProducer;
use switchboard_domain::message::{
    conversation_key, ConversationAction, ConversationActivity, InboundEvent,
};
use switchboard_domain::IntegrationId;
use switchboard_projections::inbox::InboxProjection;
use tokio::task::JoinHandle;
use uuid::Uuid;

const AT: i64 = 1_700_000_000_000;

/// The instant `ms` milliseconds after the Unix epoch.
pub(crate) fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

async fn conversation(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, page) = app
        .call(
            "GET",
            &format!("/v1/workspaces/acme/conversations{query}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn field(app: &TestApp, name: &str) -> Value {
    conversation(app, "").await[0][name].clone()
}

/// Publishes `messages`, starts the inbox projector and waits until it holds them all.
async fn projected(app: &TestApp, messages: &[InboundEvent]) -> JoinHandle<()> {
    publish(app, messages).await;
    let projector = spawn_projector(app, Arc::new(InboxProjection), 50);
    let pool = app.pool();
    wait_until("every message", || async {
        count(&pool, "SELECT count(*) FROM inbox.messages").await == messages.len() as i64
    })
    .await;
    projector
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_resolving_and_reopening_show_in_the_inbox() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = IntegrationId::new();
    let projector = projected(
        &app,
        &[
            inbound(integration, "gil", "m1", "Hi", AT, false),
            inbound(integration, "gil", "m2", "Anyone?", AT + 1_000, false),
        ],
    )
    .await;
    let id = field(&app, "id").await.as_str().unwrap().to_owned();
    assert_eq!(field(&app, "unread_count").await, 2);
    assert_eq!(field(&app, "status").await, "open");
    let action = |path: &'static str, body: Value| {
        let (app, id) = (&app, id.clone());
        async move {
            app.call(
                "POST",
                &format!("/v1/workspaces/acme/conversations/{id}/{path}"),
                Some(body),
            )
            .await
        }
    };

    let (status, answer) = action("read", json!({"up_to": time(AT)})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["action"], "read");
    wait_until("unread after the first message only", || async {
        field(&app, "unread_count").await == 1
    })
    .await;
    let (status, answer) = action("read", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        answer["up_to"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        time(AT + 1_000),
        "without up_to, read up to the latest message"
    );
    wait_until("nothing unread", || async {
        field(&app, "unread_count").await == 0
    })
    .await;
    // A late, older mark moves nothing back.
    action("read", json!({"up_to": time(AT - 5_000)})).await;
    assert_eq!(
        field(&app, "last_read_at")
            .await
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        time(AT + 1_000)
    );

    let (status, answer) = action("status", json!({"status": "resolved"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    wait_until("resolved", || async {
        field(&app, "status").await == "resolved"
    })
    .await;
    assert_eq!(conversation(&app, "?status=resolved").await.len(), 1);
    assert!(conversation(&app, "?status=open").await.is_empty());

    // The contact writes again after it was resolved: open, one unread.
    let later = Utc::now().timestamp_millis();
    publish(
        &app,
        &[inbound(integration, "gil", "m3", "Hello??", later, false)],
    )
    .await;
    wait_until("opened by the contact's message", || async {
        field(&app, "status").await == "open" && field(&app, "unread_count").await == 1
    })
    .await;

    action("status", json!({"status": "resolved"})).await;
    wait_until("resolved again", || async {
        field(&app, "status").await == "resolved"
    })
    .await;
    let (status, _) = action("status", json!({"status": "open"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_until("reopened by hand", || async {
        field(&app, "status").await == "open"
    })
    .await;

    let (status, problem) = action("status", json!({"status": "closed"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("closed"));
    let (status, _) = action("read", json!({"upto": time(AT)})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );
    let (status, _) = app
        .call(
            "POST",
            &format!("/v1/workspaces/other/conversations/{id}/read"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another workspace's conversation"
    );
    let (status, _) = app
        .call(
            "GET",
            "/v1/workspaces/acme/conversations?status=closed",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    projector.abort();
}

/// Publishes agent action `action` on conversation `key` at `at_ms`.
pub(crate) async fn publish_activity(
    app: &TestApp,
    key: &str,
    at_ms: i64,
    action: ConversationAction,
) {
    let producer = EventProducer::new(&app.config.kafka()).unwrap();
    let activity = ConversationActivity {
        event_id: Uuid::new_v4(),
        workspace_id: "acme".parse().unwrap(),
        conversation_key: key.to_owned(),
        at: time(at_ms),
        action,
    };
    let record = activity_record(&activity, &app.config.topics().activity, None);
    producer.publish(&record).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marks_read_before_the_messages_they_mark_still_apply() {
    for max_batch in [1, 25] {
        let kafka = TestKafka::new();
        let app = TestApp::new(&kafka).await;
        let integration = IntegrationId::new();
        let (hal, ida) = (
            conversation_key(integration, "hal"),
            conversation_key(integration, "ida"),
        );
        // The actions are on the broker before the conversations' first messages.
        publish_activity(
            &app,
            &hal,
            AT + 9_000,
            ConversationAction::Read {
                up_to: time(AT + 1_000),
            },
        )
        .await;
        publish_activity(&app, &hal, AT + 1_500, ConversationAction::Resolved).await;
        publish_activity(&app, &ida, AT + 5_000, ConversationAction::Resolved).await;
        // Received (our clock, what resolving compares with) when the platform sent them.
        let messages = [
            inbound(integration, "hal", "h1", "a", AT, false),
            inbound(integration, "hal", "h2", "b", AT + 1_000, false),
            inbound(integration, "hal", "h3", "c", AT + 2_000, false),
            inbound(integration, "ida", "i1", "d", AT, false),
        ]
        .map(|mut event| {
            event.received_at = Some(event.platform_timestamp);
            event
        });
        publish(&app, &messages).await;
        let projector = spawn_projector(&app, Arc::new(InboxProjection), max_batch);
        let pool = app.pool();
        wait_until("every message and mark", || async {
            count(&pool, "SELECT count(*) FROM inbox.messages").await == 4
                && count(&pool, "SELECT count(*) FROM inbox.conversation_marks").await == 2
        })
        .await;
        projector.abort();
        let rows: Vec<(String, i32, String)> = sqlx::query_as(
            "SELECT contact_id, unread_count, status FROM inbox.conversations ORDER BY contact_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            rows,
            vec![
                ("hal".to_owned(), 1, "open".to_owned()),
                ("ida".to_owned(), 1, "resolved".to_owned()),
            ],
            "batches of {max_batch}: hal read up to h2 and wrote after resolving; ida did not"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolving_compares_with_when_messages_reached_us_not_the_platforms_clock() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let integration = IntegrationId::new();
    // The platform's clock runs ten minutes ahead of ours.
    let skewed = || Utc::now().timestamp_millis() + 600_000;
    let projector = projected(
        &app,
        &[inbound(integration, "kim", "k1", "Hi", skewed(), false)],
    )
    .await;
    let id = field(&app, "id").await.as_str().unwrap().to_owned();
    let (status, answer) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/conversations/{id}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    wait_until("resolved after the message reached us", || async {
        field(&app, "status").await == "resolved"
    })
    .await;

    publish(
        &app,
        &[inbound(
            integration,
            "kim",
            "k2",
            "Still there?",
            skewed(),
            false,
        )],
    )
    .await;
    wait_until("opened by a message that reached us after it", || async {
        field(&app, "status").await == "open"
    })
    .await;
    projector.abort();
}
