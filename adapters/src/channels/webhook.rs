//! The inbound half of the channel contract: a platform's handshake, signature check and
//! payload parser. Verification is a typestate: only [`RawWebhook::verify_with`] makes a
//! [`VerifiedWebhook`], and parsers accept nothing else, so an unverified body cannot be parsed.
//!
//! # Tenant safety: every item must name the integration's own account
//!
//! A platform signs deliveries with one app-wide secret (Meta's app secret, Zalo's OA secret
//! key, TikTok's client secret), so a valid signature proves the platform sent the body, not
//! that it was meant for the integration whose URL it was posted to. After the signature check
//! a channel whose bodies name an account therefore binds the [`VerifiedWebhook`] to the
//! integration's [`OwnAccount`] (read from the integration's own auth fields, never from the
//! platform's credentials), and its parser compares every item with it through an
//! [`AccountCheck`]:
//!
//! | channel | what the item names | compared with the auth field |
//! |---|---|---|
//! | `messenger` | `entry[].id` | `page_id` |
//! | `whatsapp` | `entry[].changes[].value.metadata.phone_number_id`, and `entry[].id` | `phone_number_id`, and `business_account_id` when recorded |
//! | `zalo` | `oa_id`, else the OA side of the event (`recipient.id` of a user's event, `sender.id` of the OA's sends and of receipts) | `oa_id` |
//! | `tiktok` | `user_openid`, else the `business_account` side's `id` | `business_id` |
//!
//! A delivery to a platform app's shared URL (`/webhooks/{channel}`) is instead routed item by
//! item to the integration recording the account the item names, then parsed bound to that
//! integration's account in the same way (see `channels::app_webhook`).
//!
//! `telegram` and `chatbotx` bodies name no account: they are bound to the integration by its
//! own secret (`webhook_secret`, `api_key`), which is read from the integration only, never from
//! a platform-wide credential of the same name.
//!
//! The policy, per delivery:
//! - items naming another account, or naming none, are *foreign*: dropped, counted in
//!   `switchboard_webhook_items_foreign_total{channel}` and logged with the account ids only
//!   (never the payload); the integration's own items are kept and the request is answered 200,
//!   so the platform does not redeliver them;
//! - when every item of the delivery is foreign, parsing fails with
//!   [`WebhookError::account_mismatch`] (403, nothing published; see its docs for the problem
//!   type);
//! - an integration with no recorded account (its required account field is missing) accepts
//!   no delivery: verification fails with [`WebhookError::MissingSecret`] naming the field (503,
//!   so the platform retries once the integration is connected with its account). The GET
//!   handshake needs no account and still works.
//!
//! # Items that name no contact
//!
//! A verified item of the integration's own account that names no contact (no sender id) is
//! never dropped: it becomes an `Unsupported` message of the reserved contact
//! [`UNATTRIBUTED_CONTACT`], keeping its raw item, and is counted in
//! `switchboard_webhook_items_unattributed_total{channel}` (see [`unattributed`]).
//!
//! # Replay windows
//!
//! Channels whose signature covers a time (TikTok's `t`, Zalo's body `timestamp`) refuse a
//! signed time further than a [`ReplayWindow`] from ours, either way.

use crate::channels::app_webhook::AppWebhook;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use subtle::ConstantTimeEq;
use switchboard_domain::message::{Contact, InboundDraft, InboundKind, MessageContent};
use switchboard_domain::SecretString;

/// Body limit of a channel that does not declare its own.
pub const DEFAULT_WEBHOOK_BODY_BYTES: usize = 1024 * 1024;

/// Why a webhook was refused. Each maps to one HTTP status at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or wrong signature/token: 401.
    #[error("webhook signature missing or invalid: {0}")]
    Unauthorized(&'static str),
    /// A verification handshake with the wrong token: 403.
    #[error("verification handshake refused: {0}")]
    HandshakeRefused(&'static str),
    /// The channel has no handshake: 405.
    #[error("this channel has no verification handshake")]
    NoHandshake,
    /// The body is not what the platform sends: 400.
    #[error("webhook body is malformed: {0}")]
    Malformed(String),
    /// A secret the check needs is not configured: 503 (an operator must fix it; the platform retries).
    #[error("webhook secret '{0}' is not configured")]
    MissingSecret(&'static str),
    /// Every item of a verified delivery names another account than the integration's: 403.
    #[error("every item names another account than this integration's")]
    AccountMismatch,
}

impl WebhookError {
    /// Every item of a verified delivery names another account than the integration's: 403,
    /// nothing is published.
    pub fn account_mismatch() -> Self {
        Self::AccountMismatch
    }

    /// Whether this is [`Self::account_mismatch`].
    pub fn is_account_mismatch(&self) -> bool {
        *self == Self::account_mismatch()
    }
}

/// The secrets a channel's checks may use: the integration's own (opened) auth fields, then
/// the platform's shared credentials.
#[derive(Default, Clone)]
pub struct WebhookSecrets {
    integration: BTreeMap<String, SecretString>,
    platform: BTreeMap<String, SecretString>,
}

impl WebhookSecrets {
    /// Secrets from an integration's opened auth fields and the platform's credentials.
    pub fn new(
        integration: BTreeMap<String, SecretString>,
        platform: BTreeMap<String, SecretString>,
    ) -> Self {
        Self {
            integration,
            platform,
        }
    }

    /// The integration's field `name`, else the platform credential `name`.
    pub fn get(&self, name: &'static str) -> Result<&SecretString, WebhookError> {
        self.integration
            .get(name)
            .or_else(|| self.platform.get(name))
            .ok_or(WebhookError::MissingSecret(name))
    }

    /// The integration's own field `name`, never a platform credential: for what must tell one
    /// integration from another (its account, its per-integration secret). Missing or blank is
    /// [`WebhookError::MissingSecret`].
    pub fn integration_field(&self, name: &'static str) -> Result<&SecretString, WebhookError> {
        self.integration
            .get(name)
            .filter(|value| !value.expose().trim().is_empty())
            .ok_or(WebhookError::MissingSecret(name))
    }
}

/// The platform account an integration is connected to, by auth field name (`page_id`,
/// `phone_number_id`, `oa_id`, `business_id`…): what every item of a delivery posted to the
/// integration's URL must name. Ids are public, so `Debug` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnAccount {
    ids: BTreeMap<&'static str, String>,
    /// Set by the app-level router (see [`Self::routed_by`]).
    routed_by: Option<&'static str>,
}

impl OwnAccount {
    /// The account recorded in the integration's own auth fields: every `required` field (else
    /// [`WebhookError::MissingSecret`] naming it: an integration without its account accepts no
    /// delivery), and those of `optional` that are recorded.
    pub fn from_integration(
        secrets: &WebhookSecrets,
        required: &[&'static str],
        optional: &[&'static str],
    ) -> Result<Self, WebhookError> {
        let mut ids = BTreeMap::new();
        for &field in required {
            ids.insert(
                field,
                secrets.integration_field(field)?.expose().trim().to_owned(),
            );
        }
        for &field in optional {
            if let Ok(value) = secrets.integration_field(field) {
                ids.insert(field, value.expose().trim().to_owned());
            }
        }
        Ok(Self {
            ids,
            routed_by: None,
        })
    }

    /// An account of the given `(field, id)` pairs.
    pub fn of<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = (&'static str, S)>,
        S: Into<String>,
    {
        Self {
            ids: ids.into_iter().map(|(f, id)| (f, id.into())).collect(),
            routed_by: None,
        }
    }

    /// The id recorded under `field`.
    pub fn id(&self, field: &str) -> Option<&str> {
        self.ids.get(field).map(String::as_str)
    }

    /// This account as the app-level router binds it (see `channels::app_webhook`): a delivery
    /// to the platform app's shared URL carries other integrations' items too, so a unit naming
    /// another id (or none) in `field` is skipped without being counted as foreign (so a
    /// delivery with nothing of ours parses to no draft rather than a mismatch). Units naming
    /// our id in `field` are checked on every recorded field as usual.
    pub fn routed_by(mut self, field: &'static str) -> Self {
        self.routed_by = Some(field);
        self
    }
}

/// How far a signed time may be from ours unless configured otherwise.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Platform setting that overrides a channel's replay tolerance, in seconds
/// (`<channel>.signature_tolerance_secs`).
pub const TOLERANCE_SETTING: &str = "signature_tolerance_secs";

/// How far the time a platform signed may be from ours, before or after, to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct ReplayWindow {
    /// The tolerance, unless the platform setting [`TOLERANCE_SETTING`] overrides it.
    pub tolerance: Duration,
    /// The clock, in Unix seconds; the system clock by default, pinned in tests.
    pub now: fn() -> i64,
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self {
            tolerance: DEFAULT_TOLERANCE,
            now: unix_now,
        }
    }
}

fn unix_now() -> i64 {
    Utc::now().timestamp()
}

impl ReplayWindow {
    /// The configured tolerance: [`TOLERANCE_SETTING`] when it is a number, else `self.tolerance`.
    pub fn tolerance_for(&self, secrets: &WebhookSecrets) -> Duration {
        secrets
            .get(TOLERANCE_SETTING)
            .ok()
            .and_then(|value| value.expose().trim().parse::<u64>().ok())
            .map_or(self.tolerance, Duration::from_secs)
    }

    /// Whether `signed_at` (Unix seconds) is within the tolerance of now, either way.
    pub fn admits(&self, signed_at: i64, secrets: &WebhookSecrets) -> bool {
        let skew = (i128::from((self.now)()) - i128::from(signed_at)).unsigned_abs();
        skew <= u128::from(self.tolerance_for(secrets).as_secs())
    }
}

/// A webhook as it arrived: headers and the raw body bytes, not yet trusted.
#[derive(Debug, Clone, Copy)]
pub struct RawWebhook<'a> {
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The raw body, exactly as received (signatures are over these bytes).
    pub body: &'a [u8],
}

/// A webhook whose signature checked out. Only [`RawWebhook::verify_with`] makes one; a
/// channel whose bodies name an account then binds it to the integration's [`OwnAccount`].
#[derive(Debug, Clone)]
pub struct VerifiedWebhook<'a> {
    body: &'a [u8],
    account: Option<OwnAccount>,
}

impl<'a> VerifiedWebhook<'a> {
    /// The verified raw body.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Binds the verified body to the account of the integration it was posted for.
    pub fn bound_to(mut self, account: OwnAccount) -> Self {
        self.account = Some(account);
        self
    }

    /// The bound account, which must record `field`: a body bound to no account, or to one
    /// without `field`, is refused ([`WebhookError::MissingSecret`]) rather than parsed unchecked.
    pub fn own_account(&self, field: &'static str) -> Result<&OwnAccount, WebhookError> {
        self.account
            .as_ref()
            .filter(|account| account.id(field).is_some())
            .ok_or(WebhookError::MissingSecret(field))
    }

    /// The verified body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, WebhookError> {
        serde_json::from_slice(self.body).map_err(|e| WebhookError::Malformed(e.to_string()))
    }
}

impl<'a> RawWebhook<'a> {
    /// The header `name` as text, when present and ASCII.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Runs `check` and, when it passes, vouches for the body.
    pub fn verify_with(
        self,
        check: impl FnOnce(&Self) -> Result<(), WebhookError>,
    ) -> Result<VerifiedWebhook<'a>, WebhookError> {
        check(&self)?;
        Ok(VerifiedWebhook {
            body: self.body,
            account: None,
        })
    }
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Compares a lowercase/uppercase hex signature with the expected digest, in constant time.
pub fn hex_signature_matches(given_hex: &str, expected: &[u8]) -> bool {
    match hex::decode(given_hex.trim()) {
        Ok(given) => constant_time_eq(&given, expected),
        Err(_) => false,
    }
}

/// HMAC-SHA256 of `parts` (concatenated) under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The inbound contract every webhook channel implements.
pub trait WebhookChannel: Send + Sync {
    /// Largest body this platform sends.
    fn max_body_bytes(&self) -> usize {
        DEFAULT_WEBHOOK_BODY_BYTES
    }

    /// The header that carries the signature (or secret token), when the channel has one: a
    /// request without it is refused with 401 before its body is read.
    fn signature_header(&self) -> Option<&'static str> {
        None
    }

    /// Answers the platform's GET verification handshake with the text to echo.
    fn handshake(
        &self,
        _query: &HashMap<String, String>,
        _secrets: &WebhookSecrets,
    ) -> Result<String, WebhookError> {
        Err(WebhookError::NoHandshake)
    }

    /// Checks the signature over the raw body.
    fn verify<'a>(
        &self,
        raw: RawWebhook<'a>,
        secrets: &WebhookSecrets,
    ) -> Result<VerifiedWebhook<'a>, WebhookError>;

    /// Turns a verified body into one draft per item. A bad item becomes an `Unsupported`
    /// message (see [`unattributed`] for one that names no contact), never a reason to drop its
    /// siblings; items naming another account are dropped (see the module docs); only a body
    /// that is not the platform's envelope at all is `Malformed`.
    fn parse(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<InboundDraft>, WebhookError>;

    /// The app-level half, for a channel whose platform app delivers every integration's items
    /// to one URL (see `channels::app_webhook`); `None` when the channel has no shared app.
    fn app(&self) -> Option<&dyn AppWebhook> {
        None
    }
}

/// Sorts the items of one verified delivery by the account they name: the integration's own
/// are kept, the others (foreign) are counted, logged without payload and dropped, and a
/// delivery of nothing but foreign items is refused. See the module docs for the policy.
#[derive(Debug)]
pub struct AccountCheck<'a> {
    channel: &'static str,
    account: &'a OwnAccount,
    own: u64,
    foreign: u64,
    foreign_accounts: BTreeSet<String>,
}

/// At most this many foreign account ids are logged per delivery.
const LOGGED_FOREIGN_ACCOUNTS: usize = 8;

impl<'a> AccountCheck<'a> {
    /// A check of `channel`'s items against `account`.
    pub fn new(channel: &'static str, account: &'a OwnAccount) -> Self {
        Self {
            channel,
            account,
            own: 0,
            foreign: 0,
            foreign_accounts: BTreeSet::new(),
        }
    }

    /// Whether a unit of the delivery (an entry, a change, an event) carrying `items` items
    /// belongs to the integration, counting them as own or foreign. `named` pairs an auth field
    /// with the id the unit names for it (`None`: it names none): for every pair whose field the
    /// integration records, the unit must name that id; pairs of fields it does not record are
    /// not compared, and a unit compared on nothing is foreign.
    ///
    /// An account bound by the app-level router ([`OwnAccount::routed_by`]) skips, uncounted,
    /// the units that do not name its id in the routing field: they are other integrations'.
    pub fn admit(&mut self, named: &[(&'static str, Option<&str>)], items: usize) -> bool {
        if let Some(routing) = self.account.routed_by {
            let ours = self.account.id(routing);
            let id = named
                .iter()
                .find(|(field, _)| *field == routing)
                .and_then(|(_, id)| id.map(str::trim));
            if ours.is_none() || id != ours {
                return false;
            }
        }
        let mut compared = false;
        let mut own = true;
        for &(field, id) in named {
            let Some(ours) = self.account.id(field) else {
                continue;
            };
            compared = true;
            own &= id.map(str::trim) == Some(ours);
        }
        let own = compared && own;
        if own {
            self.own += items as u64;
        } else if items > 0 {
            self.foreign += items as u64;
            for &(field, id) in named {
                if self.foreign_accounts.len() < LOGGED_FOREIGN_ACCOUNTS {
                    self.foreign_accounts
                        .insert(format!("{field}={}", id.unwrap_or("<none>")));
                }
            }
        }
        own
    }

    /// The drafts of the own items, once the foreign ones are counted and logged; refused with
    /// [`WebhookError::account_mismatch`] when every item was foreign.
    pub fn finish(self, drafts: Vec<InboundDraft>) -> Result<Vec<InboundDraft>, WebhookError> {
        if self.foreign == 0 {
            return Ok(drafts);
        }
        metrics::counter!("switchboard_webhook_items_foreign_total", "channel" => self.channel)
            .increment(self.foreign);
        tracing::warn!(
            channel = self.channel,
            foreign = self.foreign,
            own = self.own,
            account = ?self.account,
            named = ?self.foreign_accounts,
            "dropped webhook items naming another account"
        );
        if self.own == 0 {
            Err(WebhookError::account_mismatch())
        } else {
            Ok(drafts)
        }
    }
}

/// The reserved contact of items that name no contact. No platform id starts with `~`.
pub const UNATTRIBUTED_CONTACT: &str = "~unattributed";

/// The draft of a verified item that names no contact: an `Unsupported` message of `kind` for
/// [`UNATTRIBUTED_CONTACT`], keeping `raw`, counted in
/// `switchboard_webhook_items_unattributed_total{channel}` and logged without payload. Its
/// message id is `platform_message_id` when the platform gave one, else one derived from the
/// item's bytes, so a redelivery repeats it and two different items never share it.
pub fn unattributed(
    channel: &'static str,
    kind: &str,
    platform_message_id: Option<String>,
    platform_timestamp: DateTime<Utc>,
    raw: Value,
) -> InboundDraft {
    metrics::counter!("switchboard_webhook_items_unattributed_total", "channel" => channel)
        .increment(1);
    tracing::warn!(
        channel,
        kind,
        "a webhook item names no contact; kept as unsupported"
    );
    let kind = if kind.is_empty() { "unknown" } else { kind };
    let platform_message_id = platform_message_id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| {
            let digest = Sha256::digest(raw.to_string().as_bytes());
            format!("unattributed:{}", hex::encode(&digest[..16]))
        });
    InboundDraft {
        contact: Contact::new(UNATTRIBUTED_CONTACT),
        platform_timestamp,
        kind: InboundKind::MessageReceived {
            platform_message_id,
            content: MessageContent::Unsupported {
                kind: kind.to_owned(),
            },
            reply_to: None,
            is_echo: false,
        },
        raw,
    }
}

/// An id as a platform writes it: a non-empty string, or a number's digits.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_signatures_compare_by_value() {
        let digest = hmac_sha256(b"key", &[b"body"]);
        assert!(hex_signature_matches(&hex::encode(&digest), &digest));
        assert!(hex_signature_matches(&hex::encode_upper(&digest), &digest));
        assert!(!hex_signature_matches("zz", &digest));
        assert!(!hex_signature_matches(&hex::encode(&digest[1..]), &digest));
    }

    #[test]
    fn the_own_account_is_read_from_the_integration_only() {
        let secrets = WebhookSecrets::new(
            [
                ("page_id".to_owned(), SecretString::new(" 42 ")),
                ("blank".to_owned(), SecretString::new("  ")),
            ]
            .into(),
            [("waba".to_owned(), SecretString::new("7"))].into(),
        );
        let account = OwnAccount::from_integration(&secrets, &["page_id"], &["waba", "blank"]);
        assert_eq!(account, Ok(OwnAccount::of([("page_id", "42")])));
        for required in ["waba", "blank", "nope"] {
            assert_eq!(
                OwnAccount::from_integration(&secrets, &[required], &[]).err(),
                Some(WebhookError::MissingSecret(required))
            );
        }
    }

    #[test]
    fn a_verified_body_bound_to_no_account_is_not_parsed_unchecked() {
        let headers = HeaderMap::new();
        let raw = RawWebhook {
            headers: &headers,
            body: b"{}",
        };
        let verified = raw.verify_with(|_| Ok(())).unwrap();
        assert_eq!(
            verified.own_account("page_id").err(),
            Some(WebhookError::MissingSecret("page_id"))
        );
        let bound = verified.bound_to(OwnAccount::of([("oa_id", "1")]));
        assert!(bound.own_account("page_id").is_err());
        assert_eq!(bound.own_account("oa_id").unwrap().id("oa_id"), Some("1"));
    }

    #[test]
    fn every_recorded_field_must_be_named_and_equal() {
        let account = OwnAccount::of([("phone", "1"), ("waba", "2")]);
        let mut check = AccountCheck::new("whatsapp", &account);
        assert!(check.admit(&[("phone", Some("1")), ("waba", Some(" 2"))], 1));
        assert!(!check.admit(&[("phone", Some("1")), ("waba", Some("3"))], 1));
        assert!(!check.admit(&[("phone", Some("1")), ("waba", None)], 1));
        assert!(!check.admit(&[("phone", Some("9")), ("waba", Some("2"))], 1));
        assert!(check.admit(&[("phone", Some("1")), ("waba", Some("2")), ("x", None)], 1));
        let phone_only = OwnAccount::of([("phone", "1")]);
        let mut check = AccountCheck::new("whatsapp", &phone_only);
        assert!(check.admit(&[("phone", Some("1")), ("waba", Some("9"))], 1));
        assert!(
            !check.admit(&[("waba", Some("9"))], 1),
            "compared on nothing"
        );
    }

    #[test]
    fn only_a_delivery_of_nothing_but_foreign_items_is_refused() {
        let account = OwnAccount::of([("page", "1")]);
        let draft = unattributed("messenger", "x", Some("m".into()), Utc::now(), Value::Null);
        let run = |units: &[(&str, usize)]| {
            let mut check = AccountCheck::new("messenger", &account);
            for (page, items) in units {
                check.admit(&[("page", Some(page))], *items);
            }
            check.finish(vec![draft.clone()])
        };
        assert_eq!(run(&[("1", 1)]).unwrap().len(), 1);
        assert_eq!(run(&[("1", 1), ("2", 3)]).unwrap().len(), 1);
        assert_eq!(
            run(&[]).unwrap().len(),
            1,
            "nothing foreign, nothing refused"
        );
        assert_eq!(run(&[("2", 0)]).unwrap().len(), 1, "an empty foreign unit");
        assert!(run(&[("2", 1)]).unwrap_err().is_account_mismatch());
        assert!(run(&[("1", 0), ("2", 1)])
            .unwrap_err()
            .is_account_mismatch());
    }

    #[test]
    fn the_account_mismatch_is_recognisable_as_such() {
        let error = WebhookError::account_mismatch();
        assert!(matches!(error, WebhookError::AccountMismatch));
        assert!(error.is_account_mismatch());
        assert!(error.to_string().contains("another account"));
        assert!(
            !WebhookError::HandshakeRefused("hub.mode must be 'subscribe'").is_account_mismatch()
        );
    }

    #[test]
    fn the_replay_window_is_symmetric_and_configurable() {
        let window = ReplayWindow {
            tolerance: Duration::from_secs(10),
            now: || 1_000,
        };
        let none = WebhookSecrets::default();
        for (at, admitted) in [(990, true), (1_010, true), (989, false), (1_011, false)] {
            assert_eq!(window.admits(at, &none), admitted, "{at}");
        }
        assert!(!window.admits(i64::MIN, &none) && !window.admits(i64::MAX, &none));
        let wider = WebhookSecrets::new(
            Default::default(),
            [(TOLERANCE_SETTING.to_owned(), SecretString::new("100"))].into(),
        );
        assert!(window.admits(900, &wider));
        assert!(!window.admits(899, &wider));
    }

    #[test]
    fn unattributed_items_get_ids_stable_per_item_and_distinct_between_items() {
        let at = Utc::now();
        let id = |raw: Value| match unattributed("c", "k", None, at, raw).kind {
            InboundKind::MessageReceived {
                platform_message_id,
                ..
            } => platform_message_id,
            other => panic!("{other:?}"),
        };
        let a = serde_json::json!({"text": "a", "timestamp": 1});
        assert_eq!(id(a.clone()), id(a.clone()));
        assert_ne!(id(a), id(serde_json::json!({"text": "b", "timestamp": 1})));
        let given = unattributed("c", "", Some("mid".into()), at, Value::Null);
        assert_eq!(given.contact.platform_id, UNATTRIBUTED_CONTACT);
        assert!(matches!(
            given.kind,
            InboundKind::MessageReceived { ref platform_message_id, content: MessageContent::Unsupported { ref kind }, .. }
                if platform_message_id == "mid" && kind == "unknown"
        ));
    }

    #[test]
    fn secrets_prefer_the_integration_over_the_platform() {
        let secrets = WebhookSecrets::new(
            [("token".to_owned(), SecretString::new("mine"))].into(),
            [
                ("token".to_owned(), SecretString::new("platform")),
                ("app_secret".to_owned(), SecretString::new("s")),
            ]
            .into(),
        );
        assert_eq!(secrets.get("token").unwrap().expose(), "mine");
        assert_eq!(secrets.get("app_secret").unwrap().expose(), "s");
        assert_eq!(
            secrets.get("nope").err(),
            Some(WebhookError::MissingSecret("nope"))
        );
    }
}
