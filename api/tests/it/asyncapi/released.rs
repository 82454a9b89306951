//! The released payload schemas (`api/schemas/released.json`) and the check that today's
//! document changes none of them incompatibly.
//!
//! The snapshot holds every topic's payload schema of every event type as the last release
//! documented them, references inlined and descriptions left out, so it reads on its own and
//! changes only when a schema does. It is refreshed at release time, and only on request:
//!
//! ```text
//! SWITCHBOARD_RELEASE_SCHEMAS=1 cargo test -p switchboard-api --test it asyncapi::released -- --nocapture
//! ```
//!
//! writes today's schemas as the released ones and prints every breaking change it accepts
//! (dropping an event type no longer published, say). Without the variable the test only
//! compares.

use super::compatibility::{breaking_changes, Snapshot};
use super::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Set to `1` to write today's schemas as the released ones.
const RELEASE_VARIABLE: &str = "SWITCHBOARD_RELEASE_SCHEMAS";

/// Schema keywords that only annotate, left out of the snapshot. `discriminator` is kept:
/// it names the property consumers dispatch on.
const ANNOTATIONS: &[&str] = &["description", "title", "examples", "default"];

/// Where the snapshot is committed.
fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/released.json")
}

impl Snapshot {
    /// Today's payload schemas, from the document.
    pub(super) fn of(doc: &Doc) -> Self {
        let mut topics = BTreeMap::new();
        for channel in doc.0["channels"].as_object().unwrap().values() {
            let topic = channel["address"].as_str().unwrap().to_owned();
            let mut event_types = BTreeMap::new();
            for (name, message) in channel["messages"].as_object().unwrap() {
                let message = doc.resolve(message);
                let event_type = doc.ce_type(message).unwrap_or(name.as_str()).to_owned();
                let payload = inlined(doc, &message["payload"], &mut Vec::new());
                assert!(
                    event_types.insert(event_type.clone(), payload).is_none(),
                    "{topic}: {event_type} is documented twice"
                );
            }
            topics.insert(topic, event_types);
        }
        Self {
            release: doc.0["info"]["version"].as_str().unwrap().to_owned(),
            topics,
        }
    }

    /// The committed snapshot.
    pub(super) fn released() -> Self {
        let path = snapshot_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; see {RELEASE_VARIABLE}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not a snapshot: {e}", path.display()))
    }

    fn write(&self) {
        let text = serde_json::to_string_pretty(self).unwrap() + "\n";
        std::fs::write(snapshot_path(), text).unwrap();
    }
}

/// The schema `schema` of `doc` with every reference replaced by what it names and annotations
/// left out; `following` holds the references being inlined, to refuse a cycle.
fn inlined(doc: &Doc, schema: &Value, following: &mut Vec<String>) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
        assert!(
            !following.iter().any(|r| r == reference),
            "{reference} refers to itself; a snapshot cannot inline it"
        );
        following.push(reference.to_owned());
        let target = inlined(doc, doc.pointer(reference), following);
        following.pop();
        return target;
    }
    let mut out = Map::new();
    for (keyword, argument) in map {
        let argument = match keyword.as_str() {
            annotation if ANNOTATIONS.contains(&annotation) => continue,
            "properties" => Value::Object(
                argument
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, child)| (name.clone(), inlined(doc, child, following)))
                    .collect(),
            ),
            "oneOf" | "anyOf" | "allOf" => Value::Array(
                argument
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|child| inlined(doc, child, following))
                    .collect(),
            ),
            "items" | "additionalProperties" | "not" => inlined(doc, argument, following),
            _ => argument.clone(),
        };
        out.insert(keyword.clone(), argument);
    }
    Value::Object(out)
}

#[test]
fn no_event_type_changed_incompatibly_since_the_released_snapshot() {
    let today = Snapshot::of(&Doc::load());
    if std::env::var(RELEASE_VARIABLE).as_deref() == Ok("1") {
        let accepted = std::fs::read_to_string(snapshot_path())
            .ok()
            .map(|_| breaking_changes(&Snapshot::released(), &today))
            .unwrap_or_default();
        today.write();
        eprintln!(
            "{RELEASE_VARIABLE}: wrote the schemas of release {} to {}, accepting {} breaking change(s)",
            today.release,
            snapshot_path().display(),
            accepted.len()
        );
        for change in accepted {
            eprintln!("  {change}");
        }
        return;
    }
    let released = Snapshot::released();
    let changes = breaking_changes(&released, &today);
    assert!(
        changes.is_empty(),
        "api/asyncapi.json breaks consumers of release {}:\n  {}\nVersion the event type \
         instead (a new …v2 ce_type documented beside …v1), as the README's section on \
         upgrading without breaking consumers says.",
        released.release,
        changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

#[test]
fn the_snapshot_names_every_topic_and_event_type_the_document_does() {
    let doc = Doc::load();
    let today = Snapshot::of(&doc);
    let topics: BTreeSet<&str> = doc.0["channels"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        today
            .topics
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        topics
    );
    for topic in [RECEIVED, STATUS, LIFECYCLE, ACTIVITY, OUTBOUND] {
        let event_types: BTreeSet<String> = today.topics[topic].keys().cloned().collect();
        assert_eq!(event_types, doc.ce_types(topic), "{topic}");
    }
    let created = &today.topics[LIFECYCLE]["switchboard.integration.IntegrationCreated.v1"];
    assert_eq!(created["properties"]["type"]["const"], "IntegrationCreated");
    assert!(
        !created.to_string().contains("$ref"),
        "the snapshot's schemas stand alone"
    );
    assert!(created.get("description").is_none());
}
