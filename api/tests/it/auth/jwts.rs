//! JWTs of the identity provider: the workspace and scopes from their claims, refused when
//! expired, forged or lacking a scope; the subject is the actor.

use super::call_with;
use crate::helpers::{jwt, TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn jwts_are_checked_for_signature_expiry_workspace_and_scope() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let uri = "/v1/workspaces/acme/integrations";
    let bearer = |token: String| format!("Bearer {token}");
    let (status, _) = call_with(&app, &bearer(jwt("acme", "read", 600)), "GET", uri, None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, problem) =
        call_with(&app, &bearer(jwt("acme", "read", -3600)), "GET", uri, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["detail"], "the token has expired");

    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "eve", "workspace": "acme", "scope": "read admin", "exp": chrono::Utc::now().timestamp() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"another secret").unwrap(),
    )
    .unwrap();
    let (status, problem) = call_with(&app, &bearer(forged), "GET", uri, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["detail"], "the token's signature is invalid");

    let create = json!({"channel": "telegram", "name": "Support", "auth": {"bot_token": "1:a"}});
    let reader = bearer(jwt("acme", "read write", 600));
    let (status, _) = call_with(&app, &reader, "POST", uri, Some(create.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "write is not admin");
    let (status, _) = call_with(
        &app,
        &bearer(jwt("globex", "read admin", 600)),
        "POST",
        uri,
        Some(create.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let admin = bearer(jwt("acme", "openid admin", 600));
    let (status, created) = call_with(&app, &admin, "POST", uri, Some(create)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let actor: String = sqlx::query_scalar("SELECT metadata->>'actor' FROM events")
        .fetch_one(&app.pool())
        .await
        .unwrap();
    assert_eq!(actor, "jwt:user-of-acme");
}

#[tokio::test]
async fn a_jwt_without_a_workspace_claim_is_refused() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "u", "scope": "read", "exp": chrono::Utc::now().timestamp() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::TEST_JWT_SECRET.as_bytes())
            .unwrap(),
    )
    .unwrap();
    let (status, problem) = call_with(
        &app,
        &format!("Bearer {token}"),
        "GET",
        "/v1/workspaces/acme/integrations",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        problem["detail"].as_str().unwrap().contains("workspace"),
        "{problem}"
    );
}
