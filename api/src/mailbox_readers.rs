//! Wiring of the e-mail integrations' mailbox readers from configuration: the readers `serve`
//! and `switchboard adapters` run when `mailbox_readers = true` (whichever process takes a
//! mailbox's lock reads it), publishing to `messages.received` with the webhooks' ack
//! deadline and reaching mail servers under the egress policy.

use crate::config::Config;
use std::time::Duration;
use switchboard_adapters::inbound::InboundPublisher;
use switchboard_adapters::kafka::EventProducer;
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
    let egress = config.egress_policy()?;
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
        max_mail_bytes: config.mailbox_max_mail_bytes,
    };
    Ok(MailboxReaders::new(
        integrations,
        parts,
        ReadersSettings::default(),
    ))
}

/// The readers of `integrations`' connected e-mail integrations with a producer of their own
/// (the process has no webhook publisher to share).
pub fn from_config(
    config: &Config,
    integrations: IntegrationStore,
) -> anyhow::Result<MailboxReaders> {
    let producer = EventProducer::new(&config.kafka())?;
    let inbound = InboundPublisher::new(
        producer,
        config.topics().received,
        Duration::from_millis(config.webhook_ack_timeout_ms),
    );
    readers(config, integrations, inbound)
}
