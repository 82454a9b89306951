//! The compatibility rules proven on changes of every kind: each breaking change is reported
//! (and only it), each compatible one passes, and a version bump is the way out.

use super::compatibility::{breaking_changes, BreakingChange, Snapshot};
use super::*;
use std::collections::BTreeMap;

const TOPIC: &str = "integrations.lifecycle";
const CREATED: &str = "switchboard.integration.IntegrationCreated.v1";
const CREATED_V2: &str = "switchboard.integration.IntegrationCreated.v2";
const AT: &str = "integrations.lifecycle switchboard.integration.IntegrationCreated.v1";

/// A release with one topic of one event type and an empty dead-letter topic.
fn released() -> Snapshot {
    let created = json!({
        "type": "object",
        "properties": {
            "type": {"type": "string", "const": "IntegrationCreated"},
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "channel": {"type": "string", "enum": ["telegram", "whatsapp"]},
            "note": {"type": ["string", "null"]},
            "at": {"type": "string", "format": "date-time", "pattern": "Z$"},
            "content": {"oneOf": [
                {"type": "object", "properties": {"type": {"const": "text"}}},
                {"type": "object", "properties": {"type": {"const": "media"}}}
            ]},
            "ids": {"type": "array", "items": {"type": "string", "format": "uuid"}}
        },
        "required": ["type", "name", "channel", "at"],
        "additionalProperties": false
    });
    Snapshot {
        release: "0.1.0".into(),
        topics: [
            (TOPIC.to_owned(), [(CREATED.to_owned(), created)].into()),
            (format!("{TOPIC}.dlq"), BTreeMap::new()),
        ]
        .into(),
    }
}

/// The released schema of `IntegrationCreated.v1` in `snapshot`.
fn created(snapshot: &mut Snapshot) -> &mut Value {
    snapshot
        .topics
        .get_mut(TOPIC)
        .unwrap()
        .get_mut(CREATED)
        .unwrap()
}

fn changed(change: impl FnOnce(&mut Snapshot)) -> Vec<BreakingChange> {
    let mut today = released();
    change(&mut today);
    breaking_changes(&released(), &today)
}

fn at(path: &str) -> String {
    format!("{AT}{path}")
}

#[test]
fn an_unchanged_release_is_compatible() {
    assert_eq!(changed(|_| {}), vec![]);
    let documented = Snapshot::of(&Doc::load());
    assert_eq!(breaking_changes(&documented, &documented), vec![]);
}

#[test]
fn every_kind_of_breaking_change_is_reported_and_only_it() {
    type Case = (&'static str, fn(&mut Snapshot), BreakingChange);
    let cases: Vec<Case> = vec![
        (
            "a removed topic",
            |s| drop(s.topics.remove(&format!("{TOPIC}.dlq"))),
            BreakingChange::TopicRemoved {
                topic: format!("{TOPIC}.dlq"),
            },
        ),
        (
            "a removed event type",
            |s| drop(s.topics.get_mut(TOPIC).unwrap().remove(CREATED)),
            BreakingChange::EventTypeRemoved {
                topic: TOPIC.into(),
                event_type: CREATED.into(),
            },
        ),
        (
            "a removed optional property",
            |s| {
                drop(
                    created(s)["properties"]
                        .as_object_mut()
                        .unwrap()
                        .remove("note"),
                )
            },
            BreakingChange::PropertyRemoved { at: at("/note") },
        ),
        (
            "a changed type",
            |s| created(s)["properties"]["name"]["type"] = json!("integer"),
            BreakingChange::TypeChanged {
                at: at("/name"),
                was: json!("string"),
                now: json!("integer"),
            },
        ),
        (
            "a type that no longer allows null",
            |s| created(s)["properties"]["note"]["type"] = json!("string"),
            BreakingChange::TypeChanged {
                at: at("/note"),
                was: json!(["string", "null"]),
                now: json!("string"),
            },
        ),
        (
            "a newly required property",
            |s| {
                created(s)["required"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("note"))
            },
            BreakingChange::NewlyRequired {
                at: AT.into(),
                property: "note".into(),
            },
        ),
        (
            "a narrowed enum",
            |s| created(s)["properties"]["channel"]["enum"] = json!(["telegram"]),
            BreakingChange::EnumNarrowed {
                at: at("/channel"),
                no_longer_allowed: vec![json!("whatsapp")],
            },
        ),
        (
            "a changed const",
            |s| created(s)["properties"]["type"]["const"] = json!("Created"),
            BreakingChange::EnumNarrowed {
                at: at("/type"),
                no_longer_allowed: vec![json!("IntegrationCreated")],
            },
        ),
        (
            "a removed oneOf branch",
            |s| {
                drop(
                    created(s)["properties"]["content"]["oneOf"]
                        .as_array_mut()
                        .unwrap()
                        .pop(),
                )
            },
            BreakingChange::BranchRemoved {
                at: at("/content/oneOf/media"),
                branch: "media".into(),
            },
        ),
        (
            "a changed format inside array items",
            |s| created(s)["properties"]["ids"]["items"]["format"] = json!("uri"),
            BreakingChange::ConstraintChanged {
                at: at("/ids/items"),
                keyword: "format".into(),
                was: json!("uuid"),
                now: json!("uri"),
            },
        ),
        (
            "a changed pattern",
            |s| created(s)["properties"]["at"]["pattern"] = json!("\\+00:00$"),
            BreakingChange::ConstraintChanged {
                at: at("/at"),
                keyword: "pattern".into(),
                was: json!("Z$"),
                now: json!("\\+00:00$"),
            },
        ),
        (
            "a tightened bound",
            |s| created(s)["properties"]["name"]["maxLength"] = json!(100),
            BreakingChange::ConstraintChanged {
                at: at("/name"),
                keyword: "maxLength".into(),
                was: json!(200),
                now: json!(100),
            },
        ),
    ];
    for (what, change, expected) in cases {
        assert_eq!(changed(change), vec![expected], "{what}");
    }
}

#[test]
fn compatible_changes_pass() {
    type Case = (&'static str, fn(&mut Snapshot));
    let cases: Vec<Case> = vec![
        ("a new optional property", |s| {
            created(s)["properties"]["nickname"] = json!({"type": "string"});
        }),
        ("a widened enum", |s| {
            created(s)["properties"]["channel"]["enum"] = json!(["telegram", "whatsapp", "email"]);
        }),
        ("a new event type", |s| {
            let deleted = json!({"type": "object", "required": ["type"]});
            s.topics.get_mut(TOPIC).unwrap().insert(
                "switchboard.integration.IntegrationDeleted.v1".into(),
                deleted,
            );
        }),
        ("a new topic", |s| {
            s.topics
                .insert("conversations.activity".into(), BTreeMap::new());
        }),
        ("a new oneOf branch", |s| {
            let branches = created(s)["properties"]["content"]["oneOf"]
                .as_array_mut()
                .unwrap();
            branches.push(json!({"type": "object", "properties": {"type": {"const": "sticker"}}}));
        }),
        ("a property no longer required", |s| {
            created(s)["required"] = json!(["type", "name", "at"]);
        }),
        ("a loosened bound", |s| {
            created(s)["properties"]["name"]["maxLength"] = json!(500);
        }),
        ("a new description", |s| {
            created(s)["properties"]["name"]["description"] = json!("Display name.");
        }),
    ];
    for (what, change) in cases {
        assert_eq!(changed(change), vec![], "{what}");
    }
}

#[test]
fn a_breaking_change_ships_as_a_new_version_beside_the_released_one() {
    let breaking_v2 = |s: &mut Snapshot| {
        let mut v2 = created(s).clone();
        v2["properties"]["name"]["type"] = json!("object");
        v2["required"].as_array_mut().unwrap().push(json!("note"));
        s.topics
            .get_mut(TOPIC)
            .unwrap()
            .insert(CREATED_V2.into(), v2);
    };
    assert_eq!(changed(breaking_v2), vec![], "v2 beside an unchanged v1");
    let replaced = changed(|s| {
        breaking_v2(s);
        s.topics.get_mut(TOPIC).unwrap().remove(CREATED);
    });
    assert_eq!(
        replaced,
        vec![BreakingChange::EventTypeRemoved {
            topic: TOPIC.into(),
            event_type: CREATED.into(),
        }],
        "v2 instead of v1"
    );
}

#[test]
fn the_document_s_own_schemas_are_held_to_the_rules() {
    let documented = Snapshot::of(&Doc::load());
    let mut today = documented.clone();
    let created = today
        .topics
        .get_mut(LIFECYCLE)
        .unwrap()
        .get_mut(CREATED)
        .unwrap();
    created["properties"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    created["required"] = json!([
        "type",
        "integration_id",
        "workspace_id",
        "channel",
        "auth",
        "at"
    ]);
    assert_eq!(
        breaking_changes(&documented, &today),
        vec![BreakingChange::PropertyRemoved { at: at("/name") }]
    );
    let mut today = documented.clone();
    let failed = today
        .topics
        .get_mut(STATUS)
        .unwrap()
        .get_mut("switchboard.message.MessageFailed.v1")
        .unwrap();
    let reasons = failed["properties"]["reason"]["enum"]
        .as_array_mut()
        .unwrap();
    let dropped = reasons.pop().unwrap();
    let changes = breaking_changes(&documented, &today);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(
        matches!(&changes[0], BreakingChange::EnumNarrowed { no_longer_allowed, .. } if no_longer_allowed == &vec![dropped]),
        "{changes:?}"
    );
}
