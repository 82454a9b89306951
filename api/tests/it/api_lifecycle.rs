//! The integration lifecycle over HTTP, against real PostgreSQL.

use crate::helpers::{TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn creating_an_integration_answers_201_with_its_view_and_hides_secrets() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (status, _, body) = app
        .send(crate::helpers::json_request(
            "POST",
            "/v1/workspaces/acme/integrations",
            Some(json!({"channel": "telegram", "name": "Support", "auth": {"bot_token": "123:abc", "bot_username": "acme_bot"}})),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"], "created");
    assert_eq!(body["channel"], "telegram");
    assert_eq!(body["workspace_id"], "acme");
    assert_eq!(
        body["auth"],
        json!({"bot_token": "[set]", "bot_username": "acme_bot"})
    );
    assert_eq!(body["version"], 1);
    let id = body["id"].as_str().unwrap();
    let (status, fetched) = app
        .call(
            "GET",
            &format!("/v1/workspaces/acme/integrations/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, body);
}

#[tokio::test]
async fn a_client_chosen_id_makes_a_retried_create_a_conflict() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = uuid::Uuid::new_v4();
    let create = json!({"id": id, "channel": "webchat", "name": "Site", "auth": {"allowed_origin": "https://acme.example"}});
    let (first, body) = app
        .call(
            "POST",
            "/v1/workspaces/acme/integrations",
            Some(create.clone()),
        )
        .await;
    assert_eq!(first, StatusCode::CREATED);
    assert_eq!(body["id"], id.to_string());
    let (second, problem) = app
        .call("POST", "/v1/workspaces/acme/integrations", Some(create))
        .await;
    assert_eq!(second, StatusCode::CONFLICT);
    assert_eq!(problem["type"], "/problems/already-exists");
}

#[tokio::test]
async fn the_whole_lifecycle_follows_the_rules() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = app.connected_telegram("acme", "123:abc").await;
    let base = format!("/v1/workspaces/acme/integrations/{id}");

    let (status, problem) = app
        .call("POST", &format!("{base}/connect"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "connecting twice is refused");
    assert_eq!(problem["type"], "/problems/lifecycle-conflict");

    let (status, body) = app
        .call(
            "PATCH",
            &base,
            Some(json!({"name": "Renamed", "settings": {"greeting": "hi"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["name"].as_str(), &body["settings"]),
        (Some("Renamed"), &json!({"greeting": "hi"}))
    );

    let (status, body) = app
        .call(
            "POST",
            &format!("{base}/credentials"),
            Some(json!({"auth": {"bot_token": "456:def"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["auth"]["bot_token"], "[set]");

    let (status, body) = app
        .call(
            "POST",
            &format!("{base}/disconnect"),
            Some(json!({"reason": "operator"})),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("disconnected"))
    );
    let version = body["version"].clone();
    let (status, body) = app
        .call(
            "POST",
            &format!("{base}/disconnect"),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "disconnecting twice is a no-op");
    assert_eq!(body["version"], version, "and records nothing");
    assert_eq!(body["last_disconnect_reason"], "operator");

    let (status, body) = app
        .call("POST", &format!("{base}/connect"), Some(json!({})))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("connected")),
        "reconnect uses stored credentials"
    );

    let (status, _) = app.call("DELETE", &base, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = app.call("GET", &base, None).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (StatusCode::GONE, Some("/problems/deleted"))
    );
    let (status, _) = app.call("PATCH", &base, Some(json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::GONE, "no command after delete");
    let (status, _) = app.call("DELETE", &base, None).await;
    assert_eq!(status, StatusCode::GONE);
}

#[tokio::test]
async fn connecting_without_required_credentials_names_the_missing_fields() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (_, body) = app
        .call(
            "POST",
            "/v1/workspaces/acme/integrations",
            Some(json!({"channel": "smtp", "name": "Mail"})),
        )
        .await;
    let id = body["id"].as_str().unwrap();
    let (status, problem) = app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/integrations/{id}/connect"),
            Some(json!({"auth": {"host": "smtp.example.com"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["username", "password", "from_address"]);
}

#[tokio::test]
async fn listing_filters_by_channel_hides_deleted_and_other_workspaces() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let telegram = app.connected_telegram("acme", "1:a").await;
    let gone = app.connected_telegram("acme", "2:b").await;
    app.connected_telegram("globex", "3:c").await;
    let (status, _) = app
        .call(
            "POST",
            "/v1/workspaces/acme/integrations",
            Some(json!({"channel": "webchat", "name": "Site"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.call(
        "DELETE",
        &format!("/v1/workspaces/acme/integrations/{gone}"),
        None,
    )
    .await;

    let (_, all) = app
        .call("GET", "/v1/workspaces/acme/integrations", None)
        .await;
    let channels: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["telegram", "webchat"]);
    let (_, only) = app
        .call(
            "GET",
            "/v1/workspaces/acme/integrations?channel=telegram",
            None,
        )
        .await;
    let ids: Vec<&str> = only["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [telegram.as_str()]);
}

#[tokio::test]
async fn another_workspace_can_neither_see_nor_change_an_integration() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = app.connected_telegram("acme", "1:a").await;
    let foreign = format!("/v1/workspaces/globex/integrations/{id}");
    assert_eq!(
        app.call("GET", &foreign, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(
            "POST",
            &format!("{foreign}/disconnect"),
            Some(json!({"reason": "x"}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call("DELETE", &foreign, None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, body) = app
        .call(
            "GET",
            &format!("/v1/workspaces/acme/integrations/{id}"),
            None,
        )
        .await;
    assert_eq!(body["status"], "connected");
}

#[tokio::test]
async fn channels_are_served_with_their_auth_json_schema() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (status, body) = app.call("GET", "/v1/channels", None).await;
    assert_eq!(status, StatusCode::OK);
    let items = body["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    for expected in [
        "messenger",
        "whatsapp",
        "zalo",
        "tiktok",
        "telegram",
        "webchat",
        "email",
        "smtp",
        "google-sheets",
        "chatbotx",
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    let messenger = items.iter().find(|c| c["kind"] == "messenger").unwrap();
    assert_eq!(messenger["auth_scheme"], "oauth2");
    assert_eq!(
        messenger["auth_schema"]["properties"]["page_access_token"]["writeOnly"],
        true
    );
    assert_eq!(
        messenger["auth_schema"]["required"],
        json!(["page_id", "page_access_token"])
    );
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (status, doc) = app.call("GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/workspaces/{ws}/integrations",
        "/v1/workspaces/{ws}/integrations/{id}",
        "/v1/workspaces/{ws}/integrations/{id}/connect",
        "/v1/workspaces/{ws}/integrations/{id}/disconnect",
        "/v1/workspaces/{ws}/integrations/{id}/credentials",
        "/v1/workspaces/{ws}/integrations/{id}/oauth/authorize",
        "/v1/workspaces/{ws}/integrations/{id}/oauth/complete",
        "/oauth/{channel}/callback",
        "/v1/channels",
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/workspaces/{ws}/conversations/{id}/typing",
        "/webchat/{integration_id}/ws",
        "/webchat/{integration_id}/widget.js",
        "/webchat/{integration_id}/widget.css",
        "/webchat/{integration_id}/demo",
        "/webchat/{integration_id}/events",
        "/webchat/{integration_id}/frames",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    let events = &paths["/webchat/{integration_id}/events"]["get"]["responses"];
    for status in ["200", "403", "404", "410", "429"] {
        assert!(
            events.get(status).is_some(),
            "events: {status} undocumented"
        );
    }
}
