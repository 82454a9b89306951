//! The callback connects nothing: it keeps the outcome pending, sealed, and only the admin's
//! browser holding the authorize step's binding completes it, once. A wrong binding, another
//! integration or workspace, a second completion and an expired outcome record no event.

use super::fake::FakeOAuth;
use super::{app_with, authorize, callback, complete, consent, create, show};
use crate::helpers::{TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// A Zalo integration whose callback ran: its id, the authorize answer and the pending outcome.
async fn pending(app: &TestApp) -> (String, Value, String) {
    let id = create(app, "acme", "zalo", json!({})).await;
    let (status, authorization) = authorize(app, "acme", &id, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{authorization}");
    let path = consent(authorization["authorization_url"].as_str().unwrap()).await;
    let (status, _, pending) = callback(app, &path).await;
    assert_eq!(status, StatusCode::OK, "{pending}");
    let outcome = pending["outcome"].as_str().unwrap().to_owned();
    (id, authorization, outcome)
}

async fn connected_events(app: &TestApp, id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = 'IntegrationConnected'",
    )
    .bind(id)
    .fetch_one(&app.pool())
    .await
    .unwrap()
}

fn binding(authorization: &Value) -> &str {
    authorization["binding"].as_str().unwrap()
}

#[tokio::test]
async fn the_callback_records_nothing_and_keeps_the_tokens_sealed_until_completed_once() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let (id, authorization, outcome) = pending(&app).await;
    assert_eq!(
        connected_events(&app, &id).await,
        0,
        "the callback records no event"
    );
    assert_eq!(show(&app, "acme", &id).await["status"], "created");
    let stored: String = sqlx::query_scalar("SELECT auth FROM oauth_outcomes WHERE id = $1::uuid")
        .bind(&outcome)
        .fetch_one(&app.pool())
        .await
        .unwrap();
    for token in ["zalo-access", "zalo-refresh"] {
        assert!(!stored.contains(token), "{token} is kept sealed only");
    }

    let (status, view) = complete(&app, "acme", &id, &outcome, binding(&authorization)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "connected");
    assert_eq!(view["account"]["external_id"], "OA-1");
    assert_eq!(connected_events(&app, &id).await, 1);

    let (status, problem) = complete(&app, "acme", &id, &outcome, binding(&authorization)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "single-use: {problem}");
    assert_eq!(problem["type"], "/problems/oauth-outcome-not-found");
    assert_eq!(connected_events(&app, &id).await, 1);
}

#[tokio::test]
async fn another_browsers_binding_completes_nothing_and_the_right_one_still_does() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let (id, authorization, outcome) = pending(&app).await;
    // The binding of a flow the same admin started for another integration: the victim's
    // frontend holds none for a flow an attacker started.
    let other = create(&app, "acme", "zalo", json!({})).await;
    let (_, foreign) = authorize(&app, "acme", &other, json!({})).await;
    for wrong in [binding(&foreign), "not-the-binding"] {
        let (status, problem) = complete(&app, "acme", &id, &outcome, wrong).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
        assert_eq!(problem["type"], "/problems/oauth-binding-mismatch");
        assert!(!problem.to_string().contains(binding(&authorization)));
    }
    let (status, problem) = complete(&app, "acme", &id, &outcome, "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(connected_events(&app, &id).await, 0);

    let (status, view) = complete(&app, "acme", &id, &outcome, binding(&authorization)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(connected_events(&app, &id).await, 1);
}

#[tokio::test]
async fn another_integration_or_workspace_finds_no_outcome() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let (id, authorization, outcome) = pending(&app).await;
    let other = create(&app, "acme", "zalo", json!({})).await;
    let (status, problem) = complete(&app, "acme", &other, &outcome, binding(&authorization)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["type"], "/problems/oauth-outcome-not-found");
    let (status, _) = complete(&app, "other", &id, &outcome, binding(&authorization)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/integrations/{id}/oauth/complete"),
            Some(json!({"outcome": "not-a-uuid", "binding": binding(&authorization)})),
        )
        .await;
    assert!(status.is_client_error(), "{status} {problem}");
    assert_eq!(connected_events(&app, &id).await, 0);
    assert_eq!(connected_events(&app, &other).await, 0);
}

#[tokio::test]
async fn an_expired_outcome_is_refused_and_purged() {
    let kafka = TestKafka::new();
    let fake = FakeOAuth::start().await;
    let app = app_with(&kafka, &fake, None).await;
    let (id, authorization, outcome) = pending(&app).await;
    sqlx::query("UPDATE oauth_outcomes SET expires_at = now() - interval '1 second'")
        .execute(&app.pool())
        .await
        .unwrap();
    let (status, problem) = complete(&app, "acme", &id, &outcome, binding(&authorization)).await;
    assert_eq!(status, StatusCode::GONE, "{problem}");
    assert_eq!(problem["type"], "/problems/oauth-outcome-expired");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_outcomes")
        .fetch_one(&app.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "purged");
    assert_eq!(connected_events(&app, &id).await, 0);
    assert_eq!(show(&app, "acme", &id).await["status"], "created");
}
