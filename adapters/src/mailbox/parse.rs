//! One fetched mail (RFC 5322 + MIME) as an inbound draft: who wrote it, which thread it
//! belongs to, its text and HTML bodies, and its attachments as metadata (name, type, size;
//! their bytes stay in the mailbox).
//!
//! The message id is the mail's `Message-ID`, so the same mail fetched twice (appended twice,
//! re-read after a restart or a UIDVALIDITY change) yields the same event id. A mail without
//! one is named by its folder position (`uid:<uidvalidity>:<uid>`).
//!
//! Threads: the root of a mail's thread is the first id of its `References`, else its
//! `In-Reply-To`, else its own `Message-ID`. The conversation contact is the sender's address
//! scoped by a short digest of that root, so each thread with a contact is a conversation
//! of its own, and another sender naming the same root starts a thread of their own.

use chrono::{DateTime, Utc};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchboard_domain::message::{
    Attachment, AttachmentKind, Contact, InboundDraft, InboundKind, MessageContent,
};

/// Where a fetched mail sat in its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailPosition {
    /// The folder's UIDVALIDITY.
    pub uid_validity: u32,
    /// The mail's UID.
    pub uid: u32,
}

/// What threading a reply needs of the mail it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadHead {
    /// The conversation contact (`address#digest`).
    pub contact_id: String,
    /// The sender's address, where a reply goes.
    pub address: String,
    /// The mail's own `Message-ID`, without angle brackets.
    pub message_id: String,
    /// The ids a reply's `References` carries: this mail's references, then its id.
    pub references: Vec<String>,
    /// The mail's subject.
    pub subject: String,
}

/// A parsed mail: its draft and its thread head.
#[derive(Debug, Clone)]
pub struct ParsedMail {
    /// The `MessageReceived` draft.
    pub draft: InboundDraft,
    /// What a reply to it needs.
    pub head: ThreadHead,
}

/// The contact id of `address`'s thread rooted at `root`.
pub fn thread_contact(address: &str, root: &str) -> String {
    let digest = Sha256::digest(root.as_bytes());
    format!("{address}#{}", hex::encode(&digest[..6]))
}

/// The address part of a conversation contact id (what precedes the last `#`).
pub fn contact_address(contact_id: &str) -> &str {
    contact_id
        .rsplit_once('#')
        .map(|(address, _)| address)
        .unwrap_or(contact_id)
}

/// Parses `raw`, fetched at `position` of `folder`; `None` when it names no sender.
pub fn parse_mail(raw: &[u8], folder: &str, position: MailPosition) -> Option<ParsedMail> {
    let mail = MessageParser::default().parse(raw)?;
    let from = mail.from()?.first()?;
    let address = from.address()?.trim().to_lowercase();
    if address.is_empty() {
        return None;
    }
    let message_id = mail
        .message_id()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("uid:{}:{}", position.uid_validity, position.uid));
    let references = ids(mail.references());
    let in_reply_to = ids(mail.in_reply_to()).into_iter().next();
    let root = references
        .first()
        .or(in_reply_to.as_ref())
        .unwrap_or(&message_id)
        .clone();
    let contact_id = thread_contact(&address, &root);
    let subject = mail.subject().unwrap_or_default().to_owned();
    let text = mail.body_text(0).map(|t| t.into_owned());
    let html = mail.body_html(0).map(|h| h.into_owned());
    let attachments: Vec<Value> = mail
        .attachments()
        .map(|part| {
            let media_type = part
                .content_type()
                .map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{sub}", c.ctype()),
                    None => c.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into());
            json!({"name": part.attachment_name(), "type": media_type, "size": part.len()})
        })
        .collect();
    let platform_timestamp = mail
        .date()
        .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0))
        .unwrap_or_else(Utc::now);
    let mut thread_references = references.clone();
    if thread_references.is_empty() {
        thread_references.extend(in_reply_to.clone());
    }
    let content = content(text.as_deref(), html.as_deref(), &attachments);
    let raw = json!({
        "folder": folder,
        "uid_validity": position.uid_validity,
        "uid": position.uid,
        "message_id": message_id,
        "in_reply_to": in_reply_to,
        "references": references,
        "from": {"address": address, "name": from.name()},
        "to": mail.to().map(|to| to.iter().filter_map(|a| a.address()).collect::<Vec<_>>()),
        "subject": subject,
        "text": text,
        "html": html,
        "attachments": attachments,
    });
    thread_references.push(message_id.clone());
    Some(ParsedMail {
        draft: InboundDraft {
            contact: Contact {
                platform_id: contact_id.clone(),
                display_name: from.name().map(str::to_owned),
                thread_id: Some(root),
            },
            platform_timestamp,
            kind: InboundKind::MessageReceived {
                platform_message_id: message_id.clone(),
                content,
                reply_to: in_reply_to,
                is_echo: false,
            },
            raw,
        },
        head: ThreadHead {
            contact_id,
            address,
            message_id,
            references: thread_references,
            subject,
        },
    })
}

/// The message ids of a `References`/`In-Reply-To` header, in order.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Text when the mail has no attachments, media with the text as caption otherwise; the HTML
/// body stands in for the text when there is no plain part.
pub(crate) fn content(
    text: Option<&str>,
    html: Option<&str>,
    attachments: &[Value],
) -> MessageContent {
    let text = text.or(html).unwrap_or_default().trim().to_owned();
    if attachments.is_empty() {
        return MessageContent::Text { text };
    }
    MessageContent::Media {
        attachments: attachments
            .iter()
            .map(|a| Attachment {
                kind: kind_of(a["type"].as_str().unwrap_or_default()),
                url: None,
                mime_type: a["type"].as_str().map(str::to_owned),
                media_id: None,
            })
            .collect(),
        caption: (!text.is_empty()).then_some(text),
    }
}

fn kind_of(media_type: &str) -> AttachmentKind {
    match media_type.split('/').next().unwrap_or_default() {
        "image" => AttachmentKind::Image,
        "video" => AttachmentKind::Video,
        "audio" => AttachmentKind::Audio,
        _ => AttachmentKind::File,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSITION: MailPosition = MailPosition {
        uid_validity: 7,
        uid: 3,
    };

    fn parse(raw: &str) -> ParsedMail {
        parse_mail(raw.as_bytes(), "INBOX", POSITION).expect("a sender")
    }

    #[test]
    fn a_reply_joins_the_thread_of_its_first_reference() {
        let first = parse("From: Ann <Ann@Example.com>\r\nMessage-ID: <a1@example.com>\r\nSubject: Hi\r\n\r\nhello\r\n");
        let reply = parse("From: ann@example.com\r\nMessage-ID: <a3@example.com>\r\nIn-Reply-To: <a2@shop.test>\r\nReferences: <a1@example.com> <a2@shop.test>\r\nSubject: Re: Hi\r\n\r\nagain\r\n");
        assert_eq!(first.head.contact_id, reply.head.contact_id);
        assert_eq!(contact_address(&first.head.contact_id), "ann@example.com");
        assert_eq!(
            reply.head.references,
            ["a1@example.com", "a2@shop.test", "a3@example.com"]
        );
        let other = parse("From: bob@example.com\r\nMessage-ID: <b1@example.com>\r\nReferences: <a1@example.com>\r\n\r\nme too\r\n");
        assert_ne!(other.head.contact_id, first.head.contact_id);
    }

    #[test]
    fn attachments_are_kept_as_name_type_and_size() {
        let raw = "From: ann@example.com\r\nMessage-ID: <m@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"bill.pdf\"\r\n\r\n%PDF-1\r\n--b--\r\n";
        let mail = parse(raw);
        assert_eq!(mail.draft.raw["attachments"][0]["name"], "bill.pdf");
        assert_eq!(mail.draft.raw["attachments"][0]["type"], "application/pdf");
        assert!(mail.draft.raw["attachments"][0]["size"].as_u64().unwrap() > 0);
        match mail.draft.kind {
            InboundKind::MessageReceived { content, .. } => match content {
                MessageContent::Media { caption, .. } => {
                    assert_eq!(caption.as_deref(), Some("see attached"))
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_mail_without_message_id_is_named_by_its_position() {
        let mail = parse("From: ann@example.com\r\n\r\nno id\r\n");
        assert_eq!(mail.head.message_id, "uid:7:3");
    }
}
