//! The checks every registered action passes: a closed object schema for its input and one for
//! its output, refusal of junk with problems named by field, and a unique name per channel.

use crate::channels::ChannelRegistry;
use serde_json::{json, Value};
use std::collections::HashSet;
use switchboard_domain::ChannelCatalog;

fn every_action() -> Vec<(
    String,
    std::sync::Arc<dyn crate::channels::action::ChannelAction>,
)> {
    let registry = ChannelRegistry::builtin();
    registry
        .all()
        .iter()
        .flat_map(|spec| {
            registry
                .actions(&spec.kind)
                .iter()
                .map(|a| (spec.kind.to_string(), a.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_shipped_actions_are_declared_where_their_channels_are() {
    let names: Vec<String> = every_action()
        .iter()
        .map(|(kind, a)| format!("{kind}.{}", a.spec().name))
        .collect();
    assert_eq!(
        names,
        [
            "email.send_email",
            "smtp.send_email",
            "google-sheets.append_row",
            "google-sheets.read_range",
            "google-sheets.update_range",
        ]
    );
    let unique: HashSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
}

#[test]
fn every_action_declares_object_schemas_without_references() {
    for (kind, action) in every_action() {
        let spec = action.spec();
        for schema in [&spec.input_schema, &spec.output_schema] {
            assert_eq!(schema["type"], "object", "{kind}.{}: {schema}", spec.name);
            assert!(
                !schema.to_string().contains("$ref"),
                "{kind}.{}: {schema}",
                spec.name
            );
        }
        assert!(!spec.description.is_empty());
    }
}

#[test]
fn every_action_refuses_junk_naming_the_fields() {
    for (kind, action) in every_action() {
        let name = &action.spec().name;
        for junk in [json!(null), json!([]), json!("text")] {
            let found = action.check(&junk);
            assert_eq!(found.len(), 1, "{kind}.{name}: {found:?}");
            assert_eq!(found[0].field, "input");
        }
        let found = action.check(&json!({"no_such_field": 1}));
        let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
        assert!(
            fields.contains(&"no_such_field"),
            "{kind}.{name}: {fields:?}"
        );
        let required = action.spec().input_schema["required"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for field in required.iter().filter_map(Value::as_str) {
            assert!(
                fields.contains(&field),
                "{kind}.{name}: {field} in {fields:?}"
            );
        }
        assert!(!found.iter().any(|p| p.problem.contains("1")), "{found:?}");
    }
}

#[test]
fn well_formed_inputs_pass_and_rules_beyond_the_schema_are_named() {
    let registry = ChannelRegistry::builtin();
    let sheets = switchboard_domain::ChannelKind::parse("google-sheets").unwrap();
    let smtp = switchboard_domain::ChannelKind::parse("smtp").unwrap();
    let append = registry.action(&sheets, "append_row").unwrap();
    assert!(append.check(&json!({"values": ["a", 1, true]})).is_empty());
    let found = append.check(&json!({"values": [{"x": 1}], "range": "no such!!"}));
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["values[0]"]);
    let found = append.check(&json!({"values": ["a"], "range": "A1:"}));
    assert_eq!(found[0].field, "range");
    let email = registry.action(&smtp, "send_email").unwrap();
    let ok = json!({"to": ["a@example.org"], "subject": "Hi", "text": "Hello"});
    assert!(email.check(&ok).is_empty(), "{:?}", email.check(&ok));
    let found = email.check(
        &json!({"to": ["not an address"], "cc": ["b@example.org", "nope"], "subject": "Hi",
        "attachments": [{"url": "ftp://x"}]}),
    );
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["to[0]", "cc[1]", "text", "attachments[0].url"]);
}
