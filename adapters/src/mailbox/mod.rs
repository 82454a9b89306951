//! The e-mail channel's inbound side: mailbox readers that turn mail arriving in an
//! integration's IMAP folder into `MessageReceived` events on `messages.received`, one reader
//! per connected e-mail integration across all processes, and the threads' last mails that
//! replies answer.
//!
//! `readers` decides who reads which mailbox (an advisory lock per integration, `lock`);
//! `reader` is one mailbox's loop (`connect`, `cursor`, `parse`, `oversized`, `threads`).

pub mod connect;
pub mod cursor;
pub mod error;
pub mod lock;
pub mod metrics;
pub mod oversized;
pub mod parse;
pub mod reader;
pub mod readers;
pub mod settings;
pub mod threads;

pub use connect::ImapConnector;
pub use error::MailboxError;
pub use reader::{MailboxReader, MailboxTarget, ReaderParts, ReaderTiming};
pub use readers::{MailboxReaders, ReadersSettings};
pub use settings::MailboxSettings;
pub use threads::MailboxThreads;
