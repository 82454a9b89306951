//! Events as the first release wrote them are still read by today's code.
//!
//! Every fixture under `tests/fixtures/first_release/` is one record as it was written when its
//! type was introduced: the JSON the serde derives of that commit produced for a realistic value
//! (field names, optional fields left out where `skip_serializing_if` applied, enums in their
//! serialised form, sealed secrets in the text form of that commit's sealer). Event-store rows
//! (integration and platform events) keep their keys in the sorted order in which a
//! `serde_json::Value` reached the `json` column; topic records keep declaration order
//! (`serde_json::to_vec`). Those records are in event stores and on topics for good, so these
//! files are never regenerated from today's code: they are the old wire format.
//!
//! What this guards: a change that stops an old record from reading (a renamed or removed
//! field, a field made required, an enum value renamed, a changed tag) fails here. An additive
//! change passes: a new optional field with a serde default, a new variant, a new event type.
//! A breaking change needs a new event version and an upcaster that turns the old record into
//! the new shape: read these fixtures through it then, never replace them with new ones.
//!
//! Each test reads its fixtures into today's types, checks that every field of the fixture came
//! through with its value and that fields added since take their documented defaults, and,
//! where today's code derives something from the event (an aggregate's state, a deterministic
//! event id), that it still derives it from the old record.
//!
//! Where each fixture's shape comes from (the commit that introduced the type):
//! - `integration/IntegrationCreated.json`: e51b533 (secrets `sb1:<key id>:…`, key `k1`)
//! - `integration/IntegrationConnected.json`: e51b533 (no `account_verified` yet)
//! - `integration/SettingsUpdated.json`: e51b533
//! - `integration/CredentialsRefreshed.json`: e51b533 (secrets `sb1:<key id>:…`)
//! - `integration/IntegrationDisconnected.json`: e51b533 (no `platform_outcome` yet)
//! - `integration/IntegrationDeleted.json`: e51b533 (no `platform_outcome` yet)
//! - `platform/PlatformCredentialsPut.json`: 0e728b2 (secrets `sb2:…` under `platform:messenger`)
//! - `platform/PlatformCredentialsVerified.json`: 0e728b2
//! - `platform/PlatformCredentialsRefused.json`: 0e728b2
//! - `platform/PlatformCredentialsDeleted.json`: 0e728b2
//! - `inbound/MessageReceived.json`: 88f0fa2 (Messenger parser; no `received_at`, `thread_id`)
//! - `inbound/MessageSent.json`: 88f0fa2 (values as the WhatsApp parser of 6d6ce46 made them)
//! - `inbound/MessageDelivered.json`: 88f0fa2 (Messenger parser)
//! - `inbound/MessageRead.json`: 88f0fa2 (Messenger parser)
//! - `inbound/MessageFailed.json`: 88f0fa2 (values as the WhatsApp parser of 6d6ce46 made them)
//! - `outbound/SendMessage.json`: cb0bed9 (no `template`, `tag` in its content yet)
//! - `status/MessageSent.json`: cb0bed9
//! - `status/MessageFailed.json`: cb0bed9
//! - `status/MessageDelivered.json`: 1ba22d6 (web chat acknowledgement)
//! - `status/MessageRead.json`: 1ba22d6 (web chat acknowledgement)
//! - `activity/ConversationRead.json`: 3ec73cf
//! - `activity/ConversationResolved.json`: 3ec73cf
//! - `activity/ConversationReopened.json`: 3ec73cf
//! - `activity/ContactTyping.json`: f28186e
//! - `action/ActionRequested.json`: e4e08de
//! - `action/ActionCompleted.json`: e4e08de
//! - `action/ActionFailed.json`: e4e08de
//!
//! And the value types whose every serialised form the events above do not show:
//! - `inbound/MessageContent.json`: 88f0fa2 (each variant, as the Messenger parser wrote it)
//! - `status/FailureReason.json`: cb0bed9 (each name)
//! - `platform/VerificationCheck.json`: 0e728b2 (each name)

use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Debug;
use switchboard_domain::action::{ActionOutcome, ActionRequested, ActionResult};
use switchboard_domain::auth::{StoredAuth, StoredValue};
use switchboard_domain::integration::{Integration, IntegrationEvent, IntegrationStatus};
use switchboard_domain::message::{
    AttachmentKind, ConversationAction, ConversationActivity, DeliveryOutcome, DeliveryUpdate,
    FailureReason, InboundDraft, InboundEvent, InboundKind, MessageContent, PlatformError,
    QuickReplyOption, SendMessage,
};
use switchboard_domain::platform::{PlatformApp, PlatformEvent, PlatformStatus, VerificationCheck};
use switchboard_domain::{ChannelKind, IntegrationId, SealedSecret, WorkspaceId};
use uuid::Uuid;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/first_release");

/// One integration's life, in the order its events were recorded.
const INTEGRATION: [&str; 6] = [
    "IntegrationCreated",
    "IntegrationConnected",
    "SettingsUpdated",
    "CredentialsRefreshed",
    "IntegrationDisconnected",
    "IntegrationDeleted",
];
/// One channel's platform credentials, in the order their events were recorded.
const PLATFORM: [&str; 4] = [
    "PlatformCredentialsPut",
    "PlatformCredentialsVerified",
    "PlatformCredentialsRefused",
    "PlatformCredentialsDeleted",
];
const INBOUND: [&str; 5] = [
    "MessageReceived",
    "MessageSent",
    "MessageDelivered",
    "MessageRead",
    "MessageFailed",
];
const OUTBOUND: [&str; 1] = ["SendMessage"];
const STATUS: [&str; 4] = [
    "MessageSent",
    "MessageFailed",
    "MessageDelivered",
    "MessageRead",
];
const ACTIVITY: [&str; 4] = [
    "ConversationRead",
    "ConversationResolved",
    "ConversationReopened",
    "ContactTyping",
];
const ACTION: [&str; 3] = ["ActionRequested", "ActionCompleted", "ActionFailed"];

/// Every fixture folder and the fixtures the tests below read from it.
const FAMILIES: [(&str, &[&str]); 7] = [
    ("integration", &INTEGRATION),
    ("platform", &PLATFORM),
    ("inbound", &INBOUND),
    ("outbound", &OUTBOUND),
    ("status", &STATUS),
    ("activity", &ACTIVITY),
    ("action", &ACTION),
];

/// The fixtures of value types, each a JSON array of every form the type had.
const VALUES: [(&str, &str); 3] = [
    ("inbound", "MessageContent"),
    ("status", "FailureReason"),
    ("platform", "VerificationCheck"),
];

/// A fixture read into today's type, with its JSON for the expected values.
struct Old<T> {
    name: &'static str,
    json: Value,
    record: T,
}

/// Reads `family/name.json` as today's `T`, both from its text (as a topic consumer does) and
/// from a `serde_json::Value` (as the event store does), which must agree.
fn read<T: DeserializeOwned + PartialEq + Debug>(family: &str, name: &'static str) -> Old<T> {
    let path = format!("{FIXTURES}/{family}/{name}.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {family}/{name}.json: {e}"));
    let record: T = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("today's code cannot read {family}/{name}.json as the first release wrote it: {e}")
    });
    let json: Value = serde_json::from_str(&text).expect("fixtures are JSON");
    let from_value: T = serde_json::from_value(json.clone()).unwrap_or_else(|e| {
        panic!("today's code cannot read {family}/{name}.json from a JSON value: {e}")
    });
    assert_eq!(record, from_value, "{family}/{name}.json reads differently");
    Old { name, json, record }
}

/// Reads every fixture of a family, in the order given.
fn read_all<T: DeserializeOwned + PartialEq + Debug>(
    family: &str,
    names: &[&'static str],
) -> Vec<Old<T>> {
    names.iter().map(|name| read(family, name)).collect()
}

/// The value at `pointer` in a fixture, which must be there.
fn at<'v>(json: &'v Value, pointer: &str) -> &'v Value {
    json.pointer(pointer)
        .unwrap_or_else(|| panic!("the fixture has no {pointer}"))
}

fn text<'v>(json: &'v Value, pointer: &str) -> &'v str {
    at(json, pointer)
        .as_str()
        .unwrap_or_else(|| panic!("{pointer} is not a string in the fixture"))
}

fn optional_text<'v>(json: &'v Value, pointer: &str) -> Option<&'v str> {
    json.pointer(pointer).map(|_| text(json, pointer))
}

fn number(json: &Value, pointer: &str) -> u64 {
    at(json, pointer)
        .as_u64()
        .unwrap_or_else(|| panic!("{pointer} is not a number in the fixture"))
}

fn time(json: &Value, pointer: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text(json, pointer))
        .unwrap_or_else(|e| panic!("{pointer} is not an RFC 3339 time: {e}"))
        .with_timezone(&Utc)
}

fn id(json: &Value, pointer: &str) -> Uuid {
    Uuid::parse_str(text(json, pointer)).unwrap_or_else(|e| panic!("{pointer}: {e}"))
}

fn integration_id(json: &Value) -> IntegrationId {
    IntegrationId::from(id(json, "/integration_id"))
}

fn workspace_id(json: &Value) -> WorkspaceId {
    text(json, "/workspace_id").parse().expect("a workspace id")
}

fn channel(json: &Value) -> ChannelKind {
    ChannelKind::parse(text(json, "/channel")).expect("a channel name")
}

fn strings(json: &Value, pointer: &str) -> Vec<String> {
    at(json, pointer)
        .as_array()
        .unwrap_or_else(|| panic!("{pointer} is not an array in the fixture"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

/// Stored credentials as the fixture spells them: `{"field": {"plain": value}}` for plain
/// fields, `{"field": {"sealed": "sb…"}}` for sealed ones.
fn stored_auth(json: &Value, pointer: &str) -> StoredAuth {
    let fields = at(json, pointer)
        .as_object()
        .unwrap_or_else(|| panic!("{pointer} is not an object in the fixture"));
    StoredAuth(
        fields
            .iter()
            .map(|(name, stored)| {
                let value = match (stored.get("plain"), stored.get("sealed")) {
                    (Some(plain), None) => StoredValue::Plain(plain.clone()),
                    (None, Some(Value::String(sealed))) => {
                        StoredValue::Sealed(SealedSecret::from_sealed_text(sealed.clone()))
                    }
                    _ => panic!("{pointer}/{name} is neither plain nor sealed in the fixture"),
                };
                (name.clone(), value)
            })
            .collect(),
    )
}

#[test]
fn every_fixture_is_read_by_a_test() {
    let expected: BTreeSet<String> = FAMILIES
        .iter()
        .flat_map(|(family, names)| names.iter().map(move |name| format!("{family}/{name}")))
        .chain(
            VALUES
                .iter()
                .map(|(family, name)| format!("{family}/{name}")),
        )
        .collect();
    let mut found = BTreeSet::new();
    for folder in std::fs::read_dir(FIXTURES).expect("the fixtures folder") {
        let folder = folder.expect("a fixtures folder entry").path();
        let family = folder.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&folder).expect("a family folder") {
            let file = file.expect("a fixture").path();
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            found.insert(format!("{family}/{name}"));
        }
    }
    assert_eq!(found, expected);
}

#[test]
fn integration_events_of_the_first_release_still_read_and_fold() {
    let events: Vec<Old<IntegrationEvent>> = read_all("integration", &INTEGRATION);
    for old in &events {
        let (event, f) = (&old.record, &old.json);
        assert_eq!(event.event_type(), old.name);
        let (integration, workspace, when) = match event {
            IntegrationEvent::IntegrationCreated {
                integration_id,
                workspace_id,
                channel: kind,
                name,
                auth,
                at: when,
            } => {
                assert_eq!(kind, &channel(f));
                assert_eq!(name, text(f, "/name"));
                assert_eq!(auth, &stored_auth(f, "/auth"));
                (integration_id, workspace_id, when)
            }
            IntegrationEvent::IntegrationConnected {
                integration_id,
                workspace_id,
                auth,
                account,
                account_verified,
                at: when,
            } => {
                assert_eq!(auth, &stored_auth(f, "/auth"));
                assert_eq!(
                    account.external_id.as_deref(),
                    Some(text(f, "/account/external_id"))
                );
                assert_eq!(
                    account.display_name.as_deref(),
                    Some(text(f, "/account/display_name"))
                );
                assert!(!account_verified, "not in the first release: unproven");
                (integration_id, workspace_id, when)
            }
            IntegrationEvent::SettingsUpdated {
                integration_id,
                workspace_id,
                name,
                settings,
                at: when,
            } => {
                assert_eq!(name, &None, "the fixture changes the settings only");
                assert_eq!(settings.as_ref(), Some(at(f, "/settings")));
                (integration_id, workspace_id, when)
            }
            IntegrationEvent::CredentialsRefreshed {
                integration_id,
                workspace_id,
                auth,
                at: when,
            } => {
                assert_eq!(auth, &stored_auth(f, "/auth"));
                (integration_id, workspace_id, when)
            }
            IntegrationEvent::IntegrationDisconnected {
                integration_id,
                workspace_id,
                reason,
                platform_outcome,
                at: when,
            } => {
                assert_eq!(reason, text(f, "/reason"));
                assert_eq!(platform_outcome, &None, "not in the first release");
                (integration_id, workspace_id, when)
            }
            IntegrationEvent::IntegrationDeleted {
                integration_id,
                workspace_id,
                platform_outcome,
                at: when,
            } => {
                assert_eq!(platform_outcome, &None, "not in the first release");
                (integration_id, workspace_id, when)
            }
        };
        assert_eq!(integration, &integration_id(f), "{}", old.name);
        assert_eq!(workspace, &workspace_id(f), "{}", old.name);
        assert_eq!(when, &time(f, "/at"), "{}", old.name);
    }

    // Today's aggregate rebuilds the integration from its old events.
    let statuses = [
        IntegrationStatus::Created,
        IntegrationStatus::Connected,
        IntegrationStatus::Connected,
        IntegrationStatus::Connected,
        IntegrationStatus::Disconnected,
        IntegrationStatus::Deleted,
    ];
    let mut state = Integration::default();
    for (old, status) in events.iter().zip(statuses) {
        state.apply(old.record.clone());
        assert_eq!(state.status, status, "after {}", old.name);
    }
    let json = |name: &str| &events.iter().find(|e| e.name == name).unwrap().json;
    let (created, connected) = (json("IntegrationCreated"), json("IntegrationConnected"));
    assert_eq!(state.version, 6);
    assert_eq!(state.integration_id, Some(integration_id(created)));
    assert_eq!(state.workspace_id, Some(workspace_id(created)));
    assert_eq!(state.channel, Some(channel(created)));
    assert_eq!(state.name, text(created, "/name"));
    assert_eq!(&state.settings, at(json("SettingsUpdated"), "/settings"));
    let refreshed = stored_auth(json("CredentialsRefreshed"), "/auth");
    let expected_auth = stored_auth(created, "/auth")
        .merged_with(&stored_auth(connected, "/auth"))
        .merged_with(&refreshed);
    assert_eq!(state.auth, expected_auth);
    assert_eq!(state.auth.0.len(), 3, "page id, page name, refreshed token");
    assert_eq!(
        state.auth.0.get("page_access_token"),
        refreshed.0.get("page_access_token"),
        "the refreshed token replaced the first one"
    );
    assert_eq!(
        state.account.external_id.as_deref(),
        Some(text(connected, "/account/external_id"))
    );
    assert!(!state.account_verified);
    assert_eq!(
        state.last_disconnect_reason.as_deref(),
        Some(text(json("IntegrationDisconnected"), "/reason"))
    );
    assert_eq!(state.created_at, Some(time(created, "/at")));
    assert_eq!(
        state.updated_at,
        Some(time(json("IntegrationDeleted"), "/at"))
    );
}

#[test]
fn platform_credentials_events_of_the_first_release_still_read_and_fold() {
    let events: Vec<Old<PlatformEvent>> = read_all("platform", &PLATFORM);
    let mut state = PlatformApp::default();
    for old in &events {
        let (event, f) = (&old.record, &old.json);
        assert_eq!(event.event_type(), old.name);
        state.apply(event.clone());
        let (kind, when) = match event {
            PlatformEvent::PlatformCredentialsPut {
                channel,
                fields,
                at: when,
            } => {
                assert_eq!(fields, &stored_auth(f, "/fields"));
                assert_eq!(state.status, PlatformStatus::Unverified);
                assert_eq!(&state.fields, fields);
                (channel, when)
            }
            PlatformEvent::PlatformCredentialsVerified {
                channel,
                check,
                at: when,
            } => {
                assert_eq!(text(f, "/check"), "platform");
                assert_eq!(check, &VerificationCheck::Platform);
                assert_eq!(state.status, PlatformStatus::Verified);
                assert_eq!(state.check, Some(VerificationCheck::Platform));
                assert_eq!(state.verified_at, Some(*when));
                (channel, when)
            }
            PlatformEvent::PlatformCredentialsRefused {
                channel,
                reason,
                at: when,
            } => {
                assert_eq!(reason, text(f, "/reason"));
                assert_eq!(state.status, PlatformStatus::Refused);
                assert_eq!(state.refusal.as_deref(), Some(reason.as_str()));
                (channel, when)
            }
            PlatformEvent::PlatformCredentialsDeleted { channel, at: when } => {
                assert_eq!(state.status, PlatformStatus::Absent);
                assert!(state.fields.0.is_empty());
                (channel, when)
            }
        };
        assert_eq!(kind, &channel(f), "{}", old.name);
        assert_eq!(when, &time(f, "/at"), "{}", old.name);
        assert_eq!(state.updated_at, Some(*when));
    }
    assert_eq!(state.version, 4);
}

#[test]
fn inbound_events_of_the_first_release_still_read() {
    for old in read_all::<InboundEvent>("inbound", &INBOUND) {
        let (event, f) = (&old.record, &old.json);
        assert_eq!(event.kind.type_name(), old.name);
        assert_eq!(event.event_id, id(f, "/event_id"));
        assert_eq!(event.integration_id, integration_id(f));
        assert_eq!(event.workspace_id, workspace_id(f));
        assert_eq!(event.channel, channel(f));
        assert_eq!(event.conversation_key, text(f, "/conversation_key"));
        assert_eq!(event.contact.platform_id, text(f, "/contact/platform_id"));
        assert_eq!(
            event.contact.display_name.as_deref(),
            optional_text(f, "/contact/display_name")
        );
        assert_eq!(event.contact.thread_id, None, "not in the first release");
        assert_eq!(event.platform_timestamp, time(f, "/platform_timestamp"));
        assert_eq!(event.received_at, None, "not in the first release");
        assert_eq!(&event.raw, at(f, "/raw"));

        // The same item arriving again today must get the old event's id and key, or
        // consumers that drop duplicates by id would keep both.
        let again = InboundEvent::from_draft(
            event.integration_id,
            event.workspace_id.clone(),
            event.channel.clone(),
            InboundDraft {
                contact: event.contact.clone(),
                platform_timestamp: event.platform_timestamp,
                kind: event.kind.clone(),
                raw: event.raw.clone(),
            },
        );
        assert_eq!(again.event_id, event.event_id, "{}", old.name);
        assert_eq!(
            again.conversation_key, event.conversation_key,
            "{}",
            old.name
        );

        match &event.kind {
            InboundKind::MessageReceived {
                platform_message_id,
                content,
                reply_to,
                is_echo,
            } => {
                assert_eq!(platform_message_id, text(f, "/platform_message_id"));
                assert_eq!(text(f, "/content/type"), "text");
                assert_eq!(
                    content,
                    &MessageContent::Text {
                        text: text(f, "/content/text").to_owned()
                    }
                );
                assert_eq!(reply_to.as_deref(), Some(text(f, "/reply_to")));
                assert_eq!(Some(*is_echo), at(f, "/is_echo").as_bool());
            }
            InboundKind::MessageSent {
                platform_message_ids,
            } => {
                assert_eq!(platform_message_ids, &strings(f, "/platform_message_ids"));
                assert_eq!(platform_message_ids.len(), 1);
            }
            InboundKind::MessageDelivered {
                platform_message_ids,
                watermark,
            } => {
                assert_eq!(platform_message_ids, &strings(f, "/platform_message_ids"));
                assert_eq!(platform_message_ids.len(), 1);
                assert_eq!(watermark, &Some(time(f, "/watermark")));
            }
            InboundKind::MessageRead {
                platform_message_ids,
                watermark,
            } => {
                assert!(platform_message_ids.is_empty(), "a watermark-only receipt");
                assert_eq!(platform_message_ids, &strings(f, "/platform_message_ids"));
                assert_eq!(watermark, &Some(time(f, "/watermark")));
            }
            InboundKind::MessageFailed {
                platform_message_ids,
                errors,
            } => {
                assert_eq!(platform_message_ids, &strings(f, "/platform_message_ids"));
                assert_eq!(
                    errors,
                    &[PlatformError {
                        code: text(f, "/errors/0/code").to_owned(),
                        title: optional_text(f, "/errors/0/title").map(str::to_owned),
                    }]
                );
                assert!(errors[0].title.is_some());
            }
        }
    }
}

#[test]
fn send_message_commands_of_the_first_release_still_read_and_pass_the_check() {
    let old: Old<SendMessage> = read("outbound", "SendMessage");
    let (command, f) = (&old.record, &old.json);
    assert_eq!(command.message_id, id(f, "/message_id"));
    assert_eq!(command.integration_id, integration_id(f));
    assert_eq!(command.workspace_id, workspace_id(f));
    assert_eq!(command.channel, channel(f));
    assert_eq!(command.conversation_key, text(f, "/conversation_key"));
    assert_eq!(command.recipient, text(f, "/recipient"));
    assert_eq!(
        command.content.text.as_deref(),
        Some(text(f, "/content/text"))
    );
    let chips: Vec<QuickReplyOption> = at(f, "/content/quick_replies")
        .as_array()
        .expect("quick replies")
        .iter()
        .map(|chip| QuickReplyOption {
            title: text(chip, "/title").to_owned(),
            payload: text(chip, "/payload").to_owned(),
        })
        .collect();
    assert_eq!(command.content.quick_replies, chips);
    assert_eq!(chips.len(), 2);
    assert!(command.content.attachments.is_empty());
    assert_eq!(command.content.template, None, "not in the first release");
    assert_eq!(command.content.tag, None, "not in the first release");
    assert_eq!(
        command.idempotency_key.as_deref(),
        Some(text(f, "/idempotency_key"))
    );
    assert_eq!(command.requested_at, time(f, "/requested_at"));
    assert_eq!(
        command.check(),
        Ok(()),
        "an old command redelivered must still be sendable"
    );
}

#[test]
fn delivery_status_events_of_the_first_release_still_read() {
    let command: SendMessage = read("outbound", "SendMessage").record;
    for old in read_all::<DeliveryUpdate>("status", &STATUS) {
        let (update, f) = (&old.record, &old.json);
        assert_eq!(update.outcome.type_name(), old.name);
        assert_eq!(update.event_id, id(f, "/event_id"));
        assert_eq!(update.message_id, id(f, "/message_id"));
        assert_eq!(update.integration_id, integration_id(f));
        assert_eq!(update.workspace_id, workspace_id(f));
        assert_eq!(update.channel, channel(f));
        assert_eq!(update.conversation_key, text(f, "/conversation_key"));
        assert_eq!(update.at, time(f, "/at"));
        // The same outcome published again today must get the old event's id.
        assert_eq!(
            DeliveryUpdate::event_id_for(update.message_id, &update.outcome),
            update.event_id,
            "{}",
            old.name
        );
        match &update.outcome {
            DeliveryOutcome::Sent {
                platform_message_id,
                attempts,
            } => {
                assert_eq!(platform_message_id, text(f, "/platform_message_id"));
                assert_eq!(u64::from(*attempts), number(f, "/attempts"));
                // It is the outcome of the old command: today's code builds the same event.
                assert_eq!(
                    &DeliveryUpdate::new(&command, update.outcome.clone(), update.at),
                    update
                );
            }
            DeliveryOutcome::Failed {
                reason,
                detail,
                attempts,
            } => {
                assert_permanent_failure(f, reason, detail, *attempts);
            }
            DeliveryOutcome::Delivered {} | DeliveryOutcome::Read {} => {}
        }
    }
}

/// The fixture `f` of a permanent failure came through as `reason`, `detail` and `attempts`.
fn assert_permanent_failure(f: &Value, reason: &FailureReason, detail: &str, attempts: u32) {
    assert_eq!(reason, &FailureReason::Permanent);
    assert_eq!(reason.as_str(), text(f, "/reason"));
    assert_eq!(detail, text(f, "/detail"));
    assert_eq!(u64::from(attempts), number(f, "/attempts"));
}

#[test]
fn conversation_activity_of_the_first_release_still_reads() {
    for old in read_all::<ConversationActivity>("activity", &ACTIVITY) {
        let (activity, f) = (&old.record, &old.json);
        assert_eq!(activity.action.type_name(), old.name);
        assert_eq!(activity.event_id, id(f, "/event_id"));
        assert_eq!(activity.workspace_id, workspace_id(f));
        assert_eq!(activity.conversation_key, text(f, "/conversation_key"));
        assert_eq!(activity.at, time(f, "/at"));
        let (tag, kept) = match &activity.action {
            ConversationAction::Read { up_to } => {
                assert_eq!(up_to, &time(f, "/up_to"));
                ("read", true)
            }
            ConversationAction::Resolved => ("resolved", true),
            ConversationAction::Reopened => ("reopened", true),
            ConversationAction::ContactTyping => ("contact_typing", false),
        };
        assert_eq!(text(f, "/action"), tag);
        assert_eq!(activity.action.is_mark(), kept, "{}", old.name);
    }
}

#[test]
fn action_requests_and_results_of_the_first_release_still_read() {
    let requested: Old<ActionRequested> = read("action", "ActionRequested");
    let (request, f) = (&requested.record, &requested.json);
    assert_eq!(request.action_id.as_uuid(), id(f, "/action_id"));
    assert_eq!(request.workspace_id, workspace_id(f));
    assert_eq!(request.integration_id, integration_id(f));
    assert_eq!(request.channel, channel(f));
    assert_eq!(request.action.as_str(), text(f, "/action"));
    assert_eq!(&request.input, at(f, "/input"));
    assert_eq!(
        request.idempotency_key.as_deref(),
        Some(text(f, "/idempotency_key"))
    );
    assert_eq!(request.requested_at, time(f, "/requested_at"));
    assert_eq!(request.key(), text(f, "/integration_id"));

    for old in read_all::<ActionResult>("action", &ACTION[1..]) {
        let (result, f) = (&old.record, &old.json);
        assert_eq!(result.outcome.type_name(), old.name);
        assert_eq!(result.event_id, id(f, "/event_id"));
        assert_eq!(result.action_id.as_uuid(), id(f, "/action_id"));
        assert_eq!(result.workspace_id, workspace_id(f));
        assert_eq!(result.integration_id, integration_id(f));
        assert_eq!(result.channel, channel(f));
        assert_eq!(result.action.as_str(), text(f, "/action"));
        assert_eq!(result.at, time(f, "/at"));
        match &result.outcome {
            ActionOutcome::ActionCompleted { output, attempts } => {
                assert_eq!(output, at(f, "/output"));
                assert_eq!(u64::from(*attempts), number(f, "/attempts"));
                assert_eq!(result.action_id, request.action_id, "the request's result");
            }
            ActionOutcome::ActionFailed {
                reason,
                detail,
                attempts,
            } => {
                assert_permanent_failure(f, reason, detail, *attempts);
            }
        }
        // Today's code makes the same result (and so the same event id) of that request.
        let request_of_result = ActionRequested {
            action_id: result.action_id,
            workspace_id: result.workspace_id.clone(),
            integration_id: result.integration_id,
            channel: result.channel.clone(),
            action: result.action.clone(),
            ..request.clone()
        };
        assert_eq!(
            &ActionResult::new(&request_of_result, result.outcome.clone(), result.at),
            result,
            "{}",
            old.name
        );
    }
}

#[test]
fn message_content_of_the_first_release_still_reads_in_every_form() {
    let old: Old<Vec<MessageContent>> = read("inbound", "MessageContent");
    let forms = old.json.as_array().expect("an array of contents");
    assert_eq!(old.record.len(), forms.len());
    let mut tags = BTreeSet::new();
    for (content, f) in old.record.iter().zip(forms) {
        let tag = match content {
            MessageContent::Text { text: said } => {
                assert_eq!(said, text(f, "/text"));
                "text"
            }
            MessageContent::Media {
                attachments,
                caption,
            } => {
                assert_eq!(caption.as_deref(), Some(text(f, "/caption")));
                let sent = at(f, "/attachments").as_array().expect("attachments");
                assert_eq!(attachments.len(), sent.len());
                for (attachment, a) in attachments.iter().zip(sent) {
                    let kind = match text(a, "/kind") {
                        "image" => AttachmentKind::Image,
                        "video" => AttachmentKind::Video,
                        "audio" => AttachmentKind::Audio,
                        "file" => AttachmentKind::File,
                        other => panic!("no attachment kind {other} in the first release"),
                    };
                    assert_eq!(attachment.kind, kind);
                    assert_eq!(attachment.url.as_deref(), Some(text(a, "/url")));
                    assert_eq!(attachment.mime_type, None);
                    assert_eq!(attachment.media_id, None);
                }
                "media"
            }
            MessageContent::Location {
                latitude,
                longitude,
                name,
                address,
            } => {
                assert_eq!(Some(*latitude), at(f, "/latitude").as_f64());
                assert_eq!(Some(*longitude), at(f, "/longitude").as_f64());
                assert_eq!(name.as_deref(), Some(text(f, "/name")));
                assert_eq!(address, &None, "the Messenger parser gave none");
                "location"
            }
            MessageContent::Postback { payload, title } => {
                assert_eq!(payload, text(f, "/payload"));
                assert_eq!(title.as_deref(), Some(text(f, "/title")));
                "postback"
            }
            MessageContent::QuickReply {
                payload,
                text: said,
            } => {
                assert_eq!(payload, text(f, "/payload"));
                assert_eq!(said.as_deref(), Some(text(f, "/text")));
                "quick_reply"
            }
            MessageContent::Sticker { sticker_id, url } => {
                assert_eq!(sticker_id, text(f, "/sticker_id"));
                assert_eq!(url.as_deref(), Some(text(f, "/url")));
                "sticker"
            }
            MessageContent::Unsupported { kind } => {
                assert_eq!(kind, text(f, "/kind"));
                "unsupported"
            }
        };
        assert_eq!(text(f, "/type"), tag);
        tags.insert(tag);
    }
    assert_eq!(tags.len(), 7, "every form the first release had");
}

#[test]
fn failure_reasons_and_verification_checks_keep_their_first_release_names() {
    let reasons: Old<Vec<FailureReason>> = read("status", "FailureReason");
    assert_eq!(
        reasons.record,
        [
            FailureReason::RetryableExhausted,
            FailureReason::Permanent,
            FailureReason::Auth,
            FailureReason::RateLimited,
            FailureReason::Invalid,
        ]
    );
    let names = strings(&reasons.json, "");
    for (reason, name) in reasons.record.iter().zip(&names) {
        assert_eq!(reason.as_str(), name, "as_str names what serde reads");
    }
    let checks: Old<Vec<VerificationCheck>> = read("platform", "VerificationCheck");
    assert_eq!(
        checks.record,
        [VerificationCheck::Platform, VerificationCheck::FieldsOnly]
    );
}
