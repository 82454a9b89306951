//! The service's own Messenger parser and publisher, used to make ceiling C's records.

use super::payload;
use super::setup::{PAGE_ID, WORKSPACE};
use anyhow::Context;
use axum::http::HeaderMap;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_adapters::channels::meta::{APP_SECRET, SIGNATURE_HEADER};
use switchboard_adapters::channels::webhook::{RawWebhook, WebhookChannel, WebhookSecrets};
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::inbound::{InboundPublisher, WebhookTarget};
use switchboard_adapters::kafka::OutgoingRecord;
use switchboard_domain::integration::IntegrationStatus;
use switchboard_domain::message::InboundEvent;
use switchboard_domain::{ChannelKind, SecretString};

/// Verifies and parses payloads exactly as the service does for one integration.
pub struct Parser {
    webhook: Arc<dyn WebhookChannel>,
    target: WebhookTarget,
}

impl Parser {
    /// A parser for `integration_id`, whose platform app secret is `secret`.
    pub fn new(integration_id: &str, secret: &str) -> anyhow::Result<Self> {
        let channel = ChannelKind::parse("messenger").context("no messenger channel")?;
        let webhook = ChannelRegistry::builtin()
            .webhook(&channel)
            .cloned()
            .context("messenger has no webhook")?;
        let platform = BTreeMap::from([(APP_SECRET.to_owned(), SecretString::new(secret))]);
        let target = WebhookTarget {
            integration_id: integration_id.parse()?,
            workspace_id: WORKSPACE.parse()?,
            channel,
            status: IntegrationStatus::Connected,
            // The integration's own page: deliveries naming another are refused.
            secrets: WebhookSecrets::new(
                BTreeMap::from([("page_id".to_owned(), SecretString::new(PAGE_ID))]),
                platform,
            ),
        };
        Ok(Self { webhook, target })
    }

    /// The events the service makes of `payload`.
    pub fn events(&self, payload: &payload::Payload) -> anyhow::Result<Vec<InboundEvent>> {
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, payload.signature.clone());
        let raw = RawWebhook {
            headers: &headers,
            body: &payload.body,
        };
        let verified = self.webhook.verify(raw, &self.target.secrets)?;
        let drafts = self.webhook.parse(&verified)?;
        Ok(InboundPublisher::events(&self.target, drafts))
    }

    /// The Kafka records `publisher` makes of the events of `payloads`.
    pub fn records(
        &self,
        publisher: &InboundPublisher,
        payloads: &[payload::Payload],
    ) -> anyhow::Result<Vec<OutgoingRecord>> {
        let mut records = Vec::with_capacity(payloads.len());
        for payload in payloads {
            for event in self.events(payload)? {
                records.push(publisher.record(&event, None));
            }
        }
        Ok(records)
    }
}
