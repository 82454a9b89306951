//! Sending on WhatsApp through the Cloud API:
//! `POST {api_base}/{phone_number_id}/messages` with `{"messaging_product": "whatsapp",
//! "recipient_type": "individual", "to": wa_id, "type": …}` and `Authorization: Bearer`,
//! answered by `{"messaging_product", "contacts": [...], "messages": [{"id": "wamid…"}]}`.
//!
//! One command is one WhatsApp message: text; one attachment (captioned by the text, except
//! audio, which takes none); or text with up to 3 quick replies as interactive reply buttons.
//! Anything else is `Invalid` rather than split. A template message (`type: "template"`,
//! the `template` object as the command carries it) is the only kind the platform delivers
//! outside the 24-hour customer service window, and the only first message it allows: the
//! number may start a conversation with a phone number by template.

use crate::channels::first_contact::{FirstContact, RecipientKind};
use crate::channels::graph_api;
use crate::channels::sender::{
    check_attachments, ChannelSender, SendError, SendTarget, SentMessage,
};
use crate::egress::EgressHttp;
use crate::outbound::rate_limit::RateLimit;
use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard_domain::message::{AttachmentKind, OutboundContent, SendMessage};

/// Auth field: the business phone number that sends.
pub const PHONE_NUMBER_ID: &str = "phone_number_id";
/// Auth field: the system-user or OAuth token.
pub const ACCESS_TOKEN: &str = "access_token";
/// The Cloud API's limit on reply buttons per interactive message.
pub const MAX_REPLY_BUTTONS: usize = 3;
/// The Cloud API's pair rate limit: one message every 6 seconds to one WhatsApp user, after a
/// burst (Meta documents bursts of up to 45 messages in 6 seconds; error 131056 beyond).
pub const PAIR_RATE: RateLimit = RateLimit {
    per_second: 1.0 / 6.0,
    burst: 45,
};

/// Sends WhatsApp messages.
#[derive(Clone)]
pub struct WhatsappSender {
    http: EgressHttp,
}

impl WhatsappSender {
    /// A sender calling the platform through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

impl Default for WhatsappSender {
    /// A sender under the default egress policy.
    fn default() -> Self {
        Self::new(EgressHttp::shared_default())
    }
}

#[async_trait]
impl ChannelSender for WhatsappSender {
    fn default_api_base(&self) -> &'static str {
        graph_api::DEFAULT_API_BASE
    }

    fn recipient_rate(&self) -> Option<RateLimit> {
        Some(PAIR_RATE)
    }

    fn first_contact(&self) -> FirstContact {
        FirstContact::Allowed {
            recipient: RecipientKind::PhoneNumber,
            template_only: true,
        }
    }

    fn sends_templates(&self) -> bool {
        true
    }

    async fn send(
        &self,
        target: &SendTarget,
        message: &SendMessage,
    ) -> Result<SentMessage, SendError> {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.recipient,
        });
        for (key, value) in message_fields(&message.content)? {
            body[key] = value;
        }
        check_attachments(self.http.policy(), &message.content).await?;
        let phone_number_id = target.secret(PHONE_NUMBER_ID)?.expose();
        let token = target.secret(ACCESS_TOKEN)?;
        let url = target.url(&format!("/{phone_number_id}/messages"));
        let answer = graph_api::post(&self.http, &url, token, &body).await?;
        match answer["messages"][0]["id"].as_str() {
            Some(id) => Ok(SentMessage {
                platform_message_id: id.to_owned(),
            }),
            None => Err(SendError::Permanent(
                "the Cloud API answered without messages[0].id".into(),
            )),
        }
    }
}

/// The `type` and its object for `content`.
fn message_fields(content: &OutboundContent) -> Result<Vec<(&'static str, Value)>, SendError> {
    let text = content.text.as_deref().filter(|t| !t.trim().is_empty());
    let quick = &content.quick_replies;
    if let Some(template) = &content.template {
        if text.is_some() || !content.attachments.is_empty() || !quick.is_empty() {
            return Err(SendError::Invalid(
                "a WhatsApp template message carries nothing else: its text is the template's"
                    .into(),
            ));
        }
        let template = serde_json::to_value(template)
            .map_err(|e| SendError::Invalid(format!("unserialisable template: {e}")))?;
        return Ok(vec![("type", json!("template")), ("template", template)]);
    }
    match (text, content.attachments.as_slice()) {
        (Some(text), []) if quick.is_empty() => Ok(vec![
            ("type", json!("text")),
            ("text", json!({"preview_url": false, "body": text})),
        ]),
        (Some(text), []) if quick.len() <= MAX_REPLY_BUTTONS => {
            let buttons: Vec<Value> = quick
                .iter()
                .map(|q| json!({"type": "reply", "reply": {"id": q.payload, "title": q.title}}))
                .collect();
            Ok(vec![
                ("type", json!("interactive")),
                (
                    "interactive",
                    json!({"type": "button", "body": {"text": text}, "action": {"buttons": buttons}}),
                ),
            ])
        }
        (Some(_), []) => Err(SendError::Invalid(format!(
            "WhatsApp allows at most {MAX_REPLY_BUTTONS} reply buttons"
        ))),
        (caption, [attachment]) if quick.is_empty() => {
            let kind = media_type(attachment.kind);
            let mut media = json!({"link": attachment.url});
            match (caption, attachment.kind) {
                (Some(_), AttachmentKind::Audio) => {
                    return Err(SendError::Invalid(
                        "WhatsApp audio messages take no caption".into(),
                    ))
                }
                (Some(caption), _) => media["caption"] = json!(caption),
                (None, _) => {}
            }
            Ok(vec![("type", json!(kind)), (kind, media)])
        }
        (_, [_]) => Err(SendError::Invalid(
            "WhatsApp reply buttons cannot accompany an attachment".into(),
        )),
        _ => Err(SendError::Invalid(
            "WhatsApp sends at most one attachment per message".into(),
        )),
    }
}

fn media_type(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Image => "image",
        AttachmentKind::Video => "video",
        AttachmentKind::Audio => "audio",
        AttachmentKind::File => "document",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::fake_platform::{message, target, test_egress, FakePlatform, Reply};
    use switchboard_domain::message::{OutboundAttachment, QuickReplyOption};

    const WAMID: &str = "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA";

    fn ok() -> Reply {
        Reply::json(
            200,
            json!({"messaging_product": "whatsapp", "contacts": [{"input": "16505551234", "wa_id": "16505551234"}], "messages": [{"id": WAMID}]}),
        )
    }

    fn number(base: &str) -> SendTarget {
        target(
            "whatsapp",
            base,
            &[
                (PHONE_NUMBER_ID, "106540352242922"),
                (ACCESS_TOKEN, "EAAG-token"),
            ],
        )
    }

    #[tokio::test]
    async fn a_text_is_posted_to_the_phone_number_with_the_bearer_token() {
        let fake = FakePlatform::start(ok()).await;
        let target = number(&fake.base);
        let sent = WhatsappSender::new(test_egress())
            .send(
                &target,
                &message(&target, "16505551234", OutboundContent::text("Hello")),
            )
            .await
            .unwrap();
        assert_eq!(sent.platform_message_id, WAMID);
        let request = &fake.requests()[0];
        assert_eq!(request.path, "/106540352242922/messages");
        assert_eq!(request.headers["authorization"], "Bearer EAAG-token");
        assert_eq!(
            request.body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "text",
                "text": {"preview_url": false, "body": "Hello"},
            })
        );
    }

    #[tokio::test]
    async fn quick_replies_become_reply_buttons_and_attachments_take_the_caption() {
        let fake = FakePlatform::start(ok()).await;
        let target = number(&fake.base);
        let sender = WhatsappSender::new(test_egress());
        let mut buttons = OutboundContent::text("Confirm?");
        buttons.quick_replies = vec![QuickReplyOption {
            title: "Yes".into(),
            payload: "CONFIRM".into(),
        }];
        sender
            .send(&target, &message(&target, "1", buttons))
            .await
            .unwrap();
        let mut picture = OutboundContent::text("Our menu");
        picture.attachments.push(OutboundAttachment {
            kind: AttachmentKind::File,
            url: "https://cdn.example/menu.pdf".into(),
        });
        sender
            .send(&target, &message(&target, "1", picture))
            .await
            .unwrap();
        let requests = fake.requests();
        assert_eq!(
            requests[0].body["interactive"],
            json!({"type": "button", "body": {"text": "Confirm?"}, "action": {"buttons": [{"type": "reply", "reply": {"id": "CONFIRM", "title": "Yes"}}]}})
        );
        assert_eq!(requests[1].body["type"], "document");
        assert_eq!(
            requests[1].body["document"],
            json!({"link": "https://cdn.example/menu.pdf", "caption": "Our menu"})
        );
    }

    #[tokio::test]
    async fn cloud_api_errors_come_back_classified() {
        let fake = FakePlatform::start(ok()).await;
        let error = |code: i64, message: &str| {
            Reply::json(
                400,
                json!({"error": {"message": message, "type": "OAuthException", "code": code, "error_data": {"messaging_product": "whatsapp", "details": message}, "fbtrace_id": "Az8or2yhqkZfEZ"}}),
            )
        };
        fake.then(error(131047, "(#131047) Re-engagement message"))
            .then(error(130429, "(#130429) Rate limit hit"))
            .then(error(190, "Error validating access token"));
        let target = number(&fake.base);
        let sender = WhatsappSender::new(test_egress());
        let hello = message(&target, "1", OutboundContent::text("hi"));
        assert!(matches!(
            sender.send(&target, &hello).await,
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            sender.send(&target, &hello).await,
            Err(SendError::RateLimited { .. })
        ));
        assert!(matches!(
            sender.send(&target, &hello).await,
            Err(SendError::Auth(_))
        ));
    }

    #[tokio::test]
    async fn a_template_is_posted_in_the_documented_template_shape() {
        let fake = FakePlatform::start(ok()).await;
        let target = number(&fake.base);
        let template = json!({
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}],
        });
        let content = OutboundContent {
            template: Some(serde_json::from_value(template.clone()).unwrap()),
            ..OutboundContent::default()
        };
        WhatsappSender::new(test_egress())
            .send(&target, &message(&target, "16505551234", content))
            .await
            .unwrap();
        assert_eq!(
            fake.requests()[0].body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "template",
                "template": template,
            })
        );
    }

    #[tokio::test]
    async fn a_template_with_text_beside_it_is_invalid_and_never_sent() {
        let fake = FakePlatform::start(ok()).await;
        let target = number(&fake.base);
        let mut content = OutboundContent::text("and also this");
        content.template = Some(
            serde_json::from_value(json!({"name": "hello_world", "language": {"code": "en_US"}}))
                .unwrap(),
        );
        let error = WhatsappSender::new(test_egress())
            .send(&target, &message(&target, "1", content))
            .await
            .unwrap_err();
        assert!(matches!(error, SendError::Invalid(_)));
        assert!(fake.requests().is_empty());
    }

    #[tokio::test]
    async fn four_buttons_are_invalid_and_never_sent() {
        let fake = FakePlatform::start(ok()).await;
        let target = number(&fake.base);
        let mut content = OutboundContent::text("Pick");
        content.quick_replies = (0..4)
            .map(|i| QuickReplyOption {
                title: format!("Option {i}"),
                payload: i.to_string(),
            })
            .collect();
        let error = WhatsappSender::new(test_egress())
            .send(&target, &message(&target, "1", content))
            .await
            .unwrap_err();
        assert!(matches!(error, SendError::Invalid(_)));
        assert!(fake.requests().is_empty());
    }
}
