//! The `send_email` action: one e-mail (to, cc, bcc, subject, text and/or HTML body,
//! reply-to, attachments by URL) through the integration's SMTP server, chosen by its
//! provider preset or its own fields (see [`crate::channels::smtp::presets`]). The e-mail
//! channel reuses it with its own field names ([`SendEmail::with_fields`]).
//!
//! Attachments are fetched by us, through the egress policy (an address the tenant names is
//! checked like any destination), each answered within [`MAX_ATTACHMENT_BYTES`] in total; a
//! refused, missing or oversized one fails the action for good, a server error or timeout is
//! temporary. The `Message-ID` is `<action id@sender's domain>` on every attempt.

use crate::channels::action::{field_problem, TypedAction};
use crate::channels::sender::{classify_status, SendError, SendTarget};
use crate::channels::smtp::outbound::deliver;
use crate::channels::webhook::WebhookSecrets;
use crate::egress::{read_capped, BodyError, EgressHttp};
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use switchboard_domain::action::ActionId;
use switchboard_domain::FieldProblem;
use utoipa::ToSchema;

/// The most bytes all of one e-mail's attachments may add up to.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// The most recipients (to, cc and bcc together) of one e-mail.
pub const MAX_RECIPIENTS: usize = 50;

/// What `send_email` is given.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEmailInput {
    /// Recipients' addresses (`a@example.org` or `Name <a@example.org>`).
    #[schema(min_items = 1, max_items = 50)]
    pub to: Vec<String>,
    /// Copy recipients.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub cc: Vec<String>,
    /// Blind copy recipients (not shown in the headers).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub bcc: Vec<String>,
    /// The subject line.
    #[schema(min_length = 1, max_length = 998)]
    pub subject: String,
    /// The plain-text body.
    #[schema(max_length = 1000000)]
    pub text: Option<String>,
    /// The HTML body (sent as an alternative to `text` when both are given).
    #[schema(max_length = 1000000)]
    pub html: Option<String>,
    /// Where replies should go.
    pub reply_to: Option<String>,
    /// Files to attach, fetched from their URLs.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub attachments: Vec<AttachmentUrl>,
}

/// One attachment, by URL.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentUrl {
    /// An https URL the file is fetched from.
    #[schema(min_length = 1, max_length = 2048)]
    pub url: String,
    /// The file name shown (default: the URL's last segment).
    #[schema(max_length = 255)]
    pub filename: Option<String>,
    /// Its media type (default: what the server says, else `application/octet-stream`).
    #[schema(max_length = 255)]
    pub content_type: Option<String>,
}

/// What `send_email` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SendEmailOutput {
    /// The e-mail's `Message-ID`.
    pub message_id: String,
    /// Every address it was handed to the server for.
    pub recipients: Vec<String>,
}

/// The integration fields `send_email` reads, by the name it reads them as.
const SMTP_FIELDS: &[(&str, &str)] = &[
    ("provider", "provider"),
    ("host", "host"),
    ("port", "port"),
    ("starttls", "starttls"),
    ("username", "username"),
    ("password", "password"),
    ("from_address", "from_address"),
];

/// Sends e-mails as an action.
#[derive(Clone)]
pub struct SendEmail {
    http: EgressHttp,
    fields: &'static [(&'static str, &'static str)],
}

impl SendEmail {
    /// On an SMTP integration's own fields, fetching attachments through `http`.
    pub fn new(http: EgressHttp) -> Self {
        Self::with_fields(http, SMTP_FIELDS)
    }

    /// On a channel whose fields have other names: each pair is (the SMTP name, the
    /// channel's), e.g. `("host", "smtp_host")`.
    pub fn with_fields(http: EgressHttp, fields: &'static [(&'static str, &'static str)]) -> Self {
        Self { http, fields }
    }

    /// `target` with its fields under their SMTP names.
    fn smtp_target(&self, target: &SendTarget) -> SendTarget {
        let fields: BTreeMap<String, _> = self
            .fields
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

    /// The attachments, fetched within the size cap.
    async fn fetch(&self, attachments: &[AttachmentUrl]) -> Result<Vec<SinglePart>, SendError> {
        let mut left = MAX_ATTACHMENT_BYTES;
        let mut parts = Vec::new();
        for (n, attachment) in attachments.iter().enumerate() {
            let which = format!("attachment {}", n + 1);
            let in_context = |e: SendError| match e {
                SendError::Permanent(d) => SendError::Permanent(format!("{which}: {d}")),
                SendError::Retryable {
                    retry_after,
                    detail,
                } => SendError::Retryable {
                    retry_after,
                    detail: format!("{which}: {detail}"),
                },
                other => other,
            };
            let request = self
                .http
                .request(reqwest::Method::GET, &attachment.url)
                .map_err(|e| in_context(e.into()))?;
            let response = request
                .send()
                .await
                .map_err(|e| in_context(SendError::from_transport(e)))?;
            let status = response.status();
            if !status.is_success() {
                let detail = format!("{which} could not be fetched: HTTP {}", status.as_u16());
                return Err(match classify_status(status, None, detail) {
                    SendError::Auth(detail) => SendError::Permanent(detail),
                    other => other,
                });
            }
            let served_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let url = response.url().clone();
            let body = read_capped(response, left).await.map_err(|e| match e {
                BodyError::TooLarge { .. } => SendError::Permanent(format!(
                    "{which}: the attachments are over {MAX_ATTACHMENT_BYTES} bytes"
                )),
                BodyError::Transport(e) => in_context(SendError::from_transport(e)),
            })?;
            left -= body.len();
            let filename = attachment.filename.clone().unwrap_or_else(|| {
                url.path_segments()
                    .and_then(|mut s| s.next_back().map(str::to_owned))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("attachment-{}", n + 1))
            });
            let content_type = attachment
                .content_type
                .clone()
                .or(served_type)
                .and_then(|t| ContentType::parse(&t).ok())
                .unwrap_or_else(|| ContentType::parse("application/octet-stream").expect("valid"));
            parts.push(Attachment::new(filename).body(body.to_vec(), content_type));
        }
        Ok(parts)
    }
}

/// `text` as a mailbox, or the problem of field `field`.
fn mailbox(text: &str, field: &str, found: &mut Vec<FieldProblem>) -> Option<Mailbox> {
    match text.trim().parse::<Mailbox>() {
        Ok(mailbox) => Some(mailbox),
        Err(_) => {
            found.push(field_problem(field, "is not an e-mail address"));
            None
        }
    }
}

fn body_part(input: &SendEmailInput) -> MultiPart {
    let text = input.text.clone().unwrap_or_default();
    match &input.html {
        Some(html) if input.text.is_some() => MultiPart::alternative_plain_html(text, html.clone()),
        Some(html) => MultiPart::mixed().singlepart(SinglePart::html(html.clone())),
        None => MultiPart::mixed().singlepart(SinglePart::plain(text)),
    }
}

#[async_trait]
impl TypedAction for SendEmail {
    type Input = SendEmailInput;
    type Output = SendEmailOutput;
    const NAME: &'static str = "send_email";
    const DESCRIPTION: &'static str =
        "Sends one e-mail through the integration's SMTP server, attachments fetched from their URLs.";

    fn validate(&self, input: &SendEmailInput) -> Vec<FieldProblem> {
        let mut found = Vec::new();
        for (list, name) in [(&input.to, "to"), (&input.cc, "cc"), (&input.bcc, "bcc")] {
            for (n, address) in list.iter().enumerate() {
                mailbox(address, &format!("{name}[{n}]"), &mut found);
            }
        }
        if input.to.len() + input.cc.len() + input.bcc.len() > MAX_RECIPIENTS {
            found.push(field_problem(
                "to",
                format!("at most {MAX_RECIPIENTS} recipients in all"),
            ));
        }
        if let Some(reply_to) = &input.reply_to {
            mailbox(reply_to, "reply_to", &mut found);
        }
        if input.text.is_none() && input.html.is_none() {
            found.push(field_problem("text", "an e-mail needs text or html"));
        }
        if input.subject.contains(['\r', '\n']) {
            found.push(field_problem("subject", "must be one line"));
        }
        for (n, attachment) in input.attachments.iter().enumerate() {
            let https = reqwest::Url::parse(&attachment.url)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
            if !https {
                found.push(field_problem(
                    format!("attachments[{n}].url"),
                    "is not an http(s) URL",
                ));
            }
            if attachment
                .content_type
                .as_deref()
                .is_some_and(|t| ContentType::parse(t).is_err())
            {
                found.push(field_problem(
                    format!("attachments[{n}].content_type"),
                    "is not a media type",
                ));
            }
        }
        found
    }

    async fn execute(
        &self,
        target: &SendTarget,
        action_id: ActionId,
        input: SendEmailInput,
    ) -> Result<SendEmailOutput, SendError> {
        let target = self.smtp_target(target);
        let from: Mailbox = target
            .secret("from_address")?
            .expose()
            .parse()
            .map_err(|_| SendError::Permanent("from_address is not an e-mail address".into()))?;
        let message_id = format!("<{action_id}@{}>", from.email.domain());
        let mut ignored = Vec::new();
        let mut builder = Message::builder()
            .from(from)
            .subject(input.subject.clone())
            .message_id(Some(message_id.clone()));
        let mut recipients = Vec::new();
        for address in &input.to {
            let to = mailbox(address, "to", &mut ignored)
                .ok_or_else(|| SendError::Invalid("a recipient is not an address".into()))?;
            recipients.push(to.email.to_string());
            builder = builder.to(to);
        }
        for address in &input.cc {
            let cc = mailbox(address, "cc", &mut ignored)
                .ok_or_else(|| SendError::Invalid("a recipient is not an address".into()))?;
            recipients.push(cc.email.to_string());
            builder = builder.cc(cc);
        }
        for address in &input.bcc {
            let bcc = mailbox(address, "bcc", &mut ignored)
                .ok_or_else(|| SendError::Invalid("a recipient is not an address".into()))?;
            recipients.push(bcc.email.to_string());
            builder = builder.bcc(bcc);
        }
        if let Some(reply_to) = &input.reply_to {
            let reply_to = mailbox(reply_to, "reply_to", &mut ignored)
                .ok_or_else(|| SendError::Invalid("reply_to is not an address".into()))?;
            builder = builder.reply_to(reply_to);
        }
        let attachments = self.fetch(&input.attachments).await?;
        let email = if attachments.is_empty() && input.html.is_none() {
            builder
                .header(ContentType::TEXT_PLAIN)
                .body(input.text.clone().unwrap_or_default())
        } else {
            let mut body = MultiPart::mixed().multipart(body_part(&input));
            for attachment in attachments {
                body = body.singlepart(attachment);
            }
            builder.multipart(body)
        }
        .map_err(|e| SendError::Invalid(format!("the e-mail cannot be built: {e}")))?;
        deliver(self.http.policy(), &target, email).await?;
        Ok(SendEmailOutput {
            message_id,
            recipients,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::channels::fake_platform::{target, test_policy};
    use crate::channels::sender::SendError;
    use crate::channels::smtp::fake_server::{FakeSmtp, Replies};
    use crate::channels::ChannelRegistry;
    use serde_json::json;
    use switchboard_domain::action::ActionId;
    use switchboard_domain::ChannelKind;

    fn registry() -> ChannelRegistry {
        ChannelRegistry::with_egress(&test_policy())
    }

    #[tokio::test]
    async fn the_email_channel_sends_from_its_smtp_side_under_its_own_field_names() {
        let server = FakeSmtp::start(Replies::default()).await;
        let port = server.port.to_string();
        let mailbox = target(
            "email",
            "",
            &[
                ("imap_host", "imap.invalid"),
                ("smtp_host", "127.0.0.1"),
                ("smtp_port", &port),
                ("smtp_starttls", "false"),
                ("username", "inbox"),
                ("password", "mail-secret-pw"),
                ("address", "support@acme.example"),
            ],
        );
        let action = registry()
            .action(&ChannelKind::parse("email").unwrap(), "send_email")
            .cloned()
            .unwrap();
        let id = ActionId::new();
        let input =
            json!({"to": ["ada@example.org"], "subject": "Re: order", "text": "On its way"});
        let output = action.run(&mailbox, id, &input).await.unwrap();

        assert_eq!(output["message_id"], format!("<{id}@acme.example>"));
        let session = server.session();
        assert_eq!(
            session.auth_plain.as_deref(),
            Some("\0inbox\0mail-secret-pw")
        );
        assert_eq!(session.mail_from, "<support@acme.example>");
        assert!(
            session.data.contains("Subject: Re: order"),
            "{}",
            session.data
        );
    }

    #[tokio::test]
    async fn a_refused_login_is_an_auth_failure_without_the_password() {
        let server = FakeSmtp::start(Replies {
            auth: "535 5.7.8 Authentication credentials invalid",
            ..Replies::default()
        })
        .await;
        let port = server.port.to_string();
        let mailer = target(
            "smtp",
            "",
            &[
                ("host", "127.0.0.1"),
                ("port", &port),
                ("starttls", "false"),
                ("username", "mailer"),
                ("password", "smtp-secret-pw"),
                ("from_address", "shop@shop.example"),
            ],
        );
        let action = registry()
            .action(&ChannelKind::parse("smtp").unwrap(), "send_email")
            .cloned()
            .unwrap();
        let input = json!({"to": ["ada@example.org"], "subject": "Hi", "html": "<b>Hi</b>"});
        let error = action
            .run(&mailer, ActionId::new(), &input)
            .await
            .unwrap_err();

        assert!(matches!(error, SendError::Auth(_)), "{error}");
        assert!(!error.to_string().contains("smtp-secret-pw"));
    }

    #[tokio::test]
    async fn an_input_the_record_carries_invalid_is_refused_before_any_connection() {
        let server = FakeSmtp::start(Replies::default()).await;
        let mailer = target("smtp", "", &[("host", "127.0.0.1")]);
        let action = registry()
            .action(&ChannelKind::parse("smtp").unwrap(), "send_email")
            .cloned()
            .unwrap();
        let error = action
            .run(&mailer, ActionId::new(), &json!({"to": [], "subject": "x"}))
            .await
            .unwrap_err();

        assert!(matches!(error, SendError::Invalid(_)), "{error}");
        assert_eq!(server.connections(), 0);
    }
}
