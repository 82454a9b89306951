//! The e-mail channel against real mail servers: mailbox readers reading a dovecot IMAP
//! server into `messages.received`, and replies sent through an aiosmtpd SMTP server.

mod inbound;
mod readers;
mod replies;
mod servers;
