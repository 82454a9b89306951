//! The egress checks every HTTP sender must pass, run against each sender of the registry as
//! [`ChannelRegistry::with_egress`] builds it: an `api_base` (or OAuth base) whose name
//! resolves to a private address is refused before any connection; redirects are not
//! followed; an oversized answer is not read; an attachment URL to the metadata address is
//! never handed on.
//!
//! The fakes listen on 127.0.0.1 only. Where a name must resolve to a private address, the
//! lookup answers the local listener first and the private address second: a sender that
//! checked nothing, or only the first answer, would connect to the listener (which counts
//! connections), never to the private address.

use crate::channels::fake_platform::{message, target, test_egress, FakePlatform, Reply};
use crate::channels::sender::{ChannelSender, SendError, SendTarget};
use crate::channels::ChannelRegistry;
use crate::egress::{EgressPolicy, StaticLookup};
use serde_json::json;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use switchboard_domain::message::{AttachmentKind, OutboundAttachment, OutboundContent};
use switchboard_domain::ChannelKind;

/// The channels that send over HTTP.
const HTTP_CHANNELS: &[&str] = &[
    "messenger",
    "whatsapp",
    "zalo",
    "tiktok",
    "telegram",
    "google-sheets",
    "chatbotx",
];

/// Every credential any HTTP sender asks for, so none fails for a missing one.
const CREDENTIALS: &[(&str, &str)] = &[
    ("page_id", "1122334455"),
    ("page_access_token", "EAAB-page-token"),
    ("phone_number_id", "106540352242922"),
    ("access_token", "tenant-access-token"),
    ("refresh_token", "tenant-refresh-token"),
    ("bot_token", "123456:ABC-DEF"),
    (
        "spreadsheet_id",
        "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
    ),
    ("business_id", "biz-1"),
    ("api_key", "chatbot-key"),
];

fn registry(policy: &EgressPolicy) -> ChannelRegistry {
    ChannelRegistry::with_egress(policy)
}

fn sender(registry: &ChannelRegistry, channel: &str) -> Arc<dyn ChannelSender> {
    let kind = ChannelKind::parse(channel).unwrap();
    registry
        .sender(&kind)
        .unwrap_or_else(|| panic!("{channel} sends"))
        .clone()
}

fn hello(target: &SendTarget) -> switchboard_domain::message::SendMessage {
    message(target, "recipient-1", OutboundContent::text("hello"))
}

/// A listener on 127.0.0.1 that accepts and counts connections, and says nothing.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, count)
}

/// The test allow-list, with `api.private.test` resolving to loopback, then a private address.
fn private_name_policy() -> EgressPolicy {
    let answers: Vec<IpAddr> = ["127.0.0.1", "10.44.0.7"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    EgressPolicy::parse("127.0.0.1/32")
        .unwrap()
        .with_lookup(Arc::new(
            StaticLookup::default().with("api.private.test", &answers),
        ))
}

fn assert_refused_private(channel: &str, error: &SendError) {
    assert!(
        matches!(error, SendError::Permanent(_)),
        "{channel}: {error}"
    );
    assert!(!error.is_retryable(), "{channel}: {error}");
    let text = error.to_string();
    assert!(
        text.contains("egress policy refused the destination")
            && text.contains("address 10.44.0.7 is private and not in the egress allow-list"),
        "{channel}: {text}"
    );
}

#[tokio::test]
async fn an_https_api_base_resolving_to_a_private_address_is_refused_by_every_sender() {
    let (port, connections) = counting_listener().await;
    let registry = registry(&private_name_policy());
    let base = format!("https://api.private.test:{port}");
    for channel in HTTP_CHANNELS {
        let target = target(channel, &base, CREDENTIALS);
        let error = sender(&registry, channel)
            .send(&target, &hello(&target))
            .await
            .unwrap_err();
        assert_refused_private(channel, &error);
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_oauth_base_resolving_to_a_private_address_is_refused() {
    let (port, connections) = counting_listener().await;
    let registry = registry(&private_name_policy());
    let base = format!("https://api.private.test:{port}");
    for (channel, platform) in [
        (
            "zalo",
            [("app_id", "zalo-app"), ("app_secret", "zalo-secret")],
        ),
        (
            "google-sheets",
            [
                ("client_id", "google-client"),
                ("client_secret", "google-secret"),
            ],
        ),
    ] {
        let mut target = target(channel, &base, CREDENTIALS);
        let opened = CREDENTIALS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), switchboard_domain::SecretString::new(*v)))
            .collect();
        let platform = platform
            .into_iter()
            .chain([("oauth_base", base.as_str())])
            .map(|(k, v)| (k.to_owned(), switchboard_domain::SecretString::new(v)))
            .collect();
        target.secrets = crate::channels::webhook::WebhookSecrets::new(opened, platform);
        let error = sender(&registry, channel)
            .refresh_credentials(&target)
            .await
            .unwrap_err();
        assert_refused_private(channel, &error);
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn plain_http_and_loopback_api_bases_need_the_allow_list() {
    let fake = FakePlatform::start(Reply::json(200, json!({}))).await;
    let strict = registry(&EgressPolicy::default());
    let https_loopback = fake.base.replace("http://", "https://");
    for channel in HTTP_CHANNELS {
        for base in [fake.base.as_str(), https_loopback.as_str()] {
            let target = target(channel, base, CREDENTIALS);
            let error = sender(&strict, channel)
                .send(&target, &hello(&target))
                .await
                .unwrap_err();
            assert!(
                matches!(error, SendError::Permanent(_)),
                "{channel}: {error}"
            );
            assert!(
                error
                    .to_string()
                    .contains("address 127.0.0.1 is loopback and not in the egress allow-list"),
                "{channel} {base}: {error}"
            );
        }
    }
    let plain_public = target("telegram", "http://8.8.8.8", CREDENTIALS);
    let error = sender(&strict, "telegram")
        .send(&plain_public, &hello(&plain_public))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("only https"), "{error}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_redirect_from_an_allowed_fake_is_not_followed() {
    let elsewhere = FakePlatform::start(Reply::json(200, json!({"ok": true}))).await;
    let fake = FakePlatform::start(
        Reply::json(302, json!({})).with_header("location", &format!("{}/stolen", elsewhere.base)),
    )
    .await;
    let registry = ChannelRegistry::with_egress_http(&test_egress());
    for channel in HTTP_CHANNELS {
        let target = target(channel, &fake.base, CREDENTIALS);
        let error = sender(&registry, channel)
            .send(&target, &hello(&target))
            .await
            .unwrap_err();
        assert!(!error.is_retryable(), "{channel}: {error}");
    }
    assert_eq!(fake.requests().len(), HTTP_CHANNELS.len());
    assert!(
        elsewhere.requests().is_empty(),
        "a redirect carried a tenant's request elsewhere: {:?}",
        elsewhere.requests()
    );
}

#[tokio::test]
async fn an_oversized_successful_answer_is_not_read() {
    let padding = "x".repeat(crate::egress::MAX_RESPONSE_BYTES);
    let telegram_ok = json!({"ok": true, "result": {"message_id": 4711, "chat": {"id": 1}}});
    let graph_ok = json!({"recipient_id": "r", "message_id": "m_1"});
    for (channel, mut answer) in [("telegram", telegram_ok), ("messenger", graph_ok)] {
        let fake = FakePlatform::start(Reply::json(200, answer.clone())).await;
        let registry = ChannelRegistry::with_egress_http(&test_egress());
        let target = target(channel, &fake.base, CREDENTIALS);
        let sender = sender(&registry, channel);
        // The same answer, small, is a success: only its size makes the difference.
        sender.send(&target, &hello(&target)).await.unwrap();
        answer["padding"] = json!(padding);
        fake.then(Reply::json(200, answer));
        let error = sender.send(&target, &hello(&target)).await.unwrap_err();
        assert_eq!(
            error,
            SendError::Permanent(format!(
                "the platform answered HTTP 200 OK with a body over {} bytes",
                crate::egress::MAX_RESPONSE_BYTES
            )),
            "{channel}"
        );
    }
}

#[tokio::test]
async fn an_oversized_error_answer_is_classified_by_its_status() {
    let padding = "x".repeat(crate::egress::MAX_RESPONSE_BYTES);
    let fake = FakePlatform::start(Reply::json(503, json!({"padding": padding}))).await;
    let registry = ChannelRegistry::with_egress_http(&test_egress());
    let target = target("messenger", &fake.base, CREDENTIALS);
    let error = sender(&registry, "messenger")
        .send(&target, &hello(&target))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
}

#[tokio::test]
async fn an_attachment_url_to_the_metadata_address_is_never_handed_on() {
    let fake = FakePlatform::start(Reply::json(200, json!({}))).await;
    let registry = ChannelRegistry::with_egress_http(&test_egress());
    for channel in [
        "messenger",
        "whatsapp",
        "telegram",
        "chatbotx",
        "google-sheets",
    ] {
        for url in [
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::ffff:169.254.169.254]/",
        ] {
            let target = target(channel, &fake.base, CREDENTIALS);
            let content = OutboundContent {
                attachments: vec![OutboundAttachment {
                    kind: AttachmentKind::Image,
                    url: url.into(),
                }],
                ..OutboundContent::default()
            };
            let command = message(&target, "recipient-1", content);
            let error = sender(&registry, channel)
                .send(&target, &command)
                .await
                .unwrap_err();
            assert!(
                matches!(error, SendError::Permanent(_)),
                "{channel}: {error}"
            );
            let text = error.to_string();
            assert!(
                text.contains("attachment 1: egress policy refused the destination")
                    && text.contains("169.254.169.254")
                    && text.contains("link-local"),
                "{channel} {url}: {text}"
            );
            assert!(!text.contains("meta-data"), "{text}");
        }
    }
    assert!(fake.requests().is_empty());
}
