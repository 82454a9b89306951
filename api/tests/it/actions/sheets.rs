//! Google Sheets actions through the whole path, and the engine's machinery applied to them:
//! retries, permanent failures, credential refresh, dead letters and redrive.

use super::fake_sheets::{google_error, FRESH_TOKEN};
use super::{Actions, TRACEPARENT};
use crate::helpers::TestKafka;
use axum::http::StatusCode;
use serde_json::json;
use switchboard_adapters::outbound::redrive::DeadLetters;

#[tokio::test]
async fn an_appended_row_lands_in_the_sheet_and_its_range_is_the_result() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;
    // The integration's settings give the range when the call does not.
    let (status, body) = actions
        .app
        .call(
            "PATCH",
            &format!("/v1/workspaces/acme/integrations/{sheet}"),
            Some(json!({"settings": {"range": "Leads!A:C"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let id = actions
        .accepted(
            "acme",
            &sheet,
            "append_row",
            json!({"values": ["Ada", 42, "=1+1"]}),
        )
        .await;
    let done = actions.finished("acme", &id).await;

    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["action"], "append_row");
    assert_eq!(done["output"]["updated_range"], "Leads!A1:C1");
    assert_eq!(done["output"]["updated_cells"], 3);
    assert_eq!(done["attempts"], 1);
    let calls = actions.sheets.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].path,
        "/v4/spreadsheets/1SheetAbc/values/Leads!A:C:append?valueInputOption=RAW&insertDataOption=INSERT_ROWS"
    );
    assert_eq!(
        calls[0].body,
        json!({"majorDimension": "ROWS", "values": [["Ada", 42.0, "=1+1"]]})
    );
    assert_eq!(
        actions.sheets.rows(),
        vec![vec![json!("Ada"), json!(42.0), json!("=1+1")]]
    );

    let results = actions.records("actions.results", 1).await;
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result.key.as_deref(), Some(sheet.as_str()));
    assert_eq!(
        result.header("ce_type").as_deref(),
        Some("switchboard.action.ActionCompleted.v1")
    );
    assert_eq!(result.header("ce_subject").as_deref(), Some(id.as_str()));
    let trace = result.header("traceparent").unwrap();
    assert!(
        trace.contains("4bf92f3577b34da6a3ce929d0e0e4736"),
        "{trace}"
    );
    let requested = actions.records("actions.requested", 1).await;
    assert_eq!(requested[0].key.as_deref(), Some(sheet.as_str()));
    assert_eq!(
        requested[0].header("ce_type").as_deref(),
        Some("switchboard.action.ActionRequested.v1")
    );
    actions.stop().await;
}

#[tokio::test]
async fn a_range_written_by_update_range_is_what_read_range_answers() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;

    let update = actions
        .accepted(
            "acme",
            &sheet,
            "update_range",
            json!({"range": "Sheet1!A1:B2", "values": [["name", "score"], ["Ada", 9]],
                   "value_input_option": "user_entered"}),
        )
        .await;
    let updated = actions.finished("acme", &update).await;
    assert_eq!(updated["status"], "completed", "{updated}");
    assert_eq!(updated["output"]["updated_range"], "Sheet1!A1:B2");
    assert_eq!(updated["output"]["updated_rows"], 2);
    let put = &actions.sheets.calls()[0];
    assert_eq!(put.method, "PUT");
    assert_eq!(
        put.path,
        "/v4/spreadsheets/1SheetAbc/values/Sheet1!A1:B2?valueInputOption=USER_ENTERED"
    );

    let read = actions
        .accepted(
            "acme",
            &sheet,
            "read_range",
            json!({"range": "Sheet1!A1:B2"}),
        )
        .await;
    let values = actions.finished("acme", &read).await;
    assert_eq!(values["status"], "completed", "{values}");
    assert_eq!(
        values["output"]["values"],
        json!([["name", "score"], ["Ada", 9.0]])
    );
    assert_eq!(values["output"]["major_dimension"], "rows");
    let get = &actions.sheets.calls()[1];
    assert_eq!(get.method, "GET");
    assert_eq!(
        get.path,
        "/v4/spreadsheets/1SheetAbc/values/Sheet1!A1:B2?majorDimension=ROWS"
    );
    actions.stop().await;
}

#[tokio::test]
async fn a_temporary_failure_is_retried_until_the_action_completes() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;
    actions.sheets.fail_next(vec![
        google_error(503, "UNAVAILABLE", "The service is currently unavailable."),
        google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded."),
    ]);

    let id = actions
        .accepted("acme", &sheet, "append_row", json!({"values": ["retry"]}))
        .await;
    let done = actions.finished("acme", &id).await;

    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempts"], 3);
    assert_eq!(actions.sheets.rows().len(), 1);
    actions.stop().await;
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_action_at_once_without_a_dead_letter() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;
    actions.sheets.fail_next(vec![google_error(
        400,
        "INVALID_ARGUMENT",
        "Unable to parse range: Nowhere!A1",
    )]);

    let id = actions
        .accepted("acme", &sheet, "read_range", json!({"range": "Nowhere!A1"}))
        .await;
    let failed = actions.finished("acme", &id).await;

    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["reason"], "permanent");
    assert_eq!(failed["attempts"], 1);
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("Unable to parse range"),
        "{failed}"
    );
    assert!(!failed.to_string().contains("ya29"), "{failed}");
    let results = actions.records("actions.results", 1).await;
    assert_eq!(
        results[0].header("ce_type").as_deref(),
        Some("switchboard.action.ActionFailed.v1")
    );
    assert_eq!(
        crate::helpers::topic_len(
            &actions.app.config.kafka_brokers,
            &format!("{}actions.requested.dlq", actions.app.config.topic_prefix)
        ),
        0
    );
    actions.stop().await;
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_action_runs_with_the_new_one() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;
    actions.sheets.expire_tokens();

    let id = actions
        .accepted(
            "acme",
            &sheet,
            "append_row",
            json!({"values": ["after refresh"]}),
        )
        .await;
    let done = actions.finished("acme", &id).await;

    assert_eq!(done["status"], "completed", "{done}");
    // The refused call never reached the sheet; the one after the refresh did.
    let calls = actions.sheets.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].authorization, format!("Bearer {FRESH_TOKEN}"));
    assert_eq!(done["attempts"], 2);
    actions.stop().await;
}

#[tokio::test]
async fn exhausted_retries_dead_letter_the_request_and_a_redrive_completes_it() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;
    // The test engine retries three times: four failing calls exhaust it.
    let unavailable = google_error(503, "UNAVAILABLE", "Backend Error");
    actions.sheets.fail_next(vec![unavailable; 4]);

    let id = actions
        .accepted(
            "acme",
            &sheet,
            "append_row",
            json!({"values": ["eventually"]}),
        )
        .await;
    let failed = actions.finished("acme", &id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["reason"], "retryable_exhausted");
    assert_eq!(failed["attempts"], 4);

    let dead = actions.records("actions.requested.dlq", 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key.as_deref(), Some(sheet.as_str()));
    assert!(dead[0]
        .header("dlq_error")
        .unwrap()
        .contains("Backend Error"));
    let trace_id = TRACEPARENT.split('-').nth(1).unwrap();
    assert!(dead[0].header("traceparent").unwrap().contains(trace_id));

    let config = &actions.app.config;
    let redriven = DeadLetters::of_actions(config.kafka(), &config.topics())
        .redrive(&actions.app.app.as_ref().unwrap().state.producer)
        .await
        .unwrap();
    assert_eq!(redriven, 1);
    let uri = format!("/v1/workspaces/acme/actions/{id}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, body) = actions.app.call("GET", &uri, None).await;
        if body["status"] == "completed" {
            assert_eq!(body["output"]["updated_rows"], 1);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never completed: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(actions.sheets.rows().len(), 1);
    actions.stop().await;
}

#[tokio::test]
async fn a_request_delivered_again_after_it_completed_is_answered_without_a_second_call() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let sheet = actions.sheet("acme").await;
    let id = actions
        .accepted("acme", &sheet, "append_row", json!({"values": ["once"]}))
        .await;
    actions.finished("acme", &id).await;

    // The same record again, as after a crash between the result and the offset commit.
    let requested = actions.records("actions.requested", 1).await;
    let again = switchboard_adapters::kafka::RawRecord {
        topic: requested[0].topic.clone(),
        key: requested[0].key.clone().map(String::into_bytes),
        payload: requested[0].payload.clone(),
        headers: requested[0]
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone().into_bytes())))
            .collect(),
    };
    let producer = &actions.app.app.as_ref().unwrap().state.producer;
    producer.publish_raw(&again).await.unwrap();

    let results = actions.records("actions.results", 2).await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].header("ce_id"), results[1].header("ce_id"));
    let output = |n: usize| {
        serde_json::from_slice::<serde_json::Value>(&results[n].payload).unwrap()["output"].clone()
    };
    assert_eq!(output(0), output(1));
    assert_eq!(actions.sheets.calls().len(), 1);
    assert_eq!(actions.sheets.rows().len(), 1);
    actions.stop().await;
}
