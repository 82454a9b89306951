//! What the action route refuses, and how: unknown actions, bad input (one problem per
//! field), integrations that are not connected or not the caller's, a broker that does not
//! acknowledge; and what an idempotency key guarantees.

use super::Actions;
use crate::helpers::{bearer, json_request, TestKafka};
use axum::http::StatusCode;
use serde_json::{json, Value};

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn bad_input_is_422_naming_each_field_and_nothing_is_produced() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;

    let (status, problem) = actions
        .request(
            "acme",
            &sheet,
            "update_range",
            json!({"range": "A1:", "values": [["ok", {"nested": "no"}]], "colour": "red"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/validation");
    assert_eq!(fields(&problem), ["colour", "values[0][1]"]);
    assert!(!problem.to_string().contains("red"), "{problem}");

    let (status, problem) = actions
        .request(
            "acme",
            &sheet,
            "update_range",
            json!({"range": "A1:", "values": [["x"]]}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["range"]);

    let (status, problem) = actions
        .request("acme", &sheet, "append_row", json!([1, 2]), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/validation");
    assert!(
        problem["detail"].as_str().unwrap().contains("JSON object"),
        "{problem}"
    );
    assert_eq!(
        crate::helpers::topic_len(
            &actions.app.config.kafka_brokers,
            &format!("{}actions.requested", actions.app.config.topic_prefix)
        ),
        0
    );
    actions.stop().await;
}

#[tokio::test]
async fn an_unknown_action_a_foreign_integration_and_a_foreign_action_are_404() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;

    let (status, problem) = actions
        .request("acme", &sheet, "delete_sheet", json!({}), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["type"], "/problems/not-found");
    let (status, _) = actions
        .request("globex", &sheet, "append_row", json!({"values": [1]}), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let id = actions
        .accepted("acme", &sheet, "append_row", json!({"values": [1]}))
        .await;
    actions.finished("acme", &id).await;
    let (status, _) = actions
        .app
        .call("GET", &format!("/v1/workspaces/globex/actions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = actions
        .app
        .call("GET", "/v1/workspaces/acme/actions/not-a-uuid", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    actions.stop().await;
}

#[tokio::test]
async fn a_disconnected_integration_and_a_read_only_key_are_refused() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;

    let uri = format!("/v1/workspaces/acme/integrations/{sheet}/actions/append_row");
    let mut request = json_request("POST", &uri, Some(json!({"values": [1]})));
    let reader = format!("Bearer {}", crate::helpers::jwt("acme", "read", 300));
    request
        .headers_mut()
        .insert("authorization", reader.parse().unwrap());
    let (status, _, problem) = actions.app.send(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["type"], "/problems/insufficient-scope");
    assert!(bearer("acme").starts_with("Bearer "));

    let (status, _) = actions
        .app
        .call(
            "POST",
            &format!("/v1/workspaces/acme/integrations/{sheet}/disconnect"),
            Some(json!({"reason": "test"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = actions
        .request("acme", &sheet, "append_row", json!({"values": [1]}), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/integration-not-connected");
    actions.stop().await;
}

#[tokio::test]
async fn the_same_idempotency_key_names_one_action_that_runs_once() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;
    let input = json!({"values": ["once"]});

    let (first, second) = tokio::join!(
        actions.request("acme", &sheet, "append_row", input.clone(), Some("row-1")),
        actions.request("acme", &sheet, "append_row", input.clone(), Some("row-1")),
    );
    assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.1);
    assert_eq!(second.0, StatusCode::ACCEPTED, "{}", second.1);
    assert_eq!(first.1["action_id"], second.1["action_id"]);
    let id = first.1["action_id"].as_str().unwrap().to_owned();
    actions.finished("acme", &id).await;
    let (again, body) = actions
        .request("acme", &sheet, "append_row", input, Some("row-1"))
        .await;
    assert_eq!(again, StatusCode::ACCEPTED);
    assert_eq!(body["action_id"], id.as_str());

    let (reused, problem) = actions
        .request(
            "acme",
            &sheet,
            "append_row",
            json!({"values": ["other"]}),
            Some("row-1"),
        )
        .await;
    assert_eq!(reused, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "/problems/idempotency-key-reused");

    assert_eq!(
        crate::helpers::topic_len(
            &actions.app.config.kafka_brokers,
            &format!("{}actions.requested", actions.app.config.topic_prefix)
        ),
        1
    );
    assert_eq!(actions.sheets.rows().len(), 1);
    actions.stop().await;
}

#[tokio::test]
async fn a_broker_that_does_not_acknowledge_gets_503_with_retry_after() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;
    kafka.cluster.broker_down(1).unwrap();

    let uri = format!("/v1/workspaces/acme/integrations/{sheet}/actions/append_row");
    let mut request = json_request("POST", &uri, Some(json!({"values": [1]})));
    request
        .headers_mut()
        .insert("authorization", bearer("acme").parse().unwrap());
    let response = tower::ServiceExt::oneshot(actions.app.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    kafka.cluster.broker_up(1).unwrap();
    actions.stop().await;
}

#[tokio::test]
async fn the_channel_list_declares_each_action_with_its_schemas() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let (status, body) = actions.app.call("GET", "/v1/channels", None).await;
    assert_eq!(status, StatusCode::OK);
    let channel = |kind: &str| {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind)
            .unwrap()
            .clone()
    };
    let names = |kind: &str| -> Vec<String> {
        channel(kind)["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names("google-sheets"),
        ["append_row", "read_range", "update_range"]
    );
    assert_eq!(names("smtp"), ["send_email"]);
    assert_eq!(names("email"), ["send_email"]);
    assert!(names("telegram").is_empty());
    let append = &channel("google-sheets")["actions"][0];
    assert_eq!(append["input_schema"]["required"], json!(["values"]));
    assert_eq!(append["output_schema"]["type"], "object");
    actions.stop().await;
}
