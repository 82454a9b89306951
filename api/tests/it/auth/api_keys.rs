//! Workspace API keys: made by the operator (route and CLI), shown once, stored hashed, scoped,
//! revocable, expiring; their ids are the actors of the lifecycle events they cause.

use super::{call_with, create_key, with_auth};
use crate::helpers::{json_request, TestApp, TestKafka, TEST_OPERATOR_TOKEN};
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_key_acts_in_its_workspace_within_its_scopes() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (_, reader) = create_key(&app, "acme", &["read"]).await;
    let reader = format!("Bearer {reader}");
    let uri = "/v1/workspaces/acme/integrations";
    let (status, body) = call_with(&app, &reader, "GET", uri, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let create = json!({"channel": "telegram", "name": "Support", "auth": {"bot_token": "1:a"}});
    let (status, problem) = call_with(&app, &reader, "POST", uri, Some(create.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["type"], "/problems/insufficient-scope");
    assert!(
        problem["detail"].as_str().unwrap().contains("admin"),
        "{problem}"
    );
    let (status, _) = call_with(
        &app,
        &reader,
        "GET",
        "/v1/workspaces/other/integrations",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (admin_id, admin) = create_key(&app, "acme", &["admin", "read"]).await;
    let (status, created) =
        call_with(&app, &format!("Bearer {admin}"), "POST", uri, Some(create)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let actors: Vec<String> =
        sqlx::query_scalar(
            "SELECT metadata->>'actor' FROM events WHERE aggregate_type = 'Integration' ORDER BY sequence",
        )
            .fetch_all(&app.pool())
            .await
            .unwrap();
    assert_eq!(actors, [format!("key:{admin_id}")]);
}

#[tokio::test]
async fn a_revoked_or_expired_key_is_refused_and_secrets_are_never_stored_or_listed() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (id, token) = create_key(&app, "acme", &["read"]).await;
    let bearer = format!("Bearer {token}");
    let uri = "/v1/workspaces/acme/integrations";
    assert_eq!(
        call_with(&app, &bearer, "GET", uri, None).await.0,
        StatusCode::OK
    );

    let secret = &token[token.len() - 64..];
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys WHERE position($1::bytea in secret_sha256) > 0
            OR name LIKE '%' || $2 || '%'",
    )
    .bind(secret.as_bytes())
    .bind(secret)
    .fetch_one(&app.pool())
    .await
    .unwrap();
    assert_eq!(stored, 0, "the secret is stored only as a hash");
    let operator = format!("Bearer {TEST_OPERATOR_TOKEN}");
    let (status, listed) = call_with(&app, &operator, "GET", "/v1/keys?workspace=acme", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains(secret), "{listed}");

    // A wrong secret for a real id is refused like garbage.
    let forged = format!("Bearer {}{}", &token[..token.len() - 64], "0".repeat(64));
    let (status, problem) = call_with(&app, &forged, "GET", uri, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["detail"], "the API key is not valid");

    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 second'")
        .execute(&app.pool())
        .await
        .unwrap();
    let (status, problem) = call_with(&app, &bearer, "GET", uri, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["detail"], "the API key has expired");

    sqlx::query("UPDATE api_keys SET expires_at = NULL")
        .execute(&app.pool())
        .await
        .unwrap();
    let (status, revoked) =
        call_with(&app, &operator, "DELETE", &format!("/v1/keys/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (status, problem) = call_with(&app, &bearer, "GET", uri, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["detail"], "the API key was revoked");
    let missing = format!("/v1/keys/{}", uuid::Uuid::new_v4());
    assert_eq!(
        call_with(&app, &operator, "DELETE", &missing, None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn operator_routes_refuse_workspace_credentials_and_strangers() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (_, admin) = create_key(&app, "acme", &["read", "write", "admin"]).await;
    let key_body = || Some(json!({"workspace": "acme", "scopes": ["admin"]}));
    for (method, uri) in [
        ("POST", "/v1/keys"),
        ("GET", "/v1/keys"),
        ("GET", "/metrics"),
    ] {
        let (status, _) =
            call_with(&app, &format!("Bearer {admin}"), method, uri, key_body()).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{method} {uri} with a workspace key"
        );
        let (status, _) = call_with(
            &app,
            &crate::helpers::bearer("acme"),
            method,
            uri,
            key_body(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{method} {uri} with a workspace JWT"
        );
        let (status, _, _) = app.send_as_is(json_request(method, uri, key_body())).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} without a credential"
        );
        let (status, _) = call_with(&app, "Bearer guess", method, uri, key_body()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} with a guess"
        );
    }
    let operator = format!("Bearer {TEST_OPERATOR_TOKEN}");
    for (body, field) in [
        (json!({"workspace": "acme", "scopes": []}), "no scope"),
        (
            json!({"workspace": "acme", "scopes": ["root"]}),
            "unknown scope",
        ),
        (
            json!({"workspace": "no spaces", "scopes": ["read"]}),
            "bad workspace",
        ),
        (
            json!({"workspace": "acme", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}),
            "past expiry",
        ),
    ] {
        let (status, _, problem) = app
            .send(with_auth(
                json_request("POST", "/v1/keys", Some(body)),
                &operator,
            ))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
    }
}

#[tokio::test]
async fn a_credential_over_its_rate_gets_429_with_retry_after() {
    let kafka = TestKafka::new();
    let app = TestApp::new_with(&kafka, |config| {
        config.rate_limit_per_second = 1;
        config.rate_limit_burst = 3;
    })
    .await;
    let (_, token) = create_key(&app, "acme", &["read"]).await;
    let request = || {
        with_auth(
            json_request("GET", "/v1/workspaces/acme/integrations", None),
            &format!("Bearer {token}"),
        )
    };
    for _ in 0..3 {
        assert_eq!(app.send(request()).await.0, StatusCode::OK);
    }
    let response = tower::ServiceExt::oneshot(app.router.clone(), request())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let (_, other) = create_key(&app, "acme", &["read"]).await;
    let request = with_auth(
        json_request("GET", "/v1/workspaces/acme/integrations", None),
        &format!("Bearer {other}"),
    );
    assert_eq!(
        app.send(request).await.0,
        StatusCode::OK,
        "each key has its own bucket"
    );
}

#[tokio::test]
async fn the_cli_makes_lists_and_revokes_keys() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let env = [("DATABASE_URL", app.config.database_url.clone())];
    let run = |args: &[&str]| {
        let output = crate::processes::switchboard(&env)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let created: serde_json::Value = serde_json::from_str(&run(&[
        "keys",
        "create",
        "--workspace",
        "acme",
        "--scope",
        "read,write",
        "--expires-in-days",
        "30",
    ]))
    .unwrap();
    assert_eq!(created["scopes"], json!(["read", "write"]));
    assert!(created["expires_at"].is_string());
    let token = created["token"].as_str().unwrap();
    let bearer = format!("Bearer {token}");
    let uri = "/v1/workspaces/acme/integrations";
    assert_eq!(
        call_with(&app, &bearer, "GET", uri, None).await.0,
        StatusCode::OK
    );
    let listed = run(&["keys", "list", "--workspace", "acme"]);
    assert_eq!(listed.lines().count(), 1);
    assert!(!listed.contains(&token[4..]), "{listed}");
    run(&["keys", "revoke", created["id"].as_str().unwrap()]);
    assert_eq!(
        call_with(&app, &bearer, "GET", uri, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}
