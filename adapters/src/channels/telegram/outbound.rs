//! Sending on Telegram through the Bot API: `POST {api_base}/bot<token>/sendMessage` with
//! `{"chat_id", "text", "reply_markup": {"inline_keyboard": [[…]]}}` (or `sendPhoto`,
//! `sendVideo`, `sendAudio`, `sendDocument` with the URL and a caption), answered by
//! `{"ok": true, "result": {"message_id", "chat": {"id"}}}` or `{"ok": false, "error_code",
//! "description", "parameters": {"retry_after"}}`.
//!
//! The platform message id is `"<chat id>:<message_id>"`, the form the inbound parser uses,
//! so receipts and replies match our sends. The bot token is part of the URL, which is why
//! error details here are built only from the answer's `description`.

use crate::channels::first_contact::{FirstContact, RecipientKind};
use crate::channels::sender::{
    check_attachments, classify_status, response_json, retry_after_header, ChannelSender,
    SendError, SendTarget, SentMessage,
};
use crate::egress::EgressHttp;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_domain::message::{AttachmentKind, OutboundContent, SendMessage};

/// Auth field: the bot token from @BotFather.
pub const BOT_TOKEN: &str = "bot_token";
/// The real Bot API.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// The Bot API's limit on `callback_data`.
pub const MAX_CALLBACK_DATA_BYTES: usize = 64;

/// Sends Telegram messages.
#[derive(Clone)]
pub struct TelegramSender {
    http: EgressHttp,
}

impl TelegramSender {
    /// A sender calling the Bot API through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

impl Default for TelegramSender {
    /// A sender under the default egress policy.
    fn default() -> Self {
        Self::new(EgressHttp::shared_default())
    }
}

#[async_trait]
impl ChannelSender for TelegramSender {
    fn default_api_base(&self) -> &'static str {
        DEFAULT_API_BASE
    }

    fn first_contact(&self) -> FirstContact {
        // A bot may write to any chat id; Telegram itself refuses (403) a user who never
        // started the bot, and that send ends as failed.
        FirstContact::Allowed {
            recipient: RecipientKind::TelegramChatId,
            template_only: false,
        }
    }

    async fn send(
        &self,
        target: &SendTarget,
        message: &SendMessage,
    ) -> Result<SentMessage, SendError> {
        let (method, mut body) = request(&message.content)?;
        body["chat_id"] = json!(message.recipient);
        check_attachments(self.http.policy(), &message.content).await?;
        let token = target.secret(BOT_TOKEN)?;
        let url = target.url(&format!("/bot{}/{method}", token.expose()));
        let response = self
            .http
            .post(&url)?
            .json(&body)
            .send()
            .await
            .map_err(SendError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer = response_json(response).await?;
        if answer["ok"] == Value::Bool(true) {
            return sent(&answer["result"], &message.recipient);
        }
        Err(classify(status, retry_after, &answer))
    }
}

/// The Bot API method and body (without `chat_id`) for `content`.
fn request(content: &OutboundContent) -> Result<(&'static str, Value), SendError> {
    let text = content.text.as_deref().filter(|t| !t.trim().is_empty());
    let (method, mut body) = match (text, content.attachments.as_slice()) {
        (Some(text), []) => ("sendMessage", json!({"text": text})),
        (caption, [attachment]) => {
            let (method, field) = media_method(attachment.kind);
            let mut body = json!({ field: attachment.url });
            if let Some(caption) = caption {
                body["caption"] = json!(caption);
            }
            (method, body)
        }
        _ => {
            return Err(SendError::Invalid(
                "Telegram sends at most one attachment per message".into(),
            ))
        }
    };
    if let Some(too_long) = content
        .quick_replies
        .iter()
        .find(|q| q.payload.len() > MAX_CALLBACK_DATA_BYTES)
    {
        return Err(SendError::Invalid(format!(
            "quick reply '{}' has a payload over {MAX_CALLBACK_DATA_BYTES} bytes",
            too_long.title
        )));
    }
    if !content.quick_replies.is_empty() {
        let rows: Vec<Value> = content
            .quick_replies
            .iter()
            .map(|q| json!([{"text": q.title, "callback_data": q.payload}]))
            .collect();
        body["reply_markup"] = json!({ "inline_keyboard": rows });
    }
    Ok((method, body))
}

fn media_method(kind: AttachmentKind) -> (&'static str, &'static str) {
    match kind {
        AttachmentKind::Image => ("sendPhoto", "photo"),
        AttachmentKind::Video => ("sendVideo", "video"),
        AttachmentKind::Audio => ("sendAudio", "audio"),
        AttachmentKind::File => ("sendDocument", "document"),
    }
}

/// `"<chat id>:<message_id>"` of the sent message.
fn sent(result: &Value, recipient: &str) -> Result<SentMessage, SendError> {
    let message_id = result["message_id"]
        .as_i64()
        .ok_or_else(|| SendError::Permanent("the Bot API answered without a message_id".into()))?;
    let chat = result["chat"]["id"]
        .as_i64()
        .map(|id| id.to_string())
        .unwrap_or_else(|| recipient.to_owned());
    Ok(SentMessage {
        platform_message_id: format!("{chat}:{message_id}"),
    })
}

/// Classifies a Bot API failure: 429 waits `parameters.retry_after`; 401 (and 404, which is
/// what a malformed token gets) is auth; 400/403 (chat not found, bot blocked) are permanent.
fn classify(
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    answer: &Value,
) -> SendError {
    let code = answer["error_code"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| reqwest::StatusCode::from_u16(c).ok())
        .unwrap_or(status);
    let detail = match answer["description"].as_str() {
        Some(description) => format!("Bot API {}: {description}", code.as_u16()),
        None => format!("HTTP {status}"),
    };
    let retry_after = answer["parameters"]["retry_after"]
        .as_u64()
        .map(Duration::from_secs)
        .or(retry_after);
    match code.as_u16() {
        404 => SendError::Auth(detail),
        _ => classify_status(code, retry_after, detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::fake_platform::{message, target, test_egress, FakePlatform, Reply};
    use switchboard_domain::message::{OutboundAttachment, QuickReplyOption};

    const TOKEN: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";

    fn ok() -> Reply {
        Reply::json(
            200,
            json!({"ok": true, "result": {"message_id": 4711, "date": 1700000000, "chat": {"id": 987654321, "type": "private"}, "text": "Hello"}}),
        )
    }

    fn bot(base: &str) -> SendTarget {
        target("telegram", base, &[(BOT_TOKEN, TOKEN)])
    }

    #[tokio::test]
    async fn a_text_with_quick_replies_is_sent_with_an_inline_keyboard() {
        let fake = FakePlatform::start(ok()).await;
        let target = bot(&fake.base);
        let mut content = OutboundContent::text("Hello");
        content.quick_replies = vec![
            QuickReplyOption {
                title: "Yes".into(),
                payload: "yes".into(),
            },
            QuickReplyOption {
                title: "No".into(),
                payload: "no".into(),
            },
        ];
        let sent = TelegramSender::new(test_egress())
            .send(&target, &message(&target, "987654321", content))
            .await
            .unwrap();
        assert_eq!(sent.platform_message_id, "987654321:4711");
        let request = &fake.requests()[0];
        assert_eq!(request.path, format!("/bot{TOKEN}/sendMessage"));
        assert_eq!(
            request.body,
            json!({
                "chat_id": "987654321",
                "text": "Hello",
                "reply_markup": {"inline_keyboard": [
                    [{"text": "Yes", "callback_data": "yes"}],
                    [{"text": "No", "callback_data": "no"}],
                ]},
            })
        );
    }

    #[tokio::test]
    async fn a_photo_is_sent_by_url_with_its_caption() {
        let fake = FakePlatform::start(ok()).await;
        let target = bot(&fake.base);
        let mut content = OutboundContent::text("Look");
        content.attachments.push(OutboundAttachment {
            kind: AttachmentKind::Image,
            url: "https://cdn.example/cat.jpg".into(),
        });
        TelegramSender::new(test_egress())
            .send(&target, &message(&target, "1", content))
            .await
            .unwrap();
        let request = &fake.requests()[0];
        assert_eq!(request.path, format!("/bot{TOKEN}/sendPhoto"));
        assert_eq!(
            request.body,
            json!({"chat_id": "1", "photo": "https://cdn.example/cat.jpg", "caption": "Look"})
        );
    }

    #[tokio::test]
    async fn a_429_waits_as_long_as_parameters_retry_after_says() {
        let fake = FakePlatform::start(ok()).await;
        fake.then(Reply::json(
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 5", "parameters": {"retry_after": 5}}),
        ));
        let target = bot(&fake.base);
        let hello = message(&target, "1", OutboundContent::text("hi"));
        let error = TelegramSender::new(test_egress())
            .send(&target, &hello)
            .await
            .unwrap_err();
        assert!(matches!(error, SendError::RateLimited { .. }));
        assert_eq!(error.retry_after(), Some(Duration::from_secs(5)));
        assert!(TelegramSender::new(test_egress())
            .send(&target, &hello)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn refusals_are_classified_and_never_carry_the_token() {
        let fake = FakePlatform::start(ok()).await;
        fake.then(Reply::json(
            403,
            json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
        ))
        .then(Reply::json(
            401,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        ))
        .then(Reply::json(502, json!({})));
        let target = bot(&fake.base);
        let sender = TelegramSender::new(test_egress());
        let hello = message(&target, "1", OutboundContent::text("hi"));
        let blocked = sender.send(&target, &hello).await.unwrap_err();
        assert_eq!(
            blocked,
            SendError::Permanent("Bot API 403: Forbidden: bot was blocked by the user".into())
        );
        assert!(matches!(
            sender.send(&target, &hello).await,
            Err(SendError::Auth(_))
        ));
        let gateway = sender.send(&target, &hello).await.unwrap_err();
        assert!(gateway.is_retryable());
        assert!(!gateway.to_string().contains(TOKEN));
    }

    #[tokio::test]
    async fn an_unreachable_api_is_retryable_and_the_error_hides_the_token() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let target = bot(&base);
        let error = TelegramSender::new(test_egress())
            .send(&target, &message(&target, "1", OutboundContent::text("hi")))
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(!error.to_string().contains(TOKEN), "{error}");
    }
}
