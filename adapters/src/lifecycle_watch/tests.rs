//! Which lifecycle records name a change, and of what.

use super::*;
use crate::kafka::CloudEvent;
use chrono::Utc;

fn record(event_type: &str, key: &str) -> ConsumedRecord {
    ConsumedRecord {
        key: Some(key.to_owned()),
        event: Some(CloudEvent {
            id: uuid::Uuid::new_v4(),
            event_type: event_type.to_owned(),
            source: "switchboard/tests".into(),
            subject: Some(key.to_owned()),
            time: Utc::now(),
            sequence: Some(1),
            actor: None,
        }),
        ..ConsumedRecord::default()
    }
}

#[test]
fn an_integration_event_names_its_integration() {
    let id = IntegrationId::new();
    let change = LifecycleChange::of(&record(
        "switchboard.integration.IntegrationDisconnected.v1",
        &id.to_string(),
    ));
    assert_eq!(change, Some(LifecycleChange::Integration(id)));
}

#[test]
fn a_platform_event_names_its_channel() {
    let change = LifecycleChange::of(&record(
        "switchboard.platform.PlatformCredentialsPut.v1",
        "messenger",
    ));
    assert_eq!(
        change,
        Some(LifecycleChange::PlatformApp(
            ChannelKind::parse("messenger").unwrap()
        ))
    );
}

#[test]
fn other_records_and_bad_keys_name_nothing() {
    let other = record("switchboard.conversation.ConversationRead.v1", "x");
    assert_eq!(LifecycleChange::of(&other), None);
    let bad_key = record(
        "switchboard.integration.IntegrationCreated.v1",
        "not-a-uuid",
    );
    assert_eq!(LifecycleChange::of(&bad_key), None);
    let no_envelope = ConsumedRecord {
        key: Some(IntegrationId::new().to_string()),
        ..ConsumedRecord::default()
    };
    assert_eq!(LifecycleChange::of(&no_envelope), None);
}
