//! Given/when/then tests for every rule of the aggregate.

use super::*;
use crate::auth::{AuthField, AuthFieldKind, AuthInput, AuthScheme, AuthSpec, StoredValue};
use crate::channel::{ChannelCatalog, ChannelKind, ChannelSpec};
use crate::integration::services::Clock;
use crate::integration::IntegrationServices;
use crate::secret::{SealError, SealedSecret, SecretSealer, SecretString};
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;
use serde_json::json;
use std::sync::Arc;

/// Zalo with a platform app, Telegram without one.
struct Catalog(Vec<ChannelSpec>, AuthSpec);

impl ChannelCatalog for Catalog {
    fn spec(&self, kind: &ChannelKind) -> Option<&ChannelSpec> {
        self.0.iter().find(|s| &s.kind == kind)
    }
    fn all(&self) -> Vec<&ChannelSpec> {
        self.0.iter().collect()
    }
    fn platform_fields(&self, kind: &ChannelKind) -> Option<&AuthSpec> {
        (kind == &zalo()).then_some(&self.1)
    }
}

/// Reversible without showing the plaintext: the text reversed, bound to its context.
struct ReversingSealer;

impl SecretSealer for ReversingSealer {
    fn seal(&self, plaintext: &SecretString, context: &str) -> Result<SealedSecret, SealError> {
        let reversed: String = plaintext.expose().chars().rev().collect();
        Ok(SealedSecret::from_sealed_text(format!(
            "{context}|{reversed}"
        )))
    }
    fn open(&self, sealed: &SealedSecret, context: &str) -> Result<SecretString, SealError> {
        let (bound, reversed) = sealed.as_str().split_once('|').ok_or(SealError::Corrupt)?;
        if bound != context {
            return Err(SealError::Corrupt);
        }
        Ok(SecretString::new(
            reversed.chars().rev().collect::<String>(),
        ))
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        at()
    }
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn zalo() -> ChannelKind {
    ChannelKind::parse("zalo").unwrap()
}

fn telegram() -> ChannelKind {
    ChannelKind::parse("telegram").unwrap()
}

fn spec(kind: ChannelKind) -> ChannelSpec {
    ChannelSpec {
        kind,
        display_name: "x",
        auth: AuthSpec {
            scheme: AuthScheme::Custom,
            fields: vec![],
        },
        needs_platform_credentials: false,
        app_account: None,
        reply_window: None,
    }
}

fn services() -> IntegrationServices {
    let platform = AuthSpec {
        scheme: AuthScheme::Custom,
        fields: vec![
            AuthField::required("app_id", AuthFieldKind::Text, "app"),
            AuthField::required("app_secret", AuthFieldKind::Secret, "secret"),
            AuthField::optional("oauth_base", AuthFieldKind::Url, "override"),
        ],
    };
    IntegrationServices {
        channels: Arc::new(Catalog(vec![spec(zalo()), spec(telegram())], platform)),
        sealer: Arc::new(ReversingSealer),
        clock: Arc::new(FixedClock),
    }
}

fn framework() -> TestFramework<PlatformApp> {
    TestFramework::with(services())
}

fn fields(value: serde_json::Value) -> AuthInput {
    serde_json::from_value(value).unwrap()
}

fn put(secret: &str) -> PlatformCommand {
    PlatformCommand::Put {
        channel: zalo(),
        fields: fields(json!({"app_id": "42", "app_secret": secret})),
    }
}

/// The event a put of `secret` records.
fn put_event(secret: &str) -> PlatformEvent {
    let mut app = PlatformApp::default();
    let event = app.decide(put(secret), &services()).unwrap().unwrap();
    app.apply(event.clone());
    event
}

fn verified() -> PlatformEvent {
    PlatformEvent::PlatformCredentialsVerified {
        channel: zalo(),
        check: VerificationCheck::Platform,
        at: at(),
    }
}

#[test]
fn a_complete_put_is_recorded_with_its_secrets_sealed() {
    let PlatformEvent::PlatformCredentialsPut { fields, .. } = put_event("hunter2") else {
        panic!("not a put");
    };
    assert_eq!(fields.0["app_id"], StoredValue::Plain(json!("42")));
    let StoredValue::Sealed(sealed) = &fields.0["app_secret"] else {
        panic!("the secret is not sealed");
    };
    assert!(!sealed.as_str().contains("hunter2"));
    assert!(sealed.as_str().starts_with("platform:zalo/app_secret|"));
}

#[test]
fn a_put_names_missing_unknown_and_badly_typed_fields() {
    let command = PlatformCommand::Put {
        channel: zalo(),
        fields: fields(json!({"app_secret": "s", "oauth_base": "ftp://x", "extra": 1})),
    };
    let Err(PlatformError::InvalidFields(problems)) = framework()
        .given_no_previous_events()
        .when(command)
        .inspect_result()
    else {
        panic!("accepted");
    };
    let mut named: Vec<String> = problems.into_iter().map(|p| p.field).collect();
    named.sort();
    assert_eq!(named, ["app_id", "extra", "oauth_base"]);
}

#[test]
fn channels_without_a_platform_app_or_unknown_ones_are_refused() {
    let put_for = |channel: ChannelKind| PlatformCommand::Put {
        channel,
        fields: AuthInput::default(),
    };
    framework()
        .given_no_previous_events()
        .when(put_for(telegram()))
        .then_expect_error(PlatformError::NoPlatformApp(telegram()));
    let unknown = ChannelKind::parse("carrier-pigeon").unwrap();
    framework()
        .given_no_previous_events()
        .when(put_for(unknown.clone()))
        .then_expect_error(PlatformError::UnknownChannel(unknown));
}

#[test]
fn putting_the_stored_fields_again_records_nothing_and_a_change_records_a_put() {
    framework()
        .given(vec![put_event("s1"), verified()])
        .when(put("s1"))
        .then_expect_events(vec![]);
    framework()
        .given(vec![put_event("s1"), verified()])
        .when(put("s2"))
        .then_expect_events(vec![put_event("s2")]);
    let mut app = PlatformApp::default();
    for event in [put_event("s1"), verified(), put_event("s2")] {
        app.apply(event);
    }
    assert_eq!(
        app.status,
        PlatformStatus::Unverified,
        "a change needs verifying again"
    );
}

#[test]
fn an_outcome_is_recorded_for_the_version_it_checked_only() {
    framework()
        .given(vec![put_event("s1")])
        .when(PlatformCommand::RecordVerification {
            checked_version: 1,
            outcome: VerificationOutcome::Verified(VerificationCheck::Platform),
        })
        .then_expect_events(vec![verified()]);
    framework()
        .given(vec![put_event("s1"), put_event("s2")])
        .when(PlatformCommand::RecordVerification {
            checked_version: 1,
            outcome: VerificationOutcome::Verified(VerificationCheck::Platform),
        })
        .then_expect_error(PlatformError::Stale);
}

#[test]
fn a_refusal_is_kept_until_the_fields_change() {
    let refused = PlatformEvent::PlatformCredentialsRefused {
        channel: zalo(),
        reason: "invalid client secret".into(),
        at: at(),
    };
    framework()
        .given(vec![put_event("s1")])
        .when(PlatformCommand::RecordVerification {
            checked_version: 1,
            outcome: VerificationOutcome::Refused("invalid client secret".into()),
        })
        .then_expect_events(vec![refused.clone()]);
    let mut app = PlatformApp::default();
    app.apply(put_event("s1"));
    app.apply(refused);
    assert_eq!(app.status, PlatformStatus::Refused);
    assert_eq!(app.refusal.as_deref(), Some("invalid client secret"));
    app.apply(put_event("s2"));
    assert_eq!(
        (app.status, app.refusal),
        (PlatformStatus::Unverified, None)
    );
}

#[test]
fn deleting_forgets_the_fields_and_allows_a_new_put() {
    let deleted = PlatformEvent::PlatformCredentialsDeleted {
        channel: zalo(),
        at: at(),
    };
    framework()
        .given(vec![put_event("s1")])
        .when(PlatformCommand::Delete)
        .then_expect_events(vec![deleted.clone()]);
    framework()
        .given_no_previous_events()
        .when(PlatformCommand::Delete)
        .then_expect_error(PlatformError::NotFound);
    framework()
        .given(vec![put_event("s1"), deleted.clone()])
        .when(PlatformCommand::Delete)
        .then_expect_error(PlatformError::NotFound);
    let mut app = PlatformApp::default();
    app.apply(put_event("s1"));
    app.apply(deleted);
    assert!(app.fields.0.is_empty());
    assert!(app.decide(put("s1"), &services()).unwrap().is_some());
}
