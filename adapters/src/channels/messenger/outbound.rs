//! Sending on Messenger through the Graph Send API:
//! `POST {api_base}/{page_id}/messages` with `{"recipient": {"id": PSID}, "messaging_type":
//! "RESPONSE", "message": …}`, answered by `{"recipient_id", "message_id"}`.
//!
//! One command is one Messenger message: text *or* one attachment (Messenger has no captions),
//! with up to 13 quick replies. Anything else is `Invalid` rather than split, so a retry never
//! re-sends half of a message. A tagged message (see [`super::tags`]) goes as
//! `messaging_type: "MESSAGE_TAG"` with its `tag`, which lets it out after the standard
//! window. A page cannot write first: Messenger delivers only to people who wrote to it.

use crate::channels::first_contact::FirstContact;
use crate::channels::graph_api;
use crate::channels::messenger::tags::MESSAGE_TAGS;
use crate::channels::sender::{
    check_attachments, ChannelSender, SendError, SendTarget, SentMessage,
};
use crate::egress::EgressHttp;
use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard_domain::message::{
    find_tag, AttachmentKind, OutboundContent, SendMessage, TagWindow,
};

/// Auth field: the page that sends.
pub const PAGE_ID: &str = "page_id";
/// Auth field: the page access token.
pub const PAGE_ACCESS_TOKEN: &str = "page_access_token";
/// Messenger's limit on quick replies per message.
pub const MAX_QUICK_REPLIES: usize = 13;

/// Sends Messenger messages.
#[derive(Clone)]
pub struct MessengerSender {
    http: EgressHttp,
}

impl MessengerSender {
    /// A sender calling the platform through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

impl Default for MessengerSender {
    /// A sender under the default egress policy.
    fn default() -> Self {
        Self::new(EgressHttp::shared_default())
    }
}

#[async_trait]
impl ChannelSender for MessengerSender {
    fn default_api_base(&self) -> &'static str {
        graph_api::DEFAULT_API_BASE
    }

    fn first_contact(&self) -> FirstContact {
        FirstContact::Refused(
            "a Messenger page can only answer people who wrote to it (a message tag extends the window of a conversation, it does not start one)",
        )
    }

    fn message_tags(&self) -> &'static [TagWindow] {
        MESSAGE_TAGS
    }

    async fn send(
        &self,
        target: &SendTarget,
        message: &SendMessage,
    ) -> Result<SentMessage, SendError> {
        let mut body = json!({
            "recipient": {"id": message.recipient},
            "messaging_type": "RESPONSE",
            "message": message_body(&message.content)?,
        });
        if let Some(tag) = &message.content.tag {
            let tag = find_tag(MESSAGE_TAGS, tag).ok_or_else(|| {
                SendError::Invalid(format!("Messenger has no message tag '{tag}'"))
            })?;
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!(tag.tag);
        }
        check_attachments(self.http.policy(), &message.content).await?;
        let page_id = target.secret(PAGE_ID)?.expose();
        let token = target.secret(PAGE_ACCESS_TOKEN)?;
        let url = target.url(&format!("/{page_id}/messages"));
        let answer = graph_api::post(&self.http, &url, token, &body).await?;
        match answer["message_id"].as_str() {
            Some(id) => Ok(SentMessage {
                platform_message_id: id.to_owned(),
            }),
            None => Err(SendError::Permanent(
                "the Send API answered without a message_id".into(),
            )),
        }
    }
}

/// The Send API's `message` object for `content`.
fn message_body(content: &OutboundContent) -> Result<Value, SendError> {
    let text = content.text.as_deref().filter(|t| !t.trim().is_empty());
    let mut message = match (text, content.attachments.as_slice()) {
        (Some(text), []) => json!({"text": text}),
        (None, [attachment]) => json!({"attachment": {
            "type": attachment_type(attachment.kind),
            "payload": {"url": attachment.url, "is_reusable": true},
        }}),
        (Some(_), [_, ..]) => {
            return Err(SendError::Invalid(
                "Messenger sends text or one attachment per message, not both".into(),
            ))
        }
        _ => {
            return Err(SendError::Invalid(
                "Messenger sends at most one attachment per message".into(),
            ))
        }
    };
    if content.quick_replies.len() > MAX_QUICK_REPLIES {
        return Err(SendError::Invalid(format!(
            "Messenger allows at most {MAX_QUICK_REPLIES} quick replies"
        )));
    }
    if !content.quick_replies.is_empty() {
        message["quick_replies"] = content
            .quick_replies
            .iter()
            .map(|q| json!({"content_type": "text", "title": q.title, "payload": q.payload}))
            .collect();
    }
    Ok(message)
}

fn attachment_type(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Image => "image",
        AttachmentKind::Video => "video",
        AttachmentKind::Audio => "audio",
        AttachmentKind::File => "file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::fake_platform::{message, target, test_egress, FakePlatform, Reply};
    use switchboard_domain::message::{OutboundAttachment, QuickReplyOption};

    const SENT: &str =
        "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P";

    fn ok() -> Reply {
        Reply::json(
            200,
            json!({"recipient_id": "1254477777772919", "message_id": SENT}),
        )
    }

    fn graph_error(code: i64, message: &str) -> Reply {
        Reply::json(
            400,
            json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AWswcO7WbGC"}}),
        )
    }

    fn page(base: &str) -> SendTarget {
        target(
            "messenger",
            base,
            &[
                (PAGE_ID, "1122334455"),
                (PAGE_ACCESS_TOKEN, "EAAB-page-token"),
            ],
        )
    }

    #[tokio::test]
    async fn a_text_with_quick_replies_is_posted_to_the_page_with_the_bearer_token() {
        let fake = FakePlatform::start(ok()).await;
        let target = page(&fake.base);
        let mut content = OutboundContent::text("Pick a colour");
        content.quick_replies = vec![QuickReplyOption {
            title: "Red".into(),
            payload: "COLOUR_RED".into(),
        }];
        let sent = MessengerSender::new(test_egress())
            .send(&target, &message(&target, "1254477777772919", content))
            .await
            .unwrap();
        assert_eq!(sent.platform_message_id, SENT);
        let request = &fake.requests()[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/1122334455/messages");
        assert_eq!(request.headers["authorization"], "Bearer EAAB-page-token");
        assert_eq!(
            request.body,
            json!({
                "recipient": {"id": "1254477777772919"},
                "messaging_type": "RESPONSE",
                "message": {
                    "text": "Pick a colour",
                    "quick_replies": [{"content_type": "text", "title": "Red", "payload": "COLOUR_RED"}],
                },
            })
        );
    }

    #[tokio::test]
    async fn an_attachment_is_sent_by_url_as_its_own_message() {
        let fake = FakePlatform::start(ok()).await;
        let target = page(&fake.base);
        let content = OutboundContent {
            attachments: vec![OutboundAttachment {
                kind: AttachmentKind::Image,
                url: "https://cdn.example/cat.png".into(),
            }],
            ..OutboundContent::default()
        };
        MessengerSender::new(test_egress())
            .send(&target, &message(&target, "u1", content))
            .await
            .unwrap();
        assert_eq!(
            fake.requests()[0].body["message"],
            json!({"attachment": {"type": "image", "payload": {"url": "https://cdn.example/cat.png", "is_reusable": true}}})
        );
    }

    #[tokio::test]
    async fn graph_errors_come_back_classified() {
        let fake = FakePlatform::start(ok()).await;
        fake.then(graph_error(
            613,
            "Calls to this api have exceeded the rate limit.",
        ))
        .then(graph_error(551, "This person isn't available right now."))
        .then(graph_error(
            190,
            "Error validating access token: Session has expired",
        ))
        .then(Reply::json(503, json!({})).with_header("retry-after", "9"));
        let target = page(&fake.base);
        let sender = MessengerSender::new(test_egress());
        let hello = message(&target, "u1", OutboundContent::text("hi"));
        let send = || sender.send(&target, &hello);
        assert!(matches!(send().await, Err(SendError::RateLimited { .. })));
        assert!(matches!(send().await, Err(SendError::Permanent(_))));
        let auth = send().await.unwrap_err();
        assert!(matches!(auth, SendError::Auth(_)));
        assert!(!auth.to_string().contains("EAAB-page-token"));
        let unavailable = send().await.unwrap_err();
        assert!(unavailable.is_retryable());
        assert_eq!(
            unavailable.retry_after(),
            Some(std::time::Duration::from_secs(9))
        );
        assert!(send().await.is_ok(), "the platform recovered");
    }

    #[tokio::test]
    async fn a_tagged_message_goes_as_message_tag_with_its_tag() {
        let fake = FakePlatform::start(ok()).await;
        let target = page(&fake.base);
        let mut content = OutboundContent::text("An agent will call you back");
        content.tag = Some("HUMAN_AGENT".into());
        MessengerSender::new(test_egress())
            .send(&target, &message(&target, "u1", content))
            .await
            .unwrap();
        let body = &fake.requests()[0].body;
        assert_eq!(body["messaging_type"], "MESSAGE_TAG");
        assert_eq!(body["tag"], "HUMAN_AGENT");
        assert_eq!(
            body["message"],
            json!({"text": "An agent will call you back"})
        );
    }

    #[tokio::test]
    async fn text_with_an_attachment_is_invalid_and_never_sent() {
        let fake = FakePlatform::start(ok()).await;
        let target = page(&fake.base);
        let mut content = OutboundContent::text("caption");
        content.attachments.push(OutboundAttachment {
            kind: AttachmentKind::File,
            url: "https://cdn.example/a.pdf".into(),
        });
        let error = MessengerSender::new(test_egress())
            .send(&target, &message(&target, "u1", content))
            .await
            .unwrap_err();
        assert!(matches!(error, SendError::Invalid(_)));
        assert!(fake.requests().is_empty());
    }
}
