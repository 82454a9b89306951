//! The app-level half of every channel that has one: which channels do, the accounts a body
//! names, and a parse bound by the router keeping only its account's items without counting
//! the others as foreign.

use super::{AccountTally, AppWebhook, NamedAccount};
use crate::channels::compliance::{
    assert_account_mismatch, counting, fixture, secrets_of, ItemCounts,
};
use crate::channels::webhook::{OwnAccount, RawWebhook, VerifiedWebhook, WebhookError};
use crate::channels::{messenger, tiktok, whatsapp, zalo, ChannelRegistry};
use http::HeaderMap;
use serde_json::{json, Value};
use switchboard_domain::message::{InboundDraft, InboundKind};
use switchboard_domain::{AuthFieldKind, ChannelCatalog, ChannelKind};

fn app_of(channel: &str) -> std::sync::Arc<dyn crate::channels::webhook::WebhookChannel> {
    ChannelRegistry::builtin()
        .webhook(&ChannelKind::parse(channel).unwrap())
        .cloned()
        .unwrap()
}

/// `body` as if its signature had checked out, bound to no account.
fn trusted(body: &[u8], f: impl FnOnce(VerifiedWebhook<'_>)) {
    let headers = HeaderMap::new();
    let verified = RawWebhook {
        headers: &headers,
        body,
    }
    .verify_with(|_| Ok(()))
    .unwrap();
    f(verified)
}

fn named(id: Option<&str>, items: usize) -> NamedAccount {
    NamedAccount {
        id: id.map(str::to_owned),
        items,
    }
}

fn message_ids(drafts: &[InboundDraft]) -> Vec<String> {
    drafts
        .iter()
        .filter_map(|d| match &d.kind {
            InboundKind::MessageReceived {
                platform_message_id,
                ..
            } => Some(platform_message_id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_tally_groups_by_trimmed_id_in_order_and_drops_empty_accounts() {
    let mut tally = AccountTally::default();
    tally.add(Some("b"), 1);
    tally.add(Some(" a "), 2);
    tally.add(None, 1);
    tally.add(Some("  "), 1);
    tally.add(Some("b"), 3);
    tally.add(Some("c"), 0);
    assert_eq!(
        tally.finish(),
        [named(Some("b"), 4), named(Some("a"), 2), named(None, 2)]
    );
}

#[test]
fn exactly_the_channels_that_declare_an_app_account_have_an_app_half() {
    let registry = ChannelRegistry::builtin();
    let mut with_app = Vec::new();
    for spec in registry.all() {
        let app = registry.webhook(&spec.kind).and_then(|w| w.app()).is_some();
        assert_eq!(app, spec.app_account.is_some(), "{}", spec.kind);
        if let Some(field) = spec.app_account {
            with_app.push(spec.kind.to_string());
            let declared = spec.auth.fields.iter().find(|f| f.name == field);
            let declared = declared.unwrap_or_else(|| panic!("{}: {field} undeclared", spec.kind));
            assert!(declared.required, "{}: {field} must be required", spec.kind);
            assert_eq!(
                declared.kind,
                AuthFieldKind::Text,
                "{}: {field} is stored in plain text, so it can be indexed",
                spec.kind
            );
        }
    }
    assert_eq!(with_app, ["messenger", "whatsapp", "zalo", "tiktok"]);
}

fn page_entry(page: Value, mids: &[&str]) -> Value {
    let messaging: Vec<Value> = mids
        .iter()
        .map(|mid| {
            json!({"sender": {"id": "42"}, "recipient": {"id": "x"}, "timestamp": 1_700_000_000_000i64,
                "message": {"mid": mid, "text": "hi"}})
        })
        .collect();
    json!({"id": page, "time": 1_700_000_000_000i64, "messaging": messaging})
}

#[test]
fn messenger_names_each_entry_page_and_a_routed_parse_keeps_only_its_own() {
    let channel = app_of(messenger::KIND);
    let app = channel.app().unwrap();
    let body = json!({"object": "page", "entry": [
        page_entry(json!("111"), &["a1", "a2"]),
        page_entry(json!(222), &["b1"]),
        page_entry(json!("333"), &[]),
        page_entry(Value::Null, &["nobody"]),
        page_entry(json!(" 111 "), &["a3"]),
    ]})
    .to_string();
    trusted(body.as_bytes(), |verified| {
        assert_eq!(
            app.accounts(&verified).unwrap(),
            [named(Some("111"), 3), named(Some("222"), 1), named(None, 1)],
            "grouped by page in order, the page without items left out"
        );
        let own = OwnAccount::of([(messenger::PAGE_ID, "111")]);
        let (routed, counts) = counting(messenger::KIND, || {
            let bound = verified
                .clone()
                .bound_to(own.clone().routed_by(messenger::PAGE_ID));
            channel.parse(&bound).unwrap()
        });
        assert_eq!(message_ids(&routed), ["a1", "a2", "a3"]);
        assert_eq!(
            counts,
            ItemCounts::default(),
            "the other pages are not foreign"
        );
        let (direct, counts) = counting(messenger::KIND, || {
            channel.parse(&verified.clone().bound_to(own)).unwrap()
        });
        assert_eq!(message_ids(&direct), ["a1", "a2", "a3"]);
        assert_eq!(counts.foreign, 2, "on the integration's own URL they are");
        let elsewhere = OwnAccount::of([(messenger::PAGE_ID, "999")]).routed_by(messenger::PAGE_ID);
        let (nothing, counts) = counting(messenger::KIND, || {
            channel.parse(&verified.bound_to(elsewhere)).unwrap()
        });
        assert!(nothing.is_empty());
        assert_eq!(counts, ItemCounts::default());
    });
    trusted(br#"{"object": "user", "entry": []}"#, |verified| {
        assert!(matches!(
            app.accounts(&verified),
            Err(WebhookError::Malformed(_))
        ));
    });
}

fn phone_change(phone: &str, mids: &[&str]) -> Value {
    let messages: Vec<Value> = mids
        .iter()
        .map(|mid| json!({"from": "1650", "id": mid, "timestamp": "1749416383", "type": "text", "text": {"body": "hi"}}))
        .collect();
    json!({"field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"phone_number_id": phone}, "messages": messages}})
}

#[test]
fn whatsapp_names_each_change_phone_and_still_checks_the_business_account() {
    let channel = app_of(whatsapp::KIND);
    let app = channel.app().unwrap();
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "waba-1", "changes": [phone_change("p1", &["m1"]), phone_change("p2", &["m2", "m3"])]},
        {"id": "waba-2", "changes": [phone_change("p1", &["m4"]),
            {"field": "account_update", "value": {"metadata": {"phone_number_id": "p9"}}}]},
    ]})
    .to_string();
    let own = |phone, waba| {
        OwnAccount::of([
            (whatsapp::PHONE_NUMBER_ID, phone),
            (whatsapp::BUSINESS_ACCOUNT_ID, waba),
        ])
        .routed_by(whatsapp::PHONE_NUMBER_ID)
    };
    trusted(body.as_bytes(), |verified| {
        assert_eq!(
            app.accounts(&verified).unwrap(),
            [named(Some("p1"), 2), named(Some("p2"), 2)],
            "only messages changes carry items"
        );
        let (drafts, counts) = counting(whatsapp::KIND, || {
            channel
                .parse(&verified.clone().bound_to(own("p1", "waba-1")))
                .unwrap()
        });
        assert_eq!(message_ids(&drafts), ["m1"]);
        assert_eq!(
            counts.foreign, 1,
            "our phone under another business account is foreign"
        );
        let (drafts, counts) = counting(whatsapp::KIND, || {
            channel
                .parse(&verified.clone().bound_to(own("p2", "waba-1")))
                .unwrap()
        });
        assert_eq!(message_ids(&drafts), ["m2", "m3"]);
        assert_eq!(counts, ItemCounts::default());
        assert_account_mismatch(channel.parse(&verified.bound_to(own("p2", "waba-9"))));
    });
}

#[test]
fn zalo_and_tiktok_name_the_one_account_of_their_event() {
    for (channel, fixture_path, account) in [
        (zalo::KIND, "zalo/text.json", "388613280878808645"),
        (zalo::KIND, "zalo/oa_send_text.json", "388613280878808645"),
        (
            tiktok::KIND,
            "tiktok/receive_text.json",
            "-000bX2dLq0QkK5k7U9Hn3Qz1r8sVhXyTbA",
        ),
    ] {
        let webhook = app_of(channel);
        let app = webhook.app().unwrap();
        let body = fixture(fixture_path);
        trusted(&body, |verified| {
            assert_eq!(
                app.accounts(&verified).unwrap(),
                [named(Some(account), 1)],
                "{fixture_path}"
            );
        });
        trusted(b"{}", |verified| {
            assert!(
                matches!(app.accounts(&verified), Err(WebhookError::Malformed(_))),
                "{channel}"
            );
        });
    }
}

#[test]
fn the_own_account_is_never_read_from_a_platform_credential() {
    for (channel, field) in [
        (messenger::KIND, messenger::PAGE_ID),
        (whatsapp::KIND, whatsapp::PHONE_NUMBER_ID),
        (zalo::KIND, zalo::OA_ID),
        (tiktok::KIND, tiktok::BUSINESS_ID),
    ] {
        let webhook = app_of(channel);
        let app: &dyn AppWebhook = webhook.app().unwrap();
        let platform_only = secrets_of(&[], &[(field, "7")]);
        assert_eq!(
            app.own_account(&platform_only).err(),
            Some(WebhookError::MissingSecret(field)),
            "{channel}"
        );
        let own = app
            .own_account(&secrets_of(&[(field, " 7 ")], &[]))
            .unwrap();
        assert_eq!(own.id(field), Some("7"), "{channel}");
    }
}
