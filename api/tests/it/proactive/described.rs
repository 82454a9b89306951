//! The served OpenAPI description says what the proactive routes answer: the first-message
//! and template routes with every status they return, and the template and tag fields of a
//! send in the Cloud API's shape.

use crate::helpers::{TestApp, TestKafka};
use axum::http::StatusCode;
use serde_json::Value;

fn statuses(doc: &Value, path: &str, method: &str) -> Vec<String> {
    let responses = doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not described"));
    responses.keys().cloned().collect()
}

#[tokio::test]
async fn the_description_declares_the_proactive_routes_and_fields() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (status, doc) = app.call("GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let start = statuses(
        &doc,
        "/v1/workspaces/{ws}/integrations/{id}/messages",
        "post",
    );
    for code in [
        "202", "400", "401", "403", "404", "409", "410", "422", "429", "503",
    ] {
        assert!(
            start.contains(&code.to_owned()),
            "first message: {code} in {start:?}"
        );
    }
    let list = statuses(
        &doc,
        "/v1/workspaces/{ws}/integrations/{id}/templates",
        "get",
    );
    let refresh = statuses(
        &doc,
        "/v1/workspaces/{ws}/integrations/{id}/templates/refresh",
        "post",
    );
    for code in ["200", "404", "410", "422", "503"] {
        assert!(list.contains(&code.to_owned()), "list: {code} in {list:?}");
        assert!(
            refresh.contains(&code.to_owned()),
            "refresh: {code} in {refresh:?}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    let send = &schemas["SendRequest"]["properties"];
    assert!(
        send["template"].is_object() && send["tag"].is_object(),
        "{send}"
    );
    let template = &schemas["TemplateSchema"]["properties"];
    for field in ["name", "language", "components"] {
        assert!(template[field].is_object(), "template.{field}: {template}");
    }
    let request = &schemas["StartConversationRequest"];
    assert_eq!(request["required"], serde_json::json!(["recipient"]));
}
