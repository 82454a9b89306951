//! The action topics held to the code: each action's input and output schema in the document
//! is the one its Rust types derive, and the request and result records the code builds
//! validate against their messages.

use super::*;
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::outbound::actions::result_record;
use switchboard_api::routes::actions::request_record;
use switchboard_domain::action::{
    ActionId, ActionName, ActionOutcome, ActionRequested, ActionResult,
};
use switchboard_domain::ChannelCatalog;

const REQUESTED: &str = "actions.requested";
const RESULTS: &str = "actions.results";

/// A valid input and a plausible output of each shipped action.
fn sample(action: &str) -> (Value, Value) {
    let range = json!({"spreadsheet_id": "1SheetAbc", "table_range": null, "updated_range": "Sheet1!A1:C1",
        "updated_rows": 1, "updated_columns": 3, "updated_cells": 3});
    match action {
        "append_row" => (json!({"values": ["Ada", 3, true]}), range),
        "update_range" => (
            json!({"range": "Sheet1!A1:C1", "values": [["Ada", 3, true]]}),
            range,
        ),
        "read_range" => (
            json!({"range": "Sheet1!A1:B2", "major_dimension": "rows"}),
            json!({"range": "Sheet1!A1:B2", "major_dimension": "rows", "values": [["a", 1.0]]}),
        ),
        "send_email" => (
            json!({"to": ["ada@example.org"], "subject": "Hi", "text": "Hello",
                   "attachments": [{"url": "https://files.example.com/a.pdf"}]}),
            json!({"message_id": "<x@shop.example>", "recipients": ["ada@example.org"]}),
        ),
        other => panic!("no sample for {other}: add one"),
    }
}

fn without_description(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(object) = schema.as_object_mut() {
        object.remove("description");
    }
    schema
}

fn every_action() -> Vec<(ChannelKind, ActionName, Value, Value)> {
    let registry = ChannelRegistry::builtin();
    registry
        .all()
        .iter()
        .flat_map(|spec| {
            registry.actions(&spec.kind).iter().map(|a| {
                let s = a.spec();
                (
                    spec.kind.clone(),
                    s.name.clone(),
                    s.input_schema.clone(),
                    s.output_schema.clone(),
                )
            })
        })
        .collect()
}

#[test]
fn each_actions_input_and_output_in_the_document_are_the_ones_its_types_derive() {
    let doc = Doc::load();
    let schemas = doc.0["components"]["schemas"].as_object().unwrap();
    let actions = every_action();
    for (kind, name, input, output) in &actions {
        for (part, derived) in [("input", input), ("output", output)] {
            let documented = &schemas[&format!("action.{kind}.{name}.{part}")];
            assert_eq!(
                without_description(documented),
                without_description(derived),
                "{kind}.{name} {part}"
            );
        }
    }
    let documented = schemas
        .keys()
        .filter(|k| k.starts_with("action.") && k.ends_with(".input"));
    assert_eq!(documented.count(), actions.len());
}

#[test]
fn action_requests_and_results_validate_against_their_messages() {
    let doc = Doc::load();
    let registry = ChannelRegistry::builtin();
    let mut requested_types = BTreeSet::new();
    let mut result_types = BTreeSet::new();
    for (kind, name, _, _) in every_action() {
        let (input, output) = sample(name.as_str());
        let action = registry.action(&kind, name.as_str()).unwrap();
        assert!(
            action.check(&input).is_empty(),
            "{kind}.{name}: {:?}",
            action.check(&input)
        );
        let request = ActionRequested {
            action_id: ActionId::new(),
            workspace_id: "acme".parse().unwrap(),
            integration_id: IntegrationId::new(),
            channel: kind.clone(),
            action: name.clone(),
            input,
            idempotency_key: Some("key-1".into()),
            requested_at: at(1_700_000_000),
        };
        let record = request_record(&request, REQUESTED, Some(TRACEPARENT.into()));
        requested_types.insert(record.event.event_type.clone());
        let headers = headers_of(&record);
        assert_valid(
            &format!("{kind}.{name} request"),
            doc.check_record(REQUESTED, Some(&record.key), &headers, &record.body),
        );
        let outcomes = [
            ActionOutcome::ActionCompleted {
                output,
                attempts: 1,
            },
            ActionOutcome::ActionFailed {
                reason: FailureReason::RetryableExhausted,
                detail: "temporary platform failure: HTTP 503".into(),
                attempts: 4,
            },
        ];
        for outcome in outcomes {
            let result = ActionResult::new(&request, outcome, at(1_700_000_060));
            let record = result_record(RESULTS, &result, Some(TRACEPARENT.into()));
            result_types.insert(record.event.event_type.clone());
            let headers = headers_of(&record);
            assert_valid(
                &format!("{kind}.{name} result"),
                doc.check_record(RESULTS, Some(&record.key), &headers, &record.body),
            );
        }
    }
    assert_eq!(doc.ce_types(REQUESTED), requested_types);
    assert_eq!(doc.ce_types(RESULTS), result_types);
}

#[test]
fn an_input_of_the_wrong_shape_does_not_validate() {
    let doc = Doc::load();
    let schema = &doc.0["components"]["schemas"]["ActionRequested"]["properties"]["input"];
    assert!(!doc
        .validate(schema, &json!({"values": "not a list"}))
        .is_empty());
    assert!(doc.validate(schema, &json!({"values": ["ok"]})).is_empty());
}
