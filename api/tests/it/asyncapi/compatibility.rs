//! The schema compatibility rules: which changes between a released payload schema and
//! today's would break a consumer of the topics.
//!
//! The topics keep their records forever (`retention.ms` -1), so today's schema of an event
//! type must still describe every record the released code wrote, and a consumer written
//! against the release must still find what it reads. A change breaks consumers when it
//! removes a topic, an event type or a property, changes a `type`, makes a property required,
//! narrows an `enum` or `const`, removes a `oneOf`/`anyOf` branch, changes a `format` or
//! `pattern`, or tightens a length, item count or numeric bound. Everything else is
//! compatible: a new optional property, a widened enum, a new branch, a new event type or topic,
//! a loosened bound, changed descriptions. Breaking changes ship as a new version of the event
//! type (`…v2` beside `…v1`), never as an edit of the released one.
//!
//! Schemas are compared self-contained (references already inlined, as [`Snapshot`]s hold
//! them), so the rules need no document to resolve against.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Every topic's payload schema of every event type, as one release documents them: topic →
/// `ce_type` (or the message's name where the headers pin none, as on dead-letter topics) →
/// payload schema with its references inlined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Snapshot {
    /// The release the snapshot was taken of (`info.version` of the document).
    pub(super) release: String,
    pub(super) topics: BTreeMap<String, BTreeMap<String, Value>>,
}

/// One change that breaks consumers, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum BreakingChange {
    TopicRemoved {
        topic: String,
    },
    EventTypeRemoved {
        topic: String,
        event_type: String,
    },
    PropertyRemoved {
        at: String,
    },
    TypeChanged {
        at: String,
        was: Value,
        now: Value,
    },
    NewlyRequired {
        at: String,
        property: String,
    },
    EnumNarrowed {
        at: String,
        no_longer_allowed: Vec<Value>,
    },
    BranchRemoved {
        at: String,
        branch: String,
    },
    ConstraintChanged {
        at: String,
        keyword: String,
        was: Value,
        now: Value,
    },
}

impl fmt::Display for BreakingChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TopicRemoved { topic } => write!(f, "topic {topic} is no longer documented"),
            Self::EventTypeRemoved { topic, event_type } => {
                write!(f, "{topic}: {event_type} is no longer documented")
            }
            Self::PropertyRemoved { at } => write!(f, "{at}: the property was removed"),
            Self::TypeChanged { at, was, now } => write!(f, "{at}: type {was} became {now}"),
            Self::NewlyRequired { at, property } => write!(f, "{at}: {property} is now required"),
            Self::EnumNarrowed {
                at,
                no_longer_allowed,
            } => write!(
                f,
                "{at}: no longer allows {}",
                Value::from(no_longer_allowed.clone())
            ),
            Self::BranchRemoved { at, branch } => write!(f, "{at}: branch {branch} was removed"),
            Self::ConstraintChanged {
                at,
                keyword,
                was,
                now,
            } => write!(f, "{at}: {keyword} {was} became {now}"),
        }
    }
}

/// Every change from `released` to `today` that breaks consumers; empty when `today` is a
/// compatible successor.
pub(super) fn breaking_changes(released: &Snapshot, today: &Snapshot) -> Vec<BreakingChange> {
    let mut changes = Vec::new();
    for (topic, event_types) in &released.topics {
        let Some(todays_types) = today.topics.get(topic) else {
            changes.push(BreakingChange::TopicRemoved {
                topic: topic.clone(),
            });
            continue;
        };
        for (event_type, schema) in event_types {
            match todays_types.get(event_type) {
                Some(todays) => compare(
                    schema,
                    todays,
                    &format!("{topic} {event_type}"),
                    &mut changes,
                ),
                None => changes.push(BreakingChange::EventTypeRemoved {
                    topic: topic.clone(),
                    event_type: event_type.clone(),
                }),
            }
        }
    }
    changes
}

/// The bounds a value must keep, and whether a larger number tightens them.
const BOUNDS: &[(&str, Tightening)] = &[
    ("minLength", Tightening::Raised),
    ("maxLength", Tightening::Lowered),
    ("minItems", Tightening::Raised),
    ("maxItems", Tightening::Lowered),
    ("minimum", Tightening::Raised),
    ("maximum", Tightening::Lowered),
    ("exclusiveMinimum", Tightening::Raised),
    ("exclusiveMaximum", Tightening::Lowered),
];

#[derive(Debug, Clone, Copy)]
enum Tightening {
    Raised,
    Lowered,
}

/// Compares the schema `was` with `now` at `at`, adding what breaks consumers to `changes`.
fn compare(was: &Value, now: &Value, at: &str, changes: &mut Vec<BreakingChange>) {
    let empty = Map::new();
    let was = was.as_object().unwrap_or(&empty);
    let now = now.as_object().unwrap_or(&empty);
    compare_types(was, now, at, changes);
    compare_values(was, now, at, changes);
    compare_properties(was, now, at, changes);
    for keyword in ["oneOf", "anyOf"] {
        compare_branches(was, now, keyword, at, changes);
    }
    for keyword in ["items", "additionalProperties"] {
        if let (Some(was), Some(now)) = (was.get(keyword), now.get(keyword)) {
            compare(was, now, &format!("{at}/{keyword}"), changes);
        }
    }
    for keyword in ["format", "pattern"] {
        if was.get(keyword) != now.get(keyword) {
            changes.push(BreakingChange::ConstraintChanged {
                at: at.to_owned(),
                keyword: keyword.to_owned(),
                was: was.get(keyword).cloned().unwrap_or(Value::Null),
                now: now.get(keyword).cloned().unwrap_or(Value::Null),
            });
        }
    }
    compare_bounds(was, now, at, changes);
}

/// The types a schema allows, sorted; `None` when it allows any.
fn types(schema: &Map<String, Value>) -> Option<Vec<String>> {
    let mut types: Vec<String> = match schema.get("type")? {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => return None,
    };
    types.sort();
    Some(types)
}

fn compare_types(
    was: &Map<String, Value>,
    now: &Map<String, Value>,
    at: &str,
    changes: &mut Vec<BreakingChange>,
) {
    if types(was) != types(now) {
        changes.push(BreakingChange::TypeChanged {
            at: at.to_owned(),
            was: was.get("type").cloned().unwrap_or(Value::Null),
            now: now.get("type").cloned().unwrap_or(Value::Null),
        });
    }
}

/// The values a schema's `const` or `enum` allows; `None` when it pins none.
fn allowed_values(schema: &Map<String, Value>) -> Option<Vec<Value>> {
    let from_enum = schema.get("enum").and_then(Value::as_array).cloned();
    let from_const = schema.get("const").map(|one| vec![one.clone()]);
    match (from_enum, from_const) {
        (Some(listed), Some(pinned)) => {
            Some(listed.into_iter().filter(|v| pinned.contains(v)).collect())
        }
        (listed, pinned) => listed.or(pinned),
    }
}

fn compare_values(
    was: &Map<String, Value>,
    now: &Map<String, Value>,
    at: &str,
    changes: &mut Vec<BreakingChange>,
) {
    let Some(allowed_now) = allowed_values(now) else {
        return;
    };
    let no_longer_allowed: Vec<Value> = match allowed_values(was) {
        Some(allowed) => allowed
            .into_iter()
            .filter(|value| !allowed_now.contains(value))
            .collect(),
        None => vec![Value::from("any value but those listed now")],
    };
    if !no_longer_allowed.is_empty() {
        changes.push(BreakingChange::EnumNarrowed {
            at: at.to_owned(),
            no_longer_allowed,
        });
    }
}

fn compare_properties(
    was: &Map<String, Value>,
    now: &Map<String, Value>,
    at: &str,
    changes: &mut Vec<BreakingChange>,
) {
    let empty = Map::new();
    let properties_now = now
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (name, schema) in was
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty)
    {
        let at = format!("{at}/{name}");
        match properties_now.get(name) {
            Some(now) => compare(schema, now, &at, changes),
            None => changes.push(BreakingChange::PropertyRemoved { at }),
        }
    }
    let required = |schema: &Map<String, Value>| -> Vec<String> {
        schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let required_before = required(was);
    for property in required(now) {
        if !required_before.contains(&property) {
            changes.push(BreakingChange::NewlyRequired {
                at: at.to_owned(),
                property,
            });
        }
    }
}

/// What names a branch of a `oneOf`/`anyOf`: the `const` of its `type` property where it pins
/// one (the tagged unions of the document), its position otherwise.
fn branch_name(branch: &Value, position: usize) -> String {
    match branch
        .pointer("/properties/type/const")
        .and_then(Value::as_str)
    {
        Some(tag) => tag.to_owned(),
        None => position.to_string(),
    }
}

fn compare_branches(
    was: &Map<String, Value>,
    now: &Map<String, Value>,
    keyword: &str,
    at: &str,
    changes: &mut Vec<BreakingChange>,
) {
    let Some(branches_before) = was.get(keyword).and_then(Value::as_array) else {
        return;
    };
    let branches_now: BTreeMap<String, &Value> = now
        .get(keyword)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(n, branch)| (branch_name(branch, n), branch))
        .collect();
    for (n, branch) in branches_before.iter().enumerate() {
        let name = branch_name(branch, n);
        let at = format!("{at}/{keyword}/{name}");
        match branches_now.get(&name) {
            Some(now) => compare(branch, now, &at, changes),
            None => changes.push(BreakingChange::BranchRemoved { at, branch: name }),
        }
    }
}

fn compare_bounds(
    was: &Map<String, Value>,
    now: &Map<String, Value>,
    at: &str,
    changes: &mut Vec<BreakingChange>,
) {
    for (keyword, tightening) in BOUNDS {
        let bound_now = now.get(*keyword).and_then(Value::as_f64);
        let tightened = match (was.get(*keyword).and_then(Value::as_f64), bound_now) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(before), Some(now)) => match tightening {
                Tightening::Raised => now > before,
                Tightening::Lowered => now < before,
            },
        };
        if tightened {
            changes.push(BreakingChange::ConstraintChanged {
                at: at.to_owned(),
                keyword: (*keyword).to_owned(),
                was: was.get(*keyword).cloned().unwrap_or(Value::Null),
                now: now.get(*keyword).cloned().unwrap_or(Value::Null),
            });
        }
    }
}
