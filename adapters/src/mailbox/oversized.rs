//! A mail over the size cap, recorded without its body: the reader reads its `RFC822.SIZE`
//! first and, above [`crate::mailbox::ReaderParts::max_mail_bytes`], fetches only its header
//! and `BODYSTRUCTURE`. The event then carries the mail's sender, subject and threading as any
//! other (so replies thread under it), a note that the body was too large in place of the
//! text, the attachments the structure names as metadata, and `raw.body_too_large`.

use crate::mailbox::parse::{content, parse_mail, MailPosition, ParsedMail};
use imap_proto::types::{BodyParams, BodyStructure};
use serde_json::{json, Value};
use switchboard_domain::message::InboundKind;

/// The text that stands in for a body too large to fetch.
pub fn body_note(size: u32) -> String {
    format!("[This mail's body ({size} bytes) was too large to fetch; it stays in the mailbox.]")
}

/// The mail whose `header` was fetched without its body of `size` bytes, with the
/// `attachments` its structure names ([`attachments`]); `None` when the header names no sender.
pub fn parse_oversized(
    header: &[u8],
    size: u32,
    attachments: Vec<Value>,
    folder: &str,
    position: MailPosition,
) -> Option<ParsedMail> {
    let mut mail = parse_mail(header, folder, position)?;
    let note = body_note(size);
    if let InboundKind::MessageReceived {
        content: ref mut body,
        ..
    } = mail.draft.kind
    {
        *body = content(Some(&note), None, &attachments);
    }
    let raw = &mut mail.draft.raw;
    raw["text"] = Value::from(note);
    raw["html"] = Value::Null;
    raw["attachments"] = Value::from(attachments);
    raw["size"] = Value::from(size);
    raw["body_too_large"] = Value::from(true);
    Some(mail)
}

/// The parts of `structure` that are attachments (a disposition of `attachment`, or a name),
/// as name, type and size (their encoded octets).
pub fn attachments(structure: &BodyStructure<'_>) -> Vec<Value> {
    let mut found = Vec::new();
    collect(structure, &mut found);
    found
}

fn collect(structure: &BodyStructure<'_>, found: &mut Vec<Value>) {
    let (common, other) = match structure {
        BodyStructure::Multipart { bodies, .. } => {
            for body in bodies {
                collect(body, found);
            }
            return;
        }
        BodyStructure::Basic { common, other, .. }
        | BodyStructure::Text { common, other, .. }
        | BodyStructure::Message { common, other, .. } => (common, other),
    };
    let disposition = common.disposition.as_ref();
    let name = disposition
        .and_then(|d| param(&d.params, "filename"))
        .or_else(|| param(&common.ty.params, "name"));
    let attached = disposition.is_some_and(|d| d.ty.eq_ignore_ascii_case("attachment"));
    if !attached && name.is_none() {
        return;
    }
    let media_type = format!("{}/{}", common.ty.ty, common.ty.subtype).to_lowercase();
    found.push(json!({"name": name, "type": media_type, "size": other.octets}));
}

/// The value of parameter `key` in `params`, case-insensitively.
fn param(params: &BodyParams<'_>, key: &str) -> Option<String> {
    params
        .as_ref()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_mail_keeps_its_head_and_notes_the_missing_body() {
        let header = b"From: Ann <ann@example.com>\r\nSubject: Scans\r\nMessage-ID: <big@example.com>\r\n\r\n";
        let position = MailPosition {
            uid_validity: 1,
            uid: 9,
        };
        let mail = parse_oversized(header, 30_000_000, Vec::new(), "INBOX", position).unwrap();
        assert_eq!(mail.head.subject, "Scans");
        assert_eq!(mail.head.message_id, "big@example.com");
        assert_eq!(mail.draft.raw["body_too_large"], true);
        assert_eq!(mail.draft.raw["size"], 30_000_000);
        match mail.draft.kind {
            InboundKind::MessageReceived { content, .. } => {
                assert_eq!(
                    content,
                    switchboard_domain::message::MessageContent::Text {
                        text: body_note(30_000_000)
                    }
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
