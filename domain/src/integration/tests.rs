//! Given/when/then tests for every rule of the aggregate.

use super::*;
use crate::auth::{
    AuthField, AuthFieldKind, AuthInput, AuthScheme, AuthSpec, FieldProblem, StoredAuth,
    StoredValue,
};
use crate::channel::{ChannelCatalog, ChannelKind, ChannelSpec};
use crate::ids::{IntegrationId, WorkspaceId};
use crate::integration::services::Clock;
use crate::secret::{SealError, SealedSecret, SecretSealer, SecretString};
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use serde_json::json;
use std::sync::Arc;

struct OneChannel(ChannelSpec);

impl ChannelCatalog for OneChannel {
    fn spec(&self, kind: &ChannelKind) -> Option<&ChannelSpec> {
        (kind == &self.0.kind).then_some(&self.0)
    }
    fn all(&self) -> Vec<&ChannelSpec> {
        vec![&self.0]
    }
}

/// Reversible and visibly "sealed": enough to check that plaintext never reaches an event.
struct TaggingSealer;

impl SecretSealer for TaggingSealer {
    fn seal(&self, plaintext: &SecretString, context: &str) -> Result<SealedSecret, SealError> {
        Ok(SealedSecret::from_sealed_text(format!(
            "sealed({context}):{}",
            plaintext.expose().len()
        )))
    }
    fn open(&self, _: &SealedSecret, _: &str) -> Result<SecretString, SealError> {
        Err(SealError::Corrupt)
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        at()
    }
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn telegram() -> ChannelKind {
    ChannelKind::parse("telegram").unwrap()
}

fn services() -> IntegrationServices {
    IntegrationServices {
        channels: Arc::new(OneChannel(ChannelSpec {
            kind: telegram(),
            display_name: "Telegram",
            auth: AuthSpec {
                scheme: AuthScheme::Custom,
                fields: vec![
                    AuthField::required("bot_token", AuthFieldKind::Secret, "token"),
                    AuthField::optional("username", AuthFieldKind::Text, "bot name"),
                ],
            },
            needs_platform_credentials: false,
            app_account: None,
            reply_window: None,
        })),
        sealer: Arc::new(TaggingSealer),
        clock: Arc::new(FixedClock),
    }
}

fn framework() -> TestFramework<Integration> {
    TestFramework::with(services())
}

fn id() -> IntegrationId {
    "7d3b0b7e-3a53-4c1f-9a57-6d6a1c2b9e10".parse().unwrap()
}

fn ws() -> WorkspaceId {
    "acme".parse().unwrap()
}

fn auth(value: serde_json::Value) -> AuthInput {
    serde_json::from_value(value).unwrap()
}

fn sealed_token() -> StoredAuth {
    StoredAuth(
        [(
            "bot_token".to_owned(),
            StoredValue::Sealed(SealedSecret::from_sealed_text(format!(
                "sealed({}/bot_token):10",
                id()
            ))),
        )]
        .into(),
    )
}

fn create(auth: Option<AuthInput>) -> IntegrationCommand {
    IntegrationCommand::Create {
        integration_id: id(),
        workspace_id: ws(),
        channel: telegram(),
        name: "Support bot".into(),
        auth,
    }
}

fn created(auth: StoredAuth) -> IntegrationEvent {
    IntegrationEvent::IntegrationCreated {
        integration_id: id(),
        workspace_id: ws(),
        channel: telegram(),
        name: "Support bot".into(),
        auth,
        at: at(),
    }
}

fn connected() -> IntegrationEvent {
    IntegrationEvent::IntegrationConnected {
        integration_id: id(),
        workspace_id: ws(),
        auth: StoredAuth::default(),
        account: AccountInfo::default(),
        account_verified: false,
        at: at(),
    }
}

fn disconnected() -> IntegrationEvent {
    IntegrationEvent::IntegrationDisconnected {
        integration_id: id(),
        workspace_id: ws(),
        reason: "operator".into(),
        platform_outcome: None,
        at: at(),
    }
}

fn deleted() -> IntegrationEvent {
    IntegrationEvent::IntegrationDeleted {
        integration_id: id(),
        workspace_id: ws(),
        platform_outcome: None,
        at: at(),
    }
}

#[tokio::test]
async fn create_seals_secret_fields_before_they_enter_the_event() {
    framework()
        .given_no_previous_events()
        .when_async(create(Some(auth(json!({"bot_token": "123:secret"})))))
        .await
        .then_expect_events(vec![created(sealed_token())]);
}

#[tokio::test]
async fn create_refuses_an_unknown_channel() {
    let command = IntegrationCommand::Create {
        integration_id: id(),
        workspace_id: ws(),
        channel: ChannelKind::parse("pager").unwrap(),
        name: "x".into(),
        auth: None,
    };
    framework()
        .given_no_previous_events()
        .when_async(command)
        .await
        .then_expect_error(IntegrationError::UnknownChannel(
            ChannelKind::parse("pager").unwrap(),
        ));
}

#[tokio::test]
async fn create_refuses_fields_the_channel_does_not_declare() {
    framework()
        .given_no_previous_events()
        .when_async(create(Some(auth(json!({"password": "x"})))))
        .await
        .then_expect_error(IntegrationError::InvalidCredentials(vec![FieldProblem {
            field: "password".into(),
            problem: "unknown field for this channel".into(),
        }]));
}

#[tokio::test]
async fn create_refuses_a_blank_name() {
    let command = IntegrationCommand::Create {
        integration_id: id(),
        workspace_id: ws(),
        channel: telegram(),
        name: "  ".into(),
        auth: None,
    };
    framework()
        .given_no_previous_events()
        .when_async(command)
        .await
        .then_expect_error(IntegrationError::InvalidName);
}

#[tokio::test]
async fn create_twice_is_a_conflict() {
    framework()
        .given(vec![created(StoredAuth::default())])
        .when_async(create(None))
        .await
        .then_expect_error(IntegrationError::AlreadyExists);
}

#[tokio::test]
async fn commands_on_a_missing_integration_are_not_found() {
    framework()
        .given_no_previous_events()
        .when_async(IntegrationCommand::Delete {
            platform_outcome: None,
        })
        .await
        .then_expect_error(IntegrationError::NotFound);
}

#[tokio::test]
async fn connect_needs_complete_credentials() {
    framework()
        .given(vec![created(StoredAuth::default())])
        .when_async(IntegrationCommand::Connect {
            auth: None,
            account: None,
            account_verified: false,
        })
        .await
        .then_expect_error(IntegrationError::IncompleteCredentials(vec![
            FieldProblem {
                field: "bot_token".into(),
                problem: "required".into(),
            },
        ]));
}

#[tokio::test]
async fn connect_uses_credentials_stored_at_creation() {
    framework()
        .given(vec![created(sealed_token())])
        .when_async(IntegrationCommand::Connect {
            auth: None,
            account: None,
            account_verified: false,
        })
        .await
        .then_expect_events(vec![connected()]);
}

#[tokio::test]
async fn connect_accepts_credentials_given_with_it() {
    let expected = IntegrationEvent::IntegrationConnected {
        integration_id: id(),
        workspace_id: ws(),
        auth: sealed_token(),
        account: AccountInfo {
            external_id: Some("42".into()),
            display_name: Some("@support_bot".into()),
        },
        account_verified: true,
        at: at(),
    };
    framework()
        .given(vec![created(StoredAuth::default())])
        .when_async(IntegrationCommand::Connect {
            auth: Some(auth(json!({"bot_token": "123:secret"}))),
            account: Some(AccountInfo {
                external_id: Some("42".into()),
                display_name: Some("@support_bot".into()),
            }),
            account_verified: true,
        })
        .await
        .then_expect_events(vec![expected]);
}

#[tokio::test]
async fn connecting_a_connected_integration_is_refused() {
    framework()
        .given(vec![created(sealed_token()), connected()])
        .when_async(IntegrationCommand::Connect {
            auth: None,
            account: None,
            account_verified: false,
        })
        .await
        .then_expect_error(IntegrationError::AlreadyConnected);
}

#[tokio::test]
async fn a_disconnected_integration_can_reconnect() {
    framework()
        .given(vec![created(sealed_token()), connected(), disconnected()])
        .when_async(IntegrationCommand::Connect {
            auth: None,
            account: None,
            account_verified: false,
        })
        .await
        .then_expect_events(vec![connected()]);
}

#[tokio::test]
async fn disconnect_records_the_reason() {
    framework()
        .given(vec![created(sealed_token()), connected()])
        .when_async(IntegrationCommand::Disconnect {
            reason: "operator".into(),
            platform_outcome: None,
        })
        .await
        .then_expect_events(vec![disconnected()]);
}

#[tokio::test]
async fn disconnecting_twice_is_a_no_op() {
    framework()
        .given(vec![created(sealed_token()), connected(), disconnected()])
        .when_async(IntegrationCommand::Disconnect {
            reason: "again".into(),
            platform_outcome: None,
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn disconnecting_a_never_connected_integration_is_refused() {
    framework()
        .given(vec![created(sealed_token())])
        .when_async(IntegrationCommand::Disconnect {
            reason: "x".into(),
            platform_outcome: None,
        })
        .await
        .then_expect_error(IntegrationError::NeverConnected);
}

#[tokio::test]
async fn names_are_trimmed_and_control_characters_refused() {
    let create = |name: &str| IntegrationCommand::Create {
        integration_id: id(),
        workspace_id: ws(),
        channel: telegram(),
        name: name.into(),
        auth: None,
    };
    framework()
        .given_no_previous_events()
        .when_async(create("bad\u{0}name"))
        .await
        .then_expect_error(IntegrationError::InvalidName);
    let events = framework()
        .given_no_previous_events()
        .when_async(create("  Support  "))
        .await
        .inspect_result()
        .unwrap();
    assert!(
        matches!(&events[..], [IntegrationEvent::IntegrationCreated { name, .. }] if name == "Support"),
        "{events:?}"
    );
}

#[tokio::test]
async fn settings_are_bounded_in_size_and_depth_and_refuse_nul() {
    let deep = (0..9).fold(json!(1), |inner, _| json!({ "x": inner }));
    let large = json!({ "blob": "x".repeat(70 * 1024) });
    for settings in [
        deep,
        large,
        json!({"a": "nul\u{0}"}),
        json!({"nul\u{0}": 1}),
    ] {
        framework()
            .given(vec![created(StoredAuth::default())])
            .when_async(IntegrationCommand::UpdateSettings {
                name: None,
                settings: Some(settings),
            })
            .await
            .then_expect_error(IntegrationError::InvalidSettings);
    }
    let shallow = (0..7).fold(json!(1), |inner, _| json!({ "x": inner }));
    let events = framework()
        .given(vec![created(StoredAuth::default())])
        .when_async(IntegrationCommand::UpdateSettings {
            name: None,
            settings: Some(shallow),
        })
        .await
        .inspect_result()
        .unwrap();
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn settings_must_be_an_object() {
    framework()
        .given(vec![created(StoredAuth::default())])
        .when_async(IntegrationCommand::UpdateSettings {
            name: None,
            settings: Some(json!([1])),
        })
        .await
        .then_expect_error(IntegrationError::InvalidSettings);
}

#[tokio::test]
async fn settings_update_records_only_what_changed() {
    let expected = IntegrationEvent::SettingsUpdated {
        integration_id: id(),
        workspace_id: ws(),
        name: Some("Renamed".into()),
        settings: None,
        at: at(),
    };
    framework()
        .given(vec![created(StoredAuth::default())])
        .when_async(IntegrationCommand::UpdateSettings {
            name: Some("Renamed".into()),
            settings: None,
        })
        .await
        .then_expect_events(vec![expected]);
}

#[tokio::test]
async fn refreshed_credentials_are_sealed_too() {
    let expected = IntegrationEvent::CredentialsRefreshed {
        integration_id: id(),
        workspace_id: ws(),
        auth: sealed_token(),
        at: at(),
    };
    framework()
        .given(vec![created(StoredAuth::default()), connected()])
        .when_async(IntegrationCommand::RefreshCredentials {
            auth: auth(json!({"bot_token": "123:secret"})),
        })
        .await
        .then_expect_events(vec![expected]);
}

#[tokio::test]
async fn delete_works_from_any_live_state() {
    for history in [
        vec![created(StoredAuth::default())],
        vec![created(sealed_token()), connected()],
        vec![created(sealed_token()), connected(), disconnected()],
    ] {
        framework()
            .given(history)
            .when_async(IntegrationCommand::Delete {
                platform_outcome: None,
            })
            .await
            .then_expect_events(vec![deleted()]);
    }
}

#[tokio::test]
async fn no_command_is_accepted_after_delete() {
    let commands = [
        IntegrationCommand::Connect {
            auth: None,
            account: None,
            account_verified: false,
        },
        IntegrationCommand::UpdateSettings {
            name: Some("x".into()),
            settings: None,
        },
        IntegrationCommand::RefreshCredentials {
            auth: AuthInput::default(),
        },
        IntegrationCommand::Disconnect {
            reason: "x".into(),
            platform_outcome: None,
        },
        IntegrationCommand::Delete {
            platform_outcome: None,
        },
    ];
    for command in commands {
        framework()
            .given(vec![created(sealed_token()), deleted()])
            .when_async(command)
            .await
            .then_expect_error(IntegrationError::Deleted);
    }
}

#[test]
fn state_folds_every_event() {
    use cqrs_es::Aggregate;
    let mut state = Integration::default();
    for event in [created(sealed_token()), connected(), disconnected()] {
        state.apply(event);
    }
    assert_eq!(state.status, IntegrationStatus::Disconnected);
    assert_eq!(state.version, 3);
    assert_eq!(state.last_disconnect_reason.as_deref(), Some("operator"));
    assert_eq!(state.auth, sealed_token());
}

#[tokio::test]
async fn disconnect_and_delete_record_what_the_platform_was_told() {
    let told = Some("the bot's webhook was deleted".to_owned());
    let mut expected = disconnected();
    if let IntegrationEvent::IntegrationDisconnected {
        platform_outcome, ..
    } = &mut expected
    {
        *platform_outcome = told.clone();
    }
    framework()
        .given(vec![created(sealed_token()), connected()])
        .when_async(IntegrationCommand::Disconnect {
            reason: "operator".into(),
            platform_outcome: told.clone(),
        })
        .await
        .then_expect_events(vec![expected]);
    let deleted_told = IntegrationEvent::IntegrationDeleted {
        integration_id: id(),
        workspace_id: ws(),
        platform_outcome: Some("failed: HTTP 503".into()),
        at: at(),
    };
    framework()
        .given(vec![created(sealed_token()), connected()])
        .when_async(IntegrationCommand::Delete {
            platform_outcome: Some("failed: HTTP 503".into()),
        })
        .await
        .then_expect_events(vec![deleted_told]);
}

#[test]
fn events_from_before_platform_outcomes_and_verified_accounts_still_read() {
    let old = json!({"type": "IntegrationDisconnected", "integration_id": id(), "workspace_id": "acme",
        "reason": "operator", "at": at()});
    assert_eq!(
        serde_json::from_value::<IntegrationEvent>(old).unwrap(),
        disconnected()
    );
    let old = json!({"type": "IntegrationConnected", "integration_id": id(), "workspace_id": "acme",
        "auth": {}, "account": {}, "at": at()});
    assert_eq!(
        serde_json::from_value::<IntegrationEvent>(old).unwrap(),
        connected()
    );
    let value = serde_json::to_value(disconnected()).unwrap();
    assert!(value.get("platform_outcome").is_none() && value.get("account_verified").is_none());
}

#[test]
fn events_serialise_tagged_with_their_type() {
    let value = serde_json::to_value(deleted()).unwrap();
    assert_eq!(value["type"], "IntegrationDeleted");
    assert_eq!(value["workspace_id"], "acme");
    let back: IntegrationEvent = serde_json::from_value(value).unwrap();
    assert_eq!(back, deleted());
}

#[tokio::test]
async fn the_state_alone_refuses_what_decide_refuses_before_any_platform_is_asked() {
    let connect = || IntegrationCommand::Connect {
        auth: None,
        account: None,
        account_verified: false,
    };
    let disconnect = || IntegrationCommand::Disconnect {
        reason: "operator".into(),
        platform_outcome: None,
    };
    let delete = || IntegrationCommand::Delete {
        platform_outcome: None,
    };
    let made = created(sealed_token());
    let cases: Vec<(
        Vec<IntegrationEvent>,
        IntegrationCommand,
        Option<IntegrationError>,
    )> = vec![
        (vec![], connect(), Some(IntegrationError::NotFound)),
        (
            vec![made.clone()],
            disconnect(),
            Some(IntegrationError::NeverConnected),
        ),
        (vec![made.clone()], delete(), None),
        (
            vec![made.clone(), connected()],
            connect(),
            Some(IntegrationError::AlreadyConnected),
        ),
        (vec![made.clone(), connected()], disconnect(), None),
        (
            vec![made.clone(), connected(), disconnected()],
            connect(),
            None,
        ),
        (
            vec![made.clone(), deleted()],
            delete(),
            Some(IntegrationError::Deleted),
        ),
        (
            vec![made.clone(), deleted()],
            connect(),
            Some(IntegrationError::Deleted),
        ),
    ];
    for (history, command, expected) in cases {
        let mut state = Integration::default();
        for event in history.clone() {
            cqrs_es::Aggregate::apply(&mut state, event);
        }
        assert_eq!(state.refusal(&command), expected, "{history:?} {command:?}");
        if let Some(error) = expected {
            framework()
                .given(history)
                .when_async(command)
                .await
                .then_expect_error(error);
        }
    }
}
