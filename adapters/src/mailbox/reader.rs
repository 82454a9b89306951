//! The reader of one mailbox: a session on its IMAP server that reads every mail after its
//! stored cursor, then waits for more (IDLE where the server offers it, a poll otherwise), and
//! reconnects with backoff when the server goes away.
//!
//! # Guarantees
//! Each mail becomes one `MessageReceived` on `messages.received`, published and acknowledged
//! by the broker before the folder's cursor moves past its UID, so a crash or a lost server
//! re-reads at most the mails whose ack was not yet stored: nothing acknowledged is lost.
//! Its event id is derived from its `Message-ID`, so whatever is read twice (a re-read, a mail
//! appended twice, a renumbered folder) repeats the same id and consumers drop it. Mail is
//! fetched with `BODY.PEEK[]`: reading never marks it seen. UIDs are read in ascending order,
//! one mail at a time, so the cursor never passes an unacknowledged mail.
//!
//! Each batch's `RFC822.SIZE` is read before any body: a mail over
//! [`ReaderParts::max_mail_bytes`] is fetched as its header and `BODYSTRUCTURE` only and
//! published without its body (`oversized`), so one huge mail neither exhausts memory nor
//! stops the folder.

use crate::inbound::InboundPublisher;
use crate::kafka::trace_context::current_traceparent;
use crate::mailbox::connect::{ImapConnector, ImapSession};
use crate::mailbox::cursor::{Cursor, MailboxCursors};
use crate::mailbox::error::MailboxError;
use crate::mailbox::metrics;
use crate::mailbox::oversized::{attachments, parse_oversized};
use crate::mailbox::parse::{parse_mail, MailPosition, ParsedMail};
use crate::mailbox::settings::MailboxSettings;
use crate::mailbox::threads::MailboxThreads;
use futures::TryStreamExt;
use std::future::Future;
use std::time::{Duration, Instant};
use switchboard_domain::message::InboundEvent;
use switchboard_domain::{ChannelKind, IntegrationId, WorkspaceId};
use tokio::sync::watch;
use tracing::Instrument;

/// The longest one IMAP command (SELECT, SEARCH, a FETCH batch, DONE) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How many mails one FETCH asks for.
const FETCH_BATCH: usize = 20;
/// The largest mail fetched whole unless configured otherwise (25 MiB).
pub const DEFAULT_MAX_MAIL_BYTES: u32 = 25 * 1024 * 1024;

/// How a reader waits and retries.
#[derive(Debug, Clone)]
pub struct ReaderTiming {
    /// The pause between two looks at a server without IDLE.
    pub poll_interval: Duration,
    /// How long one IDLE lasts without a word from the server before it is renewed (RFC
    /// 2177 asks for less than 29 minutes); a dead server is noticed within it.
    pub idle_timeout: Duration,
    /// The pauses before the first, second, … reconnect (the last one repeats).
    pub backoff: Vec<Duration>,
    /// The pause after the server refused the login (new credentials are needed).
    pub refused_login_backoff: Duration,
}

impl Default for ReaderTiming {
    /// A poll a minute, IDLE renewed every 10 minutes, reconnects after 1 s doubling to 5 min.
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
            backoff: [1, 2, 4, 8, 16, 32, 64, 128, 300]
                .map(Duration::from_secs)
                .to_vec(),
            refused_login_backoff: Duration::from_secs(900),
        }
    }
}

/// Whose mailbox a reader reads.
#[derive(Debug, Clone)]
pub struct MailboxTarget {
    /// The e-mail integration.
    pub integration_id: IntegrationId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its mailbox.
    pub settings: MailboxSettings,
}

/// What every reader of a process shares.
#[derive(Clone)]
pub struct ReaderParts {
    /// Opens sessions.
    pub connector: ImapConnector,
    /// Publishes to `messages.received`.
    pub publisher: InboundPublisher,
    /// Where folders' positions are kept.
    pub cursors: MailboxCursors,
    /// Where threads' last mails are kept.
    pub threads: MailboxThreads,
    /// Waits and retries.
    pub timing: ReaderTiming,
    /// The largest mail (its `RFC822.SIZE`) whose body is fetched; larger ones are recorded
    /// from their header and structure only.
    pub max_mail_bytes: u32,
}

/// A mail as fetched: whole, or (over the size cap) its header and structure.
enum Fetched {
    Whole(Vec<u8>),
    Oversized {
        header: Vec<u8>,
        size: u32,
        attachments: Vec<serde_json::Value>,
    },
}

/// The reader of one mailbox.
pub struct MailboxReader {
    target: MailboxTarget,
    parts: ReaderParts,
    channel: ChannelKind,
}

impl MailboxReader {
    /// Reads `target` with `parts`.
    pub fn new(target: MailboxTarget, parts: ReaderParts) -> Self {
        Self {
            target,
            parts,
            channel: ChannelKind::parse(crate::channels::email::KIND).expect("valid channel"),
        }
    }

    /// Reads until `stop` turns true, reconnecting after failures.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        let mut failures = 0usize;
        while !*stop.borrow() {
            let error = match self.session(&mut stop, &mut failures).await {
                Ok(()) => return,
                Err(error) => error,
            };
            metrics::session_failure(error.stage());
            tracing::warn!(integration_id = %self.target.integration_id, stage = error.stage(), %error, "mailbox session ended");
            let backoff = &self.parts.timing.backoff;
            let pause = if error.is_retryable() {
                backoff
                    .get(failures.min(backoff.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(Duration::from_secs(1))
            } else {
                self.parts.timing.refused_login_backoff
            };
            failures += 1;
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped(&mut stop) => return,
            }
        }
    }

    /// One session: connect, then read and wait until stopped or failed.
    async fn session(
        &self,
        stop: &mut watch::Receiver<bool>,
        failures: &mut usize,
    ) -> Result<(), MailboxError> {
        let mut session = self.parts.connector.connect(&self.target.settings).await?;
        let idle = timed(session.capabilities()).await?.has_str("IDLE");
        tracing::info!(integration_id = %self.target.integration_id, idle, "mailbox session open");
        loop {
            let mailbox = timed(session.select(&self.target.settings.folder)).await?;
            let validity = mailbox
                .uid_validity
                .ok_or_else(|| MailboxError::Protocol("the folder has no UIDVALIDITY".into()))?;
            self.catch_up(&mut session, validity, stop).await?;
            *failures = 0;
            while session.unsolicited_responses.try_recv().is_ok() {}
            let stopping = if idle {
                let (back, stopping) = self.idle(session, stop).await?;
                session = back;
                stopping
            } else {
                self.pause(stop).await
            };
            if stopping {
                let _ = timed(session.logout()).await;
                return Ok(());
            }
        }
    }

    /// Reads every mail after the folder's cursor, in UID order.
    async fn catch_up(
        &self,
        session: &mut ImapSession,
        validity: u32,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), MailboxError> {
        let id = self.target.integration_id;
        let folder = &self.target.settings.folder;
        let stored = self.parts.cursors.load(id, folder).await?;
        if stored.is_some_and(|c| c.uid_validity != validity) {
            tracing::warn!(integration_id = %id, "the folder's UIDVALIDITY changed; reading it again from the start");
        }
        let after = Cursor::resume_after(stored, validity);
        let mut uids: Vec<u32> = timed(session.uid_search(format!("UID {}:*", after + 1)))
            .await?
            .into_iter()
            .filter(|uid| *uid > after)
            .collect();
        uids.sort_unstable();
        for batch in uids.chunks(FETCH_BATCH) {
            if *stop.borrow() {
                return Ok(());
            }
            let mails = self.fetch(session, batch, after).await?;
            for (uid, mail) in mails {
                let position = MailPosition {
                    uid_validity: validity,
                    uid,
                };
                let span = tracing::info_span!("mailbox.mail", integration_id = %id, uid, uid_validity = validity, event_id = tracing::field::Empty);
                self.read_one(position, &mail, &span)
                    .instrument(span.clone())
                    .await?;
            }
        }
        Ok(())
    }

    /// The mails of `batch` (UIDs above `after`) in UID order: their sizes first, then the
    /// bodies of those within the cap and the headers and structures of the others.
    async fn fetch(
        &self,
        session: &mut ImapSession,
        batch: &[u32],
        after: u32,
    ) -> Result<Vec<(u32, Fetched)>, MailboxError> {
        let set = |uids: &[u32]| {
            uids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let sizes = fetch_all(session, set(batch), "(UID RFC822.SIZE)").await?;
        let (large, small): (Vec<_>, Vec<_>) = sizes
            .iter()
            .filter_map(|f| Some((f.uid?, f.size.unwrap_or_default())))
            .filter(|(uid, _)| *uid > after)
            .partition(|(_, size)| *size > self.parts.max_mail_bytes);
        let mut mails = Vec::with_capacity(batch.len());
        for uids in within(&small, self.parts.max_mail_bytes) {
            let fetched = fetch_all(session, set(&uids), "(UID BODY.PEEK[])").await?;
            mails.extend(
                fetched
                    .iter()
                    .filter_map(|f| Some((f.uid?, Fetched::Whole(f.body()?.to_vec())))),
            );
        }
        if !large.is_empty() {
            let uids: Vec<u32> = large.iter().map(|(uid, _)| *uid).collect();
            let query = "(UID RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER])";
            let fetched = fetch_all(session, set(&uids), query).await?;
            mails.extend(fetched.iter().filter_map(|f| {
                let mail = Fetched::Oversized {
                    header: f.header()?.to_vec(),
                    size: f.size.unwrap_or_default(),
                    attachments: f.bodystructure().map(attachments).unwrap_or_default(),
                };
                Some((f.uid?, mail))
            }));
        }
        mails.retain(|(uid, _)| *uid > after);
        mails.sort_by_key(|(uid, _)| *uid);
        Ok(mails)
    }

    /// Publishes one mail, records its thread, then moves the cursor past it.
    async fn read_one(
        &self,
        position: MailPosition,
        mail: &Fetched,
        span: &tracing::Span,
    ) -> Result<(), MailboxError> {
        let started = Instant::now();
        let id = self.target.integration_id;
        let folder = &self.target.settings.folder;
        match parsed(mail, folder, position) {
            Some(mail) => {
                let event = InboundEvent::from_draft(
                    id,
                    self.target.workspace_id.clone(),
                    self.channel.clone(),
                    mail.draft,
                );
                span.record("event_id", tracing::field::display(event.event_id));
                self.parts
                    .publisher
                    .publish(std::slice::from_ref(&event), current_traceparent())
                    .await?;
                self.parts.threads.record(id, &mail.head).await?;
                metrics::mail("published");
            }
            None => {
                tracing::warn!("a mail without a sender address, skipped");
                metrics::mail("skipped");
            }
        }
        let cursor = Cursor {
            uid_validity: position.uid_validity,
            last_uid: position.uid,
        };
        self.parts.cursors.advance(id, folder, cursor).await?;
        ::metrics::histogram!(metrics::MAIL_SECONDS).record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Waits in IDLE for news, the IDLE timeout or `stop`; true when stopping.
    async fn idle(
        &self,
        session: ImapSession,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(ImapSession, bool), MailboxError> {
        let mut handle = session.idle();
        timed(handle.init()).await?;
        let stopping = {
            let (wait, interrupt) = handle.wait_with_timeout(self.parts.timing.idle_timeout);
            tokio::pin!(wait);
            tokio::select! {
                outcome = &mut wait => {
                    outcome?;
                    false
                }
                _ = stopped(stop) => {
                    drop(interrupt);
                    let _ = tokio::time::timeout(COMMAND_TIMEOUT, wait).await;
                    true
                }
            }
        };
        let session = timed(handle.done()).await?;
        Ok((session, stopping))
    }

    /// Waits one poll interval or until `stop`; true when stopping.
    async fn pause(&self, stop: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(self.parts.timing.poll_interval) => false,
            _ = stopped(stop) => true,
        }
    }
}

/// `mail` parsed; an oversized one counted and noted in the log.
fn parsed(mail: &Fetched, folder: &str, position: MailPosition) -> Option<ParsedMail> {
    match mail {
        Fetched::Whole(body) => parse_mail(body, folder, position),
        Fetched::Oversized {
            header,
            size,
            attachments,
        } => {
            tracing::warn!(size, "a mail over the size cap, recorded without its body");
            metrics::oversized();
            parse_oversized(header, *size, attachments.clone(), folder, position)
        }
    }
}

/// The UIDs of `sized` (UID, size) in consecutive groups of at most `cap` bytes together (a
/// mail alone in its group when it fills it), so one FETCH holds no more than one cap's worth.
fn within(sized: &[(u32, u32)], cap: u32) -> Vec<Vec<u32>> {
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut filled = u64::MAX;
    for &(uid, size) in sized {
        if filled.saturating_add(u64::from(size)) > u64::from(cap) {
            groups.push(Vec::new());
            filled = 0;
        }
        filled += u64::from(size);
        groups.last_mut().expect("a group was opened").push(uid);
    }
    groups
}

/// Every response of one `UID FETCH` of `set` with `query`, within [`COMMAND_TIMEOUT`].
async fn fetch_all(
    session: &mut ImapSession,
    set: String,
    query: &str,
) -> Result<Vec<async_imap::types::Fetch>, MailboxError> {
    timed(async {
        let fetches = session.uid_fetch(set, query).await?;
        fetches.try_collect::<Vec<_>>().await
    })
    .await
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// `command` within [`COMMAND_TIMEOUT`].
async fn timed<T, E: Into<MailboxError>>(
    command: impl Future<Output = Result<T, E>>,
) -> Result<T, MailboxError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(outcome) => outcome.map_err(Into::into),
        Err(_) => Err(MailboxError::Protocol(
            "the server stopped answering".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn bodies_are_fetched_in_groups_of_at_most_one_cap() {
        let sized = [(1, 40), (2, 50), (3, 20), (4, 100), (5, 0)];
        assert_eq!(within(&sized, 100), vec![vec![1, 2], vec![3], vec![4, 5]]);
        assert_eq!(within(&[], 100), Vec::<Vec<u32>>::new());
    }
}
