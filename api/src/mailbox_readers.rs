//! Wiring of the e-mail integrations' mailbox readers from configuration: the readers `serve`
//! runs when `mailbox_readers = true`, publishing through the webhooks' publisher (same
//! topic, same ack deadline) and reaching mail servers under the egress policy.

use crate::config::Config;
use anyhow::Context;
use std::time::Duration;
use switchboard_adapters::egress::EgressPolicy;
use switchboard_adapters::inbound::InboundPublisher;
use switchboard_adapters::mailbox::cursor::MailboxCursors;
use switchboard_adapters::mailbox::{
    ImapConnector, MailboxReaders, MailboxThreads, ReaderParts, ReaderTiming, ReadersSettings,
};
use switchboard_adapters::store::IntegrationStore;

/// The readers of `integrations`' connected e-mail integrations, publishing with `inbound`.
pub fn readers(
    config: &Config,
    integrations: IntegrationStore,
    inbound: InboundPublisher,
) -> anyhow::Result<MailboxReaders> {
    let egress =
        EgressPolicy::from_config(config.egress_allow.as_deref()).context("egress_allow")?;
    let pool = integrations.pool().clone();
    let parts = ReaderParts {
        connector: ImapConnector::new(egress),
        publisher: inbound,
        cursors: MailboxCursors::new(pool.clone()),
        threads: MailboxThreads::new(pool),
        timing: ReaderTiming {
            poll_interval: Duration::from_millis(config.mailbox_poll_interval_ms.max(1)),
            ..ReaderTiming::default()
        },
    };
    Ok(MailboxReaders::new(
        integrations,
        parts,
        ReadersSettings::default(),
    ))
}
