//! Validation against the document's schemas with the `jsonschema` crate, JSON Schema draft 7
//! as AsyncAPI 3.0 embeds it.
//!
//! The whole document is one resource of a registry, so a `$ref` to `#/components/...` resolves
//! as it does in the document. Formats are asserted, and a format the crate does not know fails
//! the build of a validator instead of passing unchecked; the document's own formats are the
//! ones below. `every_schema_uses_only_keywords_the_validator_checks` holds the document to the
//! draft 7 keywords, so a misspelt or foreign keyword cannot pass as an annotation.

use super::*;
use jsonschema::{Draft, Registry};
use std::sync::LazyLock;

/// The URI the document is registered under; its local references resolve against it.
const DOCUMENT_URI: &str = "urn:switchboard:asyncapi";

/// Keywords that only annotate; they constrain nothing. `discriminator` is AsyncAPI's.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "examples",
    "discriminator",
    "default",
];

/// Draft 7's validation keywords.
const DRAFT7_KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "const",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "dependencies",
    "items",
    "additionalItems",
    "contains",
    "minItems",
    "maxItems",
    "uniqueItems",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];

static REGISTRY: LazyLock<Registry<'static>> = LazyLock::new(|| {
    let document: Value = serde_json::from_str(DOCUMENT).expect("api/asyncapi.json is JSON");
    Registry::new()
        .draft(Draft::Draft7)
        .add(DOCUMENT_URI, Draft::Draft7.create_resource(document))
        .and_then(|registry| registry.prepare())
        .expect("the document is a resource of the registry")
});

/// A lowercase hyphenated UUID, as the code writes them (draft 7 has no `uuid` format).
fn is_uuid(text: &str) -> bool {
    Uuid::try_parse(text).is_ok_and(|u| u.to_string() == text)
}

/// Every problem `value` has against `schema`, a schema of the document, each as
/// `<instance path>: <what is wrong>`.
pub(super) fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let validator = jsonschema::draft7::options()
        .with_registry(&REGISTRY)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .with_format("uuid", is_uuid)
        // A number's width (the action schemas derived from Rust types); `format` constrains
        // strings only.
        .with_format("double", |_: &str| true)
        .with_format("int64", |_: &str| true)
        .build(&anchored(schema))
        .unwrap_or_else(|error| panic!("{schema} is not a schema the validator accepts: {error}"));
    validator
        .iter_errors(value)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

/// `schema` with its local references made absolute, into the registered document.
fn anchored(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, child)| match (key.as_str(), child) {
                    ("$ref", Value::String(reference)) if reference.starts_with('#') => (
                        key.clone(),
                        Value::from(format!("{DOCUMENT_URI}{reference}")),
                    ),
                    _ => (key.clone(), anchored(child)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(anchored).collect()),
        other => other.clone(),
    }
}

/// Walks the schema `schema` at `at`, calling `visit` on it and every schema inside it.
fn walk_schema(schema: &Value, at: &str, visit: &mut dyn FnMut(&Map<String, Value>, &str)) {
    let Value::Object(map) = schema else { return };
    visit(map, at);
    for (keyword, argument) in map {
        let at = format!("{at}/{keyword}");
        match keyword.as_str() {
            "properties" | "patternProperties" | "dependencies" => {
                for (name, child) in argument.as_object().into_iter().flatten() {
                    walk_schema(child, &format!("{at}/{name}"), visit);
                }
            }
            "oneOf" | "anyOf" | "allOf" => {
                for (n, child) in argument.as_array().into_iter().flatten().enumerate() {
                    walk_schema(child, &format!("{at}/{n}"), visit);
                }
            }
            "items"
            | "additionalItems"
            | "additionalProperties"
            | "contains"
            | "not"
            | "if"
            | "then"
            | "else"
            | "propertyNames" => walk_schema(argument, &at, visit),
            _ => {}
        }
    }
}

/// Every schema of the document, with where it is: the components' schemas and the headers,
/// payload and key of every message.
fn document_schemas(doc: &Doc) -> Vec<(String, &Value)> {
    let mut schemas: Vec<(String, &Value)> = doc.0["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, schema)| (format!("#/components/schemas/{name}"), schema))
        .collect();
    for (name, message) in doc.0["components"]["messages"].as_object().unwrap() {
        let at = format!("#/components/messages/{name}");
        schemas.push((format!("{at}/headers"), &message["headers"]));
        schemas.push((format!("{at}/payload"), &message["payload"]));
        schemas.push((
            format!("{at}/bindings/kafka/key"),
            &message["bindings"]["kafka"]["key"],
        ));
    }
    schemas
}

#[test]
fn every_schema_uses_only_keywords_the_validator_checks() {
    let doc = Doc::load();
    for (at, schema) in document_schemas(&doc) {
        assert!(
            jsonschema::draft7::meta::is_valid(schema),
            "{at} is not a draft 7 schema"
        );
        walk_schema(schema, &at, &mut |map, at| {
            for keyword in map.keys() {
                assert!(
                    DRAFT7_KEYWORDS.contains(&keyword.as_str())
                        || ANNOTATIONS.contains(&keyword.as_str()),
                    "{at}: {keyword} is no draft 7 keyword; it would pass unchecked"
                );
            }
        });
        validate(schema, &Value::Null);
    }
}

#[test]
fn the_document_s_patterns_accept_and_refuse_what_they_mean() {
    let matches = |pattern: &str, text: &str| {
        validate(&json!({"type": "string", "pattern": pattern}), &json!(text)).is_empty()
    };
    let uuid = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
    assert!(matches(uuid, "7d1c2b9e-4f3a-4c21-9a0e-2f5b8c6d1e30"));
    assert!(!matches(uuid, "7D1C2B9E-4f3a-4c21-9a0e-2f5b8c6d1e30"));
    assert!(!matches(uuid, "7d1c2b9e-4f3a-4c21-9a0e-2f5b8c6d1e30x"));
    assert!(matches("^[A-Za-z0-9_-]{1,64}$", "acme-prod_1"));
    assert!(!matches("^[A-Za-z0-9_-]{1,64}$", ""));
    assert!(!matches("^[A-Za-z0-9_-]{1,64}$", &"x".repeat(65)));
    assert!(matches("Z$", "2026-03-02T09:15:27Z"));
    assert!(!matches("Z$", "2026-03-02T09:15:27+00:00"));
    assert!(matches("^[1-9][0-9]*$", "10"));
    assert!(!matches("^[1-9][0-9]*$", "0"));
    assert!(matches("\\S", "  x "));
    assert!(!matches("\\S", " \t\n"));
    let sealed = "^sb1:[^:]+:[A-Za-z0-9+/]+={0,2}$";
    assert!(matches(sealed, "sb1:k1:AbC+/d=="));
    assert!(!matches(sealed, "sb1:k1:AbC==="));
    assert!(!matches(sealed, "sb1::AbC"));
    assert!(!matches(sealed, "hunter2"));
    let time = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$";
    assert!(matches(time, "2026-03-02T09:15:27.412305Z"));
    assert!(!matches(time, "2026-03-02T09:15:27.412Z"));
    assert!(!matches(time, "2026-03-02T09:15:27x412305Z"));
}

#[test]
fn formats_are_asserted_and_an_unknown_one_is_refused() {
    let uuid = json!({"type": "string", "format": "uuid"});
    assert!(validate(&uuid, &json!("7d1c2b9e-4f3a-4c21-9a0e-2f5b8c6d1e30")).is_empty());
    assert!(!validate(&uuid, &json!("7D1C2B9E-4F3A-4C21-9A0E-2F5B8C6D1E30")).is_empty());
    assert!(!validate(&uuid, &json!("7d1c2b9e4f3a4c219a0e2f5b8c6d1e30")).is_empty());
    let time = json!({"type": "string", "format": "date-time"});
    assert!(validate(&time, &json!("2026-03-02T09:15:27.412305Z")).is_empty());
    assert!(!validate(&time, &json!("yesterday")).is_empty());
    let unknown = std::panic::catch_unwind(|| {
        validate(
            &json!({"type": "string", "format": "colour"}),
            &json!("red"),
        )
    });
    assert!(unknown.is_err(), "an unknown format passed unchecked");
}
