//! Crypto-shredding and key-encryption-key rotation: deleting an integration destroys its data
//! key, so its sealed fields in events, outbox rows and topic records no longer open, even with
//! the configured keyring; `switchboard secrets rewrap` moves the data keys to a new keyring
//! key without rewriting events.

use crate::helpers::{read_topic, TestApp, TestKafka};
use crate::processes::switchboard;
use axum::http::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters::kafka::EventProducer;
use switchboard_adapters::store::{EnvelopeSealer, OutboxRelay, XChaChaSealer};
use switchboard_domain::auth::seal_context;
use switchboard_domain::{SealedSecret, SecretSealer};

/// A sealed auth field found in a stored or published payload.
#[derive(Debug)]
struct Sealed {
    field: String,
    text: String,
}

/// Every `"field": {"sealed": "…"}` anywhere in `value`.
fn sealed_fields(value: &Value, found: &mut Vec<Sealed>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match inner.get("sealed").and_then(Value::as_str) {
                    Some(text) => found.push(Sealed {
                        field: key.clone(),
                        text: text.to_owned(),
                    }),
                    None => sealed_fields(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| sealed_fields(item, found)),
        _ => {}
    }
}

/// The sealed fields of integration `id` in the events table, the outbox and the topic.
struct Copies {
    events: Vec<Sealed>,
    outbox: Vec<Sealed>,
    topic: Vec<Sealed>,
}

impl Copies {
    fn all(&self) -> impl Iterator<Item = (&'static str, &Sealed)> {
        let tag = |name: &'static str| move |s| (name, s);
        self.events
            .iter()
            .map(tag("events"))
            .chain(self.outbox.iter().map(tag("outbox")))
            .chain(self.topic.iter().map(tag("topic")))
    }
}

async fn stored(pool: &sqlx::PgPool, table: &str, id: &str) -> Vec<Sealed> {
    let payloads: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT payload::text FROM {table} WHERE aggregate_id = $1"
    ))
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut found = Vec::new();
    for payload in payloads {
        sealed_fields(&serde_json::from_str(&payload).unwrap(), &mut found);
    }
    found
}

/// The copies of `id`'s sealed fields, once the relay published every outbox row.
async fn copies(app: &TestApp, kafka: &TestKafka, id: &str) -> Copies {
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool())
        .await
        .unwrap();
    let records = usize::try_from(records).unwrap();
    let topic = read_topic(
        &kafka.brokers(),
        &app.config.topics().lifecycle,
        records,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(topic.len(), records, "lifecycle records");
    let mut in_topic = Vec::new();
    for record in topic.iter().filter(|r| r.key.as_deref() == Some(id)) {
        sealed_fields(
            &serde_json::from_slice(&record.payload).unwrap(),
            &mut in_topic,
        );
    }
    Copies {
        events: stored(&app.pool(), "events", id).await,
        outbox: stored(&app.pool(), "outbox", id).await,
        topic: in_topic,
    }
}

/// Creates a telegram integration whose credentials (sealed in its creation event) are
/// `secret` and `hook-secret`; returns its id.
async fn with_secrets(app: &TestApp, secret: &str) -> String {
    let (status, body) = app
        .call(
            "POST",
            "/v1/workspaces/acme/integrations",
            Some(serde_json::json!({"channel": "telegram", "name": "Support",
                "auth": {"bot_token": secret, "webhook_secret": "hook-secret"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn publish_all(app: &TestApp) {
    let producer = EventProducer::new(&app.config.kafka()).unwrap();
    let relay = OutboxRelay::new(app.pool(), producer, app.config.topics().lifecycle);
    while relay.publish_batch().await.unwrap() > 0 {}
}

fn keyring_text(app: &TestApp) -> String {
    app.config.secret_keys.as_ref().unwrap().expose().to_owned()
}

/// A sealer as a separate process holding the configured keyring builds it.
fn another_process(app: &TestApp, keys: &str) -> Arc<EnvelopeSealer> {
    EnvelopeSealer::new(app.pool(), XChaChaSealer::from_config(keys).unwrap())
}

/// What `sealed` opens to for integration `id`, through a fresh sealer on the database.
async fn open(
    sealer: &Arc<EnvelopeSealer>,
    id: &str,
    sealed: &Sealed,
) -> Result<String, switchboard_domain::SealError> {
    let _key = sealer.hold_for_opening(id).await.unwrap();
    sealer
        .open(
            &SealedSecret::from_sealed_text(&sealed.text),
            &seal_context(id, &sealed.field),
        )
        .map(|secret| secret.expose().to_owned())
}

#[tokio::test]
async fn deleting_an_integration_shreds_its_secrets_in_events_outbox_and_topic() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let doomed_secret = format!("tok-{}", uuid::Uuid::new_v4());
    let kept_secret = format!("tok-{}", uuid::Uuid::new_v4());
    let doomed = with_secrets(&app, &doomed_secret).await;
    let kept = with_secrets(&app, &kept_secret).await;
    publish_all(&app).await;
    let keys = keyring_text(&app);
    let expected = |field: &str, secret: &str| match field {
        "bot_token" => secret.to_owned(),
        _ => "hook-secret".to_owned(),
    };

    // Before: every copy is sealed under the integration's data key and opens.
    let before = copies(&app, &kafka, &doomed).await;
    for (place, copies) in [
        ("events", &before.events),
        ("outbox", &before.outbox),
        ("topic", &before.topic),
    ] {
        assert_eq!(copies.len(), 2, "{place}: bot_token and webhook_secret");
    }
    let sealer = another_process(&app, &keys);
    for (place, sealed) in before.all() {
        assert!(sealed.text.starts_with("sb2:"), "{place}: {}", sealed.text);
        assert_eq!(
            open(&sealer, &doomed, sealed).await.unwrap(),
            expected(&sealed.field, &doomed_secret),
            "{place} {}",
            sealed.field
        );
    }

    let (status, body) = app
        .call(
            "DELETE",
            &format!("/v1/workspaces/acme/integrations/{doomed}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    publish_all(&app).await;

    // After: the same copies (still there: events are immutable) open nowhere.
    let after = copies(&app, &kafka, &doomed).await;
    assert_eq!(after.events.len(), 2);
    assert_eq!(after.outbox.len(), 2);
    assert_eq!(after.topic.len(), 2);
    let wrapped: Option<String> =
        sqlx::query_scalar("SELECT wrapped_key FROM data_keys WHERE owner = $1")
            .bind(&doomed)
            .fetch_one(&app.pool())
            .await
            .unwrap();
    assert_eq!(wrapped, None, "the wrapped data key is gone");
    let fresh = another_process(&app, &keys);
    let keyring = XChaChaSealer::from_config(&keys).unwrap();
    let state = &app.app.as_ref().unwrap().state.integrations;
    for (place, sealed) in after.all() {
        assert!(
            open(&fresh, &doomed, sealed).await.is_err(),
            "{place}: opened after deletion"
        );
        let context = seal_context(&doomed, &sealed.field);
        let text = SealedSecret::from_sealed_text(&sealed.text);
        assert!(
            keyring.open(&text, &context).is_err(),
            "{place}: the keyring alone opens it"
        );
        // Nor in the process that deleted it.
        let _key = state.hold_keys(doomed.parse().unwrap()).await.unwrap();
        assert!(state.sealer().open(&text, &context).is_err(), "{place}");
    }

    // Another integration's secrets are untouched, in all three places.
    let others = copies(&app, &kafka, &kept).await;
    assert_eq!(others.all().count(), 6);
    for (place, sealed) in others.all() {
        assert_eq!(
            open(&fresh, &kept, sealed).await.unwrap(),
            expected(&sealed.field, &kept_secret),
            "{place}"
        );
    }
}

#[tokio::test]
async fn a_deleted_integration_never_gets_a_new_data_key() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let id = with_secrets(&app, "tok-1").await;
    let uri = format!("/v1/workspaces/acme/integrations/{id}");
    assert_eq!(
        app.call("DELETE", &uri, None).await.0,
        StatusCode::NO_CONTENT
    );
    // New credentials for it are refused (410) and make no key.
    let (status, _) = app
        .call(
            "POST",
            &format!("{uri}/credentials"),
            Some(serde_json::json!({"auth": {"bot_token": "tok-2"}})),
        )
        .await;
    assert_eq!(status, StatusCode::GONE);
    let sealer = another_process(&app, &keyring_text(&app));
    assert!(!sealer.hold_for_sealing(&id).await.unwrap().is_live());
}

#[tokio::test]
async fn secrets_rewrap_moves_data_keys_to_the_new_keyring_key_without_rewriting_events() {
    let kafka = TestKafka::new();
    let old = XChaChaSealer::generate_entry("old");
    let new = XChaChaSealer::generate_entry("new");
    let app = TestApp::new_with(&kafka, |config| {
        config.secret_keys = Some(switchboard_domain::SecretString::new(old.clone()));
    })
    .await;
    let secret = format!("tok-{}", uuid::Uuid::new_v4());
    let id = with_secrets(&app, &secret).await;
    let gone = with_secrets(&app, "tok-gone").await;
    let uri = format!("/v1/workspaces/acme/integrations/{gone}");
    assert_eq!(
        app.call("DELETE", &uri, None).await.0,
        StatusCode::NO_CONTENT
    );
    let events_before = stored(&app.pool(), "events", &id).await;
    let bot_token = events_before
        .iter()
        .find(|s| s.field == "bot_token")
        .unwrap();

    // The new key alone cannot unwrap the data key yet.
    let new_only = another_process(&app, &new);
    assert!(new_only.hold_for_opening(&id).await.is_err());

    let rewrap = |keys: String| {
        let output = switchboard(&[
            ("SWITCHBOARD_DATABASE_URL", app.config.database_url.clone()),
            ("SWITCHBOARD_SECRET_KEYS", keys),
        ])
        .args(["secrets", "rewrap"])
        .output()
        .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    // Every live data key (this integration's, and any other owner's, such as platform
    // credentials) is wrapped by the old key; the deleted integration's is a tombstone.
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM data_keys WHERE wrapped_key IS NOT NULL")
            .fetch_one(&app.pool())
            .await
            .unwrap();
    assert!(live >= 1);
    let report = rewrap(format!("{new},{old}"));
    assert_eq!(
        report,
        serde_json::json!({"rewrapped": live, "already_current": 0, "destroyed": 1})
    );
    let report = rewrap(format!("{new},{old}"));
    assert_eq!(
        report,
        serde_json::json!({"rewrapped": 0, "already_current": live, "destroyed": 1})
    );

    // Events are as they were, and open with a keyring without the old key.
    let events_after = stored(&app.pool(), "events", &id).await;
    assert_eq!(
        events_before.iter().map(|s| &s.text).collect::<Vec<_>>(),
        events_after.iter().map(|s| &s.text).collect::<Vec<_>>()
    );
    assert_eq!(open(&new_only, &id, bot_token).await.unwrap(), secret);
    let kek_ids: Vec<Option<String>> =
        sqlx::query_scalar("SELECT kek_id FROM data_keys ORDER BY owner")
            .fetch_all(&app.pool())
            .await
            .unwrap();
    assert!(kek_ids
        .iter()
        .all(|k| k.is_none() || k.as_deref() == Some("new")));
}
