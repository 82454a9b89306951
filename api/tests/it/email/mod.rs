//! The e-mail channel against real mail servers: mailbox readers reading a dovecot IMAP
//! server into `messages.received` (one process per mailbox, oversized mail without its body),
//! replies sent through an aiosmtpd SMTP server, whole conversations through the inbox API
//! and the outbound engine, and servers with certificates of a private CA.

mod conversation;
mod inbound;
mod oversized;
mod private_ca;
mod readers;
mod replies;
mod servers;
