//! Connecting asks the platform first: the account a tenant claims is proven with the
//! integration's credentials and becomes the event's verified account, webhooks are
//! registered, and what the platform refused is a problem naming it; disconnect and delete tell
//! the platform and record what it answered (all against the shared fake platform).

use crate::fake_accounts::{register_zalo, requests};
use crate::helpers::{TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// A bot id no other test uses, so this test's requests can be told from theirs.
fn bot_id() -> u64 {
    1_000_000 + u64::from(rand::random::<u32>())
}

async fn create(app: &TestApp, channel: &str, auth: Value) -> String {
    let (status, body) = app
        .call(
            "POST",
            "/v1/workspaces/acme/integrations",
            Some(json!({"channel": channel, "name": "Inbox", "auth": auth})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn connect(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    let uri = format!("/v1/workspaces/acme/integrations/{id}/connect");
    app.call("POST", &uri, Some(body)).await
}

/// The stored events of integration `id` of type `kind`, as JSON.
async fn events(app: &TestApp, id: &str, kind: &str) -> Vec<Value> {
    sqlx::query_scalar::<_, Value>(
        "SELECT payload FROM events WHERE aggregate_id = $1 AND event_type = $2 ORDER BY sequence",
    )
    .bind(id)
    .bind(kind)
    .fetch_all(&app.pool())
    .await
    .unwrap()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let uri = format!("/v1/workspaces/acme/integrations/{id}");
    let (_, body) = app.call("GET", &uri, None).await;
    body["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_telegram_connect_proves_the_bot_and_registers_its_webhook_with_the_secret() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let bot = bot_id();
    let token = format!("{bot}:secret-part");
    let id = create(
        &app,
        "telegram",
        json!({"bot_token": token, "webhook_secret": "hook-secret"}),
    )
    .await;
    let (status, view) = connect(&app, &id, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["account"]["external_id"], bot.to_string());
    assert_eq!(view["account"]["display_name"], format!("@bot{bot}_bot"));
    let registered = requests(&format!("/bot{bot}:secret-part/setWebhook"));
    assert_eq!(registered.len(), 1);
    assert_eq!(
        registered[0].body,
        json!({"url": format!("https://switchboard.test/webhooks/telegram/{id}"), "secret_token": "hook-secret"})
    );
    let connected = events(&app, &id, "IntegrationConnected").await;
    assert_eq!(connected[0]["account_verified"], true);

    let uri = format!("/v1/workspaces/acme/integrations/{id}/disconnect");
    let (status, _) = app
        .call("POST", &uri, Some(json!({"reason": "operator"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        requests(&format!("/bot{bot}:secret-part/deleteWebhook")).len(),
        1
    );
    let disconnected = events(&app, &id, "IntegrationDisconnected").await;
    assert_eq!(
        disconnected[0]["platform_outcome"],
        "the bot's webhook was deleted"
    );
    let (status, _) = app
        .call("POST", &uri, Some(json!({"reason": "again"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        requests(&format!("/bot{bot}:secret-part/deleteWebhook")).len(),
        1,
        "a disconnected integration is not unsubscribed again"
    );
}

#[tokio::test]
async fn refused_credentials_and_a_foreign_account_connect_nothing() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let refused = create(
        &app,
        "telegram",
        json!({"bot_token": "refused:very-secret", "webhook_secret": "s"}),
    )
    .await;
    let (status, problem) = connect(&app, &refused, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/platform-refused-credentials");
    assert!(!problem.to_string().contains("very-secret"), "{problem}");
    assert_eq!(status_of(&app, &refused).await, "created");

    let page = create(
        &app,
        "messenger",
        json!({"page_id": "5550001", "page_access_token": "EAAB-page"}),
    )
    .await;
    let (status, problem) = connect(
        &app,
        &page,
        json!({"account": {"external_id": "5550002", "display_name": "Not mine"}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/account-mismatch");
    assert_eq!(status_of(&app, &page).await, "created");
    assert!(
        requests("/5550001/subscribed_apps").is_empty(),
        "nothing is subscribed for an unproven account"
    );

    register_zalo("zalo-token-of-another-oa", "4440002");
    let oa = create(
        &app,
        "zalo",
        json!({"oa_id": "4440001", "access_token": "zalo-token-of-another-oa", "refresh_token": "r"}),
    )
    .await;
    let (status, problem) = connect(&app, &oa, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/account-mismatch");
    assert!(problem["detail"].as_str().unwrap().contains("4440002"));
}

#[tokio::test]
async fn a_platform_that_cannot_answer_is_503_with_retry_after() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = create(
        &app,
        "whatsapp",
        json!({"phone_number_id": "3330001", "business_account_id": "3330009", "access_token": "down-for-now"}),
    )
    .await;
    let uri = format!("/v1/workspaces/acme/integrations/{id}/connect");
    let (status, content_type, problem) = app
        .send(crate::helpers::json_request("POST", &uri, Some(json!({}))))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["type"], "/problems/platform-unavailable");
    assert_eq!(status_of(&app, &id).await, "created");
}

#[tokio::test]
async fn meta_accounts_are_subscribed_on_connect_and_unsubscribed_on_delete() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let number = create(
        &app,
        "whatsapp",
        json!({"phone_number_id": "2220001", "business_account_id": "2220009", "access_token": "EAAG"}),
    )
    .await;
    let (status, view) = connect(&app, &number, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["account"]["external_id"], "2220001");
    assert_eq!(view["account"]["display_name"], "Number 2220001");
    let subscribed = requests("/2220009/subscribed_apps");
    assert_eq!(subscribed.len(), 1);
    assert_eq!(subscribed[0].method, "POST");
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/v1/workspaces/acme/integrations/{number}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let calls = requests("/2220009/subscribed_apps");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].method, "DELETE");
    let deleted = events(&app, &number, "IntegrationDeleted").await;
    assert_eq!(
        deleted[0]["platform_outcome"],
        "the app was unsubscribed from business account 2220009"
    );
}

#[tokio::test]
async fn a_business_account_stays_subscribed_while_another_of_its_numbers_is_connected() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let waba = format!("33{}", rand::random::<u32>());
    let number = |n: &str| json!({"phone_number_id": n, "business_account_id": waba, "access_token": "EAAG"});
    let first = create(&app, "whatsapp", number(&format!("{waba}1"))).await;
    let second = create(&app, "whatsapp", number(&format!("{waba}2"))).await;
    for id in [&first, &second] {
        let (status, view) = connect(&app, id, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{view}");
    }
    let subscriptions = format!("/{waba}/subscribed_apps");
    let uri = format!("/v1/workspaces/acme/integrations/{first}/disconnect");
    let (status, _) = app
        .call("POST", &uri, Some(json!({"reason": "moved"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let calls = requests(&subscriptions);
    assert!(
        calls.iter().all(|c| c.method == "POST"),
        "the other number's subscription was undone: {calls:?}"
    );
    let disconnected = events(&app, &first, "IntegrationDisconnected").await;
    assert!(disconnected[0]["platform_outcome"]
        .as_str()
        .unwrap()
        .starts_with("kept the subscription"));
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/v1/workspaces/acme/integrations/{second}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let calls = requests(&subscriptions);
    assert_eq!(
        calls.last().unwrap().method,
        "DELETE",
        "the last number unsubscribes"
    );
}

#[tokio::test]
async fn a_failed_unsubscribe_is_recorded_and_the_integration_still_goes() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let page = create(
        &app,
        "messenger",
        json!({"page_id": "6660001", "page_access_token": "EAAB"}),
    )
    .await;
    let (status, _) = connect(&app, &page, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // The token is revoked at the platform meanwhile.
    let uri = format!("/v1/workspaces/acme/integrations/{page}/credentials");
    let (status, _) = app
        .call(
            "POST",
            &uri,
            Some(json!({"auth": {"page_access_token": "refused-now"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let uri = format!("/v1/workspaces/acme/integrations/{page}/disconnect");
    let (status, view) = app
        .call("POST", &uri, Some(json!({"reason": "moving on"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "disconnected");
    let disconnected = events(&app, &page, "IntegrationDisconnected").await;
    let outcome = disconnected[0]["platform_outcome"].as_str().unwrap();
    assert!(
        outcome.starts_with("failed: ") && outcome.contains("190"),
        "{outcome}"
    );
    assert!(!outcome.contains("refused-now"), "{outcome}");
}

#[tokio::test]
async fn telegram_needs_the_public_url_to_register_its_webhook() {
    let kafka = TestKafka::new();
    let app = TestApp::new_with(&kafka, |c| c.public_base_url = None).await;
    let id = create(
        &app,
        "telegram",
        json!({"bot_token": format!("{}:x", bot_id()), "webhook_secret": "s"}),
    )
    .await;
    let (status, problem) = connect(&app, &id, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "/problems/public-url-not-configured");
    assert_eq!(status_of(&app, &id).await, "created");
}

#[tokio::test]
async fn an_smtp_connect_logs_in_and_names_the_stage_that_failed() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let mailbox = |password: &str, host: &str| {
        json!({"host": host, "port": crate::fake_accounts::smtp_port(), "username": "mailer",
            "password": password, "from_address": "shop@example.com", "starttls": false})
    };
    let good = create(&app, "smtp", mailbox("hunter2", "127.0.0.1")).await;
    let (status, view) = connect(&app, &good, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["account"]["external_id"], "shop@example.com");

    let refused = create(&app, "smtp", mailbox("refused-password", "127.0.0.1")).await;
    let (status, problem) = connect(&app, &refused, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/mail-authentication-failed");
    assert!(
        !problem.to_string().contains("refused-password"),
        "{problem}"
    );

    let nowhere = create(&app, "smtp", mailbox("hunter2", "mail.invalid")).await;
    let (status, problem) = connect(&app, &nowhere, json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{problem}");
    assert_eq!(problem["type"], "/problems/mail-dns-failed");
}

#[tokio::test]
async fn a_tiktok_disconnect_revokes_the_grant_and_records_what_tiktok_answered() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let business = format!("-000tt{}", rand::random::<u32>());
    let token = format!("act.{business}");
    let id = create(
        &app,
        "tiktok",
        json!({"business_id": business, "access_token": token}),
    )
    .await;
    let (status, view) = connect(&app, &id, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let uri = format!("/v1/workspaces/acme/integrations/{id}/disconnect");
    let (status, _) = app
        .call("POST", &uri, Some(json!({"reason": "offboarded"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let revokes: Vec<_> = requests("/tt_user/oauth2/revoke/")
        .into_iter()
        .filter(|r| r.body["access_token"] == token)
        .collect();
    assert_eq!(revokes.len(), 1, "{revokes:?}");
    assert_eq!(revokes[0].body["client_id"], "tiktok-client-key");
    let disconnected = events(&app, &id, "IntegrationDisconnected").await;
    assert_eq!(
        disconnected[0]["platform_outcome"],
        "the TikTok grant was revoked"
    );
    assert!(!disconnected[0].to_string().contains(&token));
}

/// Makes this test database refuse to record events of type `kind` for integration `id`, as
/// a database failing between the platform call and the event would.
async fn refuse_to_record(app: &TestApp, id: &str, kind: &str) {
    let pool = app.pool();
    sqlx::query(&format!(
        "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.aggregate_id = '{id}' AND NEW.event_type = '{kind}' THEN
             RAISE EXCEPTION 'recording refused by the test';
           END IF;
           RETURN NEW;
         END $$"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_event BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_event()",
    )
    .execute(&pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_connect_the_aggregate_refuses_asks_nothing_of_the_platform() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let bot = bot_id();
    let token = format!("{bot}:secret-part");
    let id = create(
        &app,
        "telegram",
        json!({"bot_token": token, "webhook_secret": "s"}),
    )
    .await;
    let (status, _) = connect(&app, &id, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let asked = requests(&format!("/bot{token}/")).len();
    let (status, problem) = connect(&app, &id, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(
        requests(&format!("/bot{token}/")).len(),
        asked,
        "the platform was asked about a connect the aggregate refuses"
    );
}

#[tokio::test]
async fn a_connect_whose_event_cannot_be_recorded_is_unsubscribed_again() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let bot = bot_id();
    let token = format!("{bot}:secret-part");
    let id = create(
        &app,
        "telegram",
        json!({"bot_token": token, "webhook_secret": "s"}),
    )
    .await;
    refuse_to_record(&app, &id, "IntegrationConnected").await;
    let (status, problem) = connect(&app, &id, json!({})).await;
    assert!(status.is_server_error(), "{status} {problem}");
    assert_eq!(requests(&format!("/bot{token}/setWebhook")).len(), 1);
    assert_eq!(
        requests(&format!("/bot{token}/deleteWebhook")).len(),
        1,
        "the subscription of a connect that was not recorded is undone"
    );
    assert_eq!(status_of(&app, &id).await, "created");
}

#[tokio::test]
async fn a_disconnect_whose_event_cannot_be_recorded_is_subscribed_again() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let bot = bot_id();
    let token = format!("{bot}:secret-part");
    let id = create(
        &app,
        "telegram",
        json!({"bot_token": token, "webhook_secret": "s"}),
    )
    .await;
    let (status, _) = connect(&app, &id, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    refuse_to_record(&app, &id, "IntegrationDisconnected").await;
    let uri = format!("/v1/workspaces/acme/integrations/{id}/disconnect");
    let (status, _) = app
        .call("POST", &uri, Some(json!({"reason": "operator"})))
        .await;
    assert!(status.is_server_error(), "{status}");
    assert_eq!(requests(&format!("/bot{token}/deleteWebhook")).len(), 1);
    assert_eq!(
        requests(&format!("/bot{token}/setWebhook")).len(),
        2,
        "the integration still connected gets its webhook back"
    );
    assert_eq!(status_of(&app, &id).await, "connected");
}
