//! Checking an action's input against the JSON Schema derived from its Rust type, so that a
//! caller's mistake is answered with one problem per field (`values[2][0]`, `to[1]`,
//! `attachments[0].url`) instead of a deserialiser's first complaint. Submitted values are
//! never quoted back.
//!
//! Understands the subset the derive emits: `type` (one or a list), `properties`, `required`,
//! `additionalProperties`, `items`, `minItems`/`maxItems`, `minLength`/`maxLength`,
//! `minimum`/`maximum`, `enum`, `oneOf`/`anyOf`/`allOf`; `$ref`s are inlined first
//! ([`inline_refs`]). Objects are closed unless they allow more.

use serde_json::{Map, Value};
use switchboard_domain::FieldProblem;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

/// Levels of nesting an input may have.
pub const MAX_INPUT_DEPTH: usize = 8;

/// The JSON Schema of `T`, with every `$ref` to a schema it depends on inlined.
pub fn schema_of<T: utoipa::ToSchema>() -> Value {
    let mut dependencies: Vec<(String, RefOr<Schema>)> = Vec::new();
    T::schemas(&mut dependencies);
    let named: Map<String, Value> = dependencies
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or_default()))
        .collect();
    let root = serde_json::to_value(T::schema()).unwrap_or_default();
    inline_refs(root, &named, 0)
}

/// `schema` with each `{"$ref": "#/components/schemas/X"}` replaced by `X` from `named`.
pub fn inline_refs(schema: Value, named: &Map<String, Value>, depth: usize) -> Value {
    match schema {
        Value::Object(object) => {
            if let Some(target) = object
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                if let Some(found) = named.get(target).filter(|_| depth < MAX_INPUT_DEPTH) {
                    return inline_refs(found.clone(), named, depth + 1);
                }
            }
            Value::Object(
                object
                    .into_iter()
                    .map(|(key, value)| (key, inline_refs(value, named, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| inline_refs(item, named, depth))
                .collect(),
        ),
        other => other,
    }
}

/// Every problem of `value` against `schema`, named by field path (empty when it conforms).
pub fn problems(schema: &Value, value: &Value) -> Vec<FieldProblem> {
    let mut found = Vec::new();
    walk(schema, value, "", 0, &mut found);
    found
}

fn problem(found: &mut Vec<FieldProblem>, path: &str, text: impl Into<String>) {
    let field = if path.is_empty() { "input" } else { path };
    found.push(FieldProblem {
        field: field.to_owned(),
        problem: text.into(),
    });
}

fn walk(schema: &Value, value: &Value, path: &str, depth: usize, found: &mut Vec<FieldProblem>) {
    if depth > MAX_INPUT_DEPTH {
        return problem(
            found,
            path,
            format!("nested deeper than {MAX_INPUT_DEPTH} levels"),
        );
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            walk(part, value, path, depth, found);
        }
    }
    if let Some(branches) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        return one_of(branches, value, path, depth, found);
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let names: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return problem(found, path, format!("must be one of {}", names.join(", ")));
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() && !types.iter().any(|t| is_type(value, t)) {
            return problem(found, path, format!("must be {}", types.join(" or ")));
        }
    }
    match value {
        Value::Object(object) => check_object(schema, object, path, depth, found),
        Value::Array(items) => check_array(schema, items, path, depth, found),
        Value::String(text) => check_string(schema, text, path, found),
        Value::Number(number) => check_number(schema, number, path, found),
        _ => {}
    }
}

fn one_of(
    branches: &[Value],
    value: &Value,
    path: &str,
    depth: usize,
    found: &mut Vec<FieldProblem>,
) {
    let mut best: Option<Vec<FieldProblem>> = None;
    for branch in branches {
        let mut attempt = Vec::new();
        walk(branch, value, path, depth, &mut attempt);
        if attempt.is_empty() {
            return;
        }
        let not_null = branch.get("type") != Some(&Value::String("null".into()));
        if not_null && best.as_ref().is_none_or(|b| attempt.len() < b.len()) {
            best = Some(attempt);
        }
    }
    match best {
        Some(closest) => found.extend(closest),
        None => problem(found, path, "does not have an allowed shape"),
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}

fn check_object(
    schema: &Value,
    object: &Map<String, Value>,
    path: &str,
    depth: usize,
    found: &mut Vec<FieldProblem>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !object.contains_key(name) {
            problem(found, &join(name), "is required");
        }
    }
    let open = schema
        .get("additionalProperties")
        .is_some_and(|a| a != &Value::Bool(false));
    for (name, field) in object {
        match properties.and_then(|p| p.get(name)) {
            Some(field_schema) => walk(field_schema, field, &join(name), depth + 1, found),
            None if open || properties.is_none() && schema.get("type").is_none() => {}
            None => problem(found, &join(name), "is not a field of this action"),
        }
    }
}

fn check_array(
    schema: &Value,
    items: &[Value],
    path: &str,
    depth: usize,
    found: &mut Vec<FieldProblem>,
) {
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
        if (items.len() as u64) < min {
            problem(found, path, format!("needs at least {min} item(s)"));
        }
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
        if items.len() as u64 > max {
            problem(found, path, format!("may have at most {max} items"));
        }
    }
    if let Some(item_schema) = schema.get("items") {
        for (n, item) in items.iter().enumerate() {
            walk(item_schema, item, &format!("{path}[{n}]"), depth + 1, found);
        }
    }
}

fn check_string(schema: &Value, text: &str, path: &str, found: &mut Vec<FieldProblem>) {
    if text.contains('\0') {
        return problem(found, path, "must not contain NUL characters");
    }
    let chars = text.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        if chars < min {
            problem(found, path, format!("must be at least {min} character(s)"));
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        if chars > max {
            problem(found, path, format!("must be at most {max} characters"));
        }
    }
}

fn check_number(
    schema: &Value,
    number: &serde_json::Number,
    path: &str,
    found: &mut Vec<FieldProblem>,
) {
    let Some(n) = number.as_f64() else { return };
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        if n < min {
            problem(found, path, format!("must be at least {min}"));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        if n > max {
            problem(found, path, format!("must be at most {max}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(found: &[FieldProblem]) -> Vec<&str> {
        found.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn each_wrong_field_is_named_by_its_path_and_values_are_not_quoted() {
        let schema = json!({
            "type": "object",
            "required": ["to", "values"],
            "additionalProperties": false,
            "properties": {
                "to": {"type": "array", "minItems": 1, "items": {"type": "string", "maxLength": 5}},
                "values": {"type": "array", "items": {"type": "array", "items": {"type": ["string", "number", "boolean", "null"]}}},
                "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535}
            }
        });
        let found = problems(
            &schema,
            &json!({"to": ["ok", "far-too-long"], "values": [[1, {"secret": "x"}]], "port": 70000, "extra": 1}),
        );
        assert_eq!(
            fields(&found),
            vec!["extra", "port", "to[1]", "values[0][1]"]
        );
        assert!(found.iter().all(|p| !p.problem.contains("secret")));
        assert_eq!(fields(&problems(&schema, &json!({}))), vec!["to", "values"]);
        assert_eq!(fields(&problems(&schema, &json!([]))), vec!["input"]);
        assert!(problems(&schema, &json!({"to": ["a"], "values": [], "port": null})).is_empty());
    }

    #[test]
    fn nul_characters_are_refused_where_they_are() {
        let schema = json!({"type": "object", "properties": {"subject": {"type": "string"}}});
        let found = problems(&schema, &json!({"subject": "a\u{0}b"}));
        assert_eq!(fields(&found), vec!["subject"]);
    }

    #[test]
    fn a_optional_reference_is_checked_through_its_branch() {
        let schema = json!({"type": "object", "properties": {"tls": {"oneOf": [{"type": "null"}, {"type": "string", "enum": ["starttls", "implicit", "none"]}]}}});
        assert!(problems(&schema, &json!({"tls": "starttls"})).is_empty());
        assert!(problems(&schema, &json!({"tls": null})).is_empty());
        assert_eq!(
            fields(&problems(&schema, &json!({"tls": "ssl"}))),
            vec!["tls"]
        );
    }
}
