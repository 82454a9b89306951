//! The mailbox readers' Prometheus metrics, named in one place.

/// Mails read, by `outcome`: `published` (acknowledged by the broker) or `skipped` (no
/// sender to attribute it to; the cursor moves past it).
pub const MAILS_TOTAL: &str = "switchboard_mailbox_mails_total";
/// Sessions that ended in a failure, by `stage` (dns, egress, tcp, tls, authentication,
/// protocol, store, broker).
pub const SESSION_FAILURES_TOTAL: &str = "switchboard_mailbox_session_failures_total";
/// Mails over the size cap, recorded from their header and structure without their body.
pub const OVERSIZED_MAILS_TOTAL: &str = "switchboard_mailbox_oversized_mails_total";
/// Mailbox readers this process runs now.
pub const READERS: &str = "switchboard_mailbox_readers";
/// Seconds from fetching a mail to the broker's ack of its event.
pub const MAIL_SECONDS: &str = "switchboard_mailbox_mail_seconds";

/// Counts one mail with `outcome`.
pub fn mail(outcome: &'static str) {
    metrics::counter!(MAILS_TOTAL, "outcome" => outcome).increment(1);
}

/// Counts one failed session at `stage`.
pub fn session_failure(stage: &'static str) {
    metrics::counter!(SESSION_FAILURES_TOTAL, "stage" => stage).increment(1);
}

/// Counts one mail recorded without its body.
pub fn oversized() {
    metrics::counter!(OVERSIZED_MAILS_TOTAL).increment(1);
}
