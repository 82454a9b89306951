//! Replies in an e-mail conversation, threaded: the reply goes to the conversation's address
//! over the integration's SMTP server, with `In-Reply-To` naming the thread's last mail,
//! `References` its chain and `Subject: Re: …` its subject, so the customer's mail client
//! shows it in the thread. The thread's last mail is looked up in `mailbox_threads`, written
//! by the mailbox reader; after sending, the reply becomes the thread's last mail, so the
//! next reply references it too. A conversation with no mail read yet gets a new mail whose
//! subject is the text's first line.

use crate::channels::sender::{ChannelSender, SendError, SendTarget, SentMessage};
use crate::channels::smtp::deliver;
use crate::channels::webhook::WebhookSecrets;
use crate::egress::EgressPolicy;
use crate::mailbox::parse::{contact_address, ThreadHead};
use crate::mailbox::MailboxThreads;
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;
use std::collections::BTreeMap;
use switchboard_domain::message::SendMessage;

/// The longest subject taken from a text, in characters.
const MAX_SUBJECT_CHARS: usize = 78;

/// Sends threaded replies over the e-mail integration's SMTP side.
#[derive(Debug, Clone)]
pub struct EmailReplySender {
    egress: EgressPolicy,
    threads: MailboxThreads,
}

impl EmailReplySender {
    /// Reaching only the SMTP servers `egress` permits, threading with `threads`.
    pub fn new(egress: EgressPolicy, threads: MailboxThreads) -> Self {
        Self { egress, threads }
    }
}

/// `subject` as a reply's subject: `Re: ` once.
pub fn reply_subject(subject: &str) -> String {
    let trimmed = subject.trim();
    if trimmed
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("re:"))
    {
        trimmed.to_owned()
    } else {
        format!("Re: {trimmed}")
    }
}

#[async_trait]
impl ChannelSender for EmailReplySender {
    /// None: each integration names its own server.
    fn default_api_base(&self) -> &'static str {
        ""
    }

    async fn send(
        &self,
        target: &SendTarget,
        message: &SendMessage,
    ) -> Result<SentMessage, SendError> {
        if !message.content.quick_replies.is_empty() || !message.content.attachments.is_empty() {
            return Err(SendError::Invalid(
                "an e-mail reply carries text only".into(),
            ));
        }
        let text = message.content.text.clone().unwrap_or_default();
        let head = self
            .threads
            .head(target.integration_id, &message.recipient)
            .await
            .map_err(|e| SendError::retryable(e.to_string()))?;
        let address = head
            .as_ref()
            .map(|h| h.address.clone())
            .unwrap_or_else(|| contact_address(&message.recipient).to_owned());
        let to: Mailbox = address
            .parse()
            .map_err(|_| SendError::Invalid("the recipient is not an e-mail address".into()))?;
        let from: Mailbox = target
            .secret("address")?
            .expose()
            .parse()
            .map_err(|_| SendError::Permanent("address is not an e-mail address".into()))?;
        let own_id = format!("{}@{}", message.message_id, from.email.domain());
        let subject = match &head {
            Some(head) => reply_subject(&head.subject),
            None => first_line(&text),
        };
        let mut email = Message::builder()
            .from(from)
            .to(to)
            .subject(subject.clone())
            .message_id(Some(format!("<{own_id}>")));
        if let Some(head) = &head {
            let chain: Vec<String> = head.references.iter().map(|id| format!("<{id}>")).collect();
            email = email
                .in_reply_to(format!("<{}>", head.message_id))
                .references(chain.join(" "));
        }
        let email = email
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| SendError::Invalid(format!("the e-mail cannot be built: {e}")))?;
        deliver(&self.egress, &smtp_side(target), email).await?;
        let mut references = head.map(|h| h.references).unwrap_or_default();
        references.push(own_id.clone());
        let sent = ThreadHead {
            contact_id: message.recipient.clone(),
            address,
            message_id: own_id.clone(),
            references,
            subject,
        };
        if let Err(error) = self.threads.record(target.integration_id, &sent).await {
            // Sent already: the next reply answers the customer's last mail instead.
            tracing::warn!(integration_id = %target.integration_id, %error, "the reply's thread was not recorded");
        }
        Ok(SentMessage {
            platform_message_id: format!("<{own_id}>"),
        })
    }
}

/// `target` with its SMTP fields under the names the SMTP delivery reads.
fn smtp_side(target: &SendTarget) -> SendTarget {
    let fields: BTreeMap<String, _> = super::SMTP_FIELDS
        .iter()
        .filter_map(|(smtp, own)| {
            let value = target.secrets.get(own).ok()?;
            Some(((*smtp).to_owned(), value.clone()))
        })
        .collect();
    SendTarget {
        secrets: WebhookSecrets::new(fields, BTreeMap::new()),
        ..target.clone()
    }
}

/// The first non-blank line of `text`, shortened.
fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("Message")
        .chars()
        .take(MAX_SUBJECT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_subject_says_re_once() {
        assert_eq!(reply_subject("Order 42"), "Re: Order 42");
        assert_eq!(reply_subject("RE: Order 42"), "RE: Order 42");
    }
}
