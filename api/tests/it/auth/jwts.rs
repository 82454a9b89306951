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
    let actor: String = sqlx::query_scalar(
        "SELECT metadata->>'actor' FROM events WHERE aggregate_type = 'Integration'",
    )
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

/// A P-256 key made for these tests only (PKCS#8 DER, base64), and its public half as a JWK.
const TEST_EC_PRIVATE_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtTJsdkV4jCEylZb57OPbzmSTK8S0uTf3XqD0lR9DnPihRANCAAQeWVrF6Z6Th6vc+91LvkQ+b6El1V1qZ9HD4dvM0CCobCioA9K8DKN0Vu/alRud+a70TmUD3+p1isPPtSbIqzK+";
const TEST_EC_JWKS: &str = r#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "idp-2026", "use": "sig", "alg": "ES256",
    "x": "Hllaxemek4er3PvdS75EPm-hJdVdamfRw-HbzNAgqGw", "y": "KKgD0rwMo3RW79qVG535rvROZQPf6nWKw8-1JsirMr4"}]}"#;

#[tokio::test]
async fn a_jwks_verifies_by_key_id_and_never_accepts_an_hmac_token() {
    use base64::Engine;
    let jwks = std::env::temp_dir().join(format!("sb-jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&jwks, TEST_EC_JWKS).unwrap();
    let kafka = TestKafka::new();
    let app = TestApp::new_with(&kafka, |config| {
        config.jwt_hmac_secret = None;
        config.jwt_jwks = Some(jwks.display().to_string());
        config.jwt_issuer = Some("https://idp.example".into());
        config.jwt_audience = Some("switchboard".into());
    })
    .await;
    let der = base64::engine::general_purpose::STANDARD
        .decode(TEST_EC_PRIVATE_KEY)
        .unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_der(&der);
    let claims = |iss: &str| {
        json!({"sub": "agent-7", "workspace": "acme", "scope": ["read"], "iss": iss,
            "aud": "switchboard", "exp": chrono::Utc::now().timestamp() + 600})
    };
    let es256 = |kid: &str, iss: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.into());
        format!(
            "Bearer {}",
            jsonwebtoken::encode(&header, &claims(iss), &key).unwrap()
        )
    };
    let uri = "/v1/workspaces/acme/integrations";
    let (status, body) = call_with(
        &app,
        &es256("idp-2026", "https://idp.example"),
        "GET",
        uri,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, problem) = call_with(
        &app,
        &es256("idp-2026", "https://evil.example"),
        "GET",
        uri,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["detail"], "the token's issuer is not accepted");
    let (status, problem) = call_with(
        &app,
        &es256("rotated-away", "https://idp.example"),
        "GET",
        uri,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["detail"], "the token's key id is not in the JWKS");
    // The classic confusion: an HMAC token "signed" with the public key's bytes.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("idp-2026".into());
    let secret = jsonwebtoken::EncodingKey::from_secret(TEST_EC_JWKS.as_bytes()).unwrap();
    let forged = jsonwebtoken::encode(&header, &claims("https://idp.example"), &secret).unwrap();
    let (status, problem) = call_with(&app, &format!("Bearer {forged}"), "GET", uri, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem["detail"],
        "the token's algorithm does not match the key"
    );
    std::fs::remove_file(jwks).unwrap();
}
