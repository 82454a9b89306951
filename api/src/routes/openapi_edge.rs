//! What the edge answers beside each handler's own responses, written into the OpenAPI
//! description so it says what the code does: every problem is `application/problem+json`;
//! every operation may be shed (503); a body may be malformed (400), late (408), too large
//! (413), of another type (415) or break a rule (422, e.g. a NUL character); a query may be
//! malformed (400); a deleted integration is gone (410); an authenticated operation may be
//! rate limited (429); `channel` is one of the registered channels.

use serde_json::{json, Value};

/// The description `doc` with the edge's answers added.
pub fn with_edge_answers(mut doc: Value, channels: &[&str]) -> Value {
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            // Every call on a deleted integration is 410.
            let on_integration = path.contains("/integrations/{id}");
            for operation in item.values_mut().filter(|o| o.get("responses").is_some()) {
                add_answers(operation, &problem, on_integration);
                restrict_channel_parameters(operation, channels);
            }
        }
    }
    let create = doc
        .pointer_mut("/components/schemas/CreateIntegration/properties/channel")
        .and_then(Value::as_object_mut);
    if let Some(channel) = create {
        channel.insert("enum".into(), json!(channels));
    }
    doc
}

fn add_answers(operation: &mut Value, problem: &Value, on_integration: bool) {
    let has_body = operation.get("requestBody").is_some();
    let has_query = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| p.iter().any(|p| p["in"] == "query"));
    let mut statuses = vec![(
        "503",
        "Overloaded, or a dependency is down; retry after `Retry-After`",
    )];
    if has_body {
        statuses.extend([
            ("400", "The body is not well-formed JSON"),
            ("408", "The body did not arrive in time"),
            ("413", "The body is over the limit"),
            ("415", "The body is not JSON"),
            (
                "422",
                "The body breaks a rule (a NUL character in a text field, …)",
            ),
        ]);
    }
    if has_query {
        statuses.push(("400", "The query is malformed"));
    }
    if on_integration {
        statuses.push(("410", "The integration was deleted"));
    }
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if responses.contains_key("401") {
        statuses.push((
            "429",
            "Over the credential's request rate, or too many refused credentials from this address; retry after `Retry-After`",
        ));
    }
    for (status, description) in statuses {
        responses.entry(status).or_insert_with(|| {
            json!({"description": description, "content": {crate::error::PROBLEM_JSON: {"schema": problem}}})
        });
    }
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        let is_problem = content
            .get("application/json")
            .is_some_and(|c| c["schema"] == *problem);
        if is_problem {
            if let Some(body) = content.remove("application/json") {
                content.insert(crate::error::PROBLEM_JSON.to_owned(), body);
            }
        }
    }
}

fn restrict_channel_parameters(operation: &mut Value, channels: &[&str]) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        if parameter["in"] == "query" && parameter["name"] == "channel" {
            parameter["schema"] = json!({"type": "string", "enum": channels});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_change_media_type_and_bodies_gain_the_edge_answers() {
        let doc = json!({"paths": {"/x": {"post": {
        "requestBody": {},
        "parameters": [{"in": "query", "name": "channel", "schema": {"type": "string"}}],
        "responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/View"}}}},
            "404": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        }}}}});
        let doc = with_edge_answers(doc, &["telegram"]);
        let responses = &doc["paths"]["/x"]["post"]["responses"];
        assert!(responses["200"]["content"]["application/json"].is_object());
        assert!(
            doc["components"].is_null(),
            "nothing is added where nothing was"
        );
        assert!(responses["404"]["content"]["application/problem+json"].is_object());
        assert!(responses["404"]["content"]["application/json"].is_null());
        for status in ["400", "408", "413", "415", "422", "503"] {
            assert!(
                responses[status]["content"]["application/problem+json"].is_object(),
                "{status}"
            );
        }
        let parameter = &doc["paths"]["/x"]["post"]["parameters"][0];
        assert_eq!(parameter["schema"]["enum"], json!(["telegram"]));
    }
}
