//! Sending on the internal chatbot channel: the message is handed to the platform's internal
//! bot API, `POST {api_base}/v1/messages` with `Authorization: Bearer <the integration's
//! api_key>` and
//!
//! ```json
//! {"message_id": "…", "conversation_key": "…", "recipient": "…",
//!  "content": {"text": "…", "attachments": [{"kind": "image", "url": "…"}],
//!              "quick_replies": [{"title": "…", "payload": "…"}]}}
//! ```
//!
//! (`content` as in the command). Any 2xx means the bot API took the message; its id is the
//! answer's `id` when there is one, else our message id. 5xx (and 408) are temporary, 429 is
//! throttling, 401 and 403 are auth, other 4xx are permanent.
//!
//! There is no public default: the API base is the platform setting `chatbotx.api_base`, and a
//! deployment without it fails chatbot commands as permanent rather than guessing a host.

use crate::channels::chatbotx::API_KEY;
use crate::channels::first_contact::FirstContact;
use crate::channels::sender::{
    check_attachments, classify_status, response_json, retry_after_header, ChannelSender,
    SendError, SendTarget, SentMessage,
};
use crate::egress::EgressHttp;
use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard_domain::message::SendMessage;

/// Longest platform explanation kept in an error detail, in characters.
const MAX_DETAIL_CHARS: usize = 200;

/// Hands messages to the internal bot API.
#[derive(Clone)]
pub struct ChatbotxSender {
    http: EgressHttp,
}

impl ChatbotxSender {
    /// A sender calling the platform through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

impl Default for ChatbotxSender {
    /// A sender under the default egress policy.
    fn default() -> Self {
        Self::new(EgressHttp::shared_default())
    }
}

#[async_trait]
impl ChannelSender for ChatbotxSender {
    /// None: the internal API's address is always a platform setting.
    fn default_api_base(&self) -> &'static str {
        ""
    }

    fn first_contact(&self) -> FirstContact {
        FirstContact::Refused(
            "the chatbot platform's conversations are opened by its own users; Switchboard only answers them",
        )
    }

    async fn send(
        &self,
        target: &SendTarget,
        message: &SendMessage,
    ) -> Result<SentMessage, SendError> {
        if target.api_base.is_empty() {
            return Err(SendError::Permanent(
                "the platform setting chatbotx.api_base is not configured".into(),
            ));
        }
        check_attachments(self.http.policy(), &message.content).await?;
        let key = target.secret(API_KEY)?;
        let body = json!({
            "message_id": message.message_id,
            "conversation_key": message.conversation_key,
            "recipient": message.recipient,
            "content": message.content,
        });
        let response = self
            .http
            .post(target.url("/v1/messages"))?
            .bearer_auth(key.expose())
            .json(&body)
            .send()
            .await
            .map_err(SendError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer: Value = response_json(response).await?;
        if status.is_success() {
            let id = match &answer["id"] {
                Value::String(id) if !id.is_empty() => id.clone(),
                Value::Number(id) => id.to_string(),
                _ => message.message_id.to_string(),
            };
            return Ok(SentMessage {
                platform_message_id: id,
            });
        }
        let detail = detail(status, &answer, key.expose());
        Err(match status.as_u16() {
            401 | 403 => SendError::Auth(detail),
            _ => classify_status(status, retry_after, detail),
        })
    }
}

/// `HTTP <status>` and the API's own words (`error`, else `message`), shortened, with the key
/// blotted out should the API ever echo it.
fn detail(status: reqwest::StatusCode, answer: &Value, key: &str) -> String {
    let words = [
        &answer["error"]["message"],
        &answer["error"],
        &answer["message"],
    ]
    .into_iter()
    .find_map(Value::as_str);
    let Some(words) = words else {
        return format!("chatbot API answered HTTP {status}");
    };
    let words: String = words.chars().take(MAX_DETAIL_CHARS).collect();
    let words = if key.is_empty() {
        words
    } else {
        words.replace(key, "[redacted]")
    };
    format!("chatbot API answered HTTP {status}: {words}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::fake_platform::{message, target, test_egress, FakePlatform, Reply};
    use switchboard_domain::message::{OutboundContent, QuickReplyOption};

    const KEY: &str = "cbx-secret-api-key";

    fn bot(base: &str) -> SendTarget {
        target("chatbotx", base, &[("bot_id", "bot-7"), (API_KEY, KEY)])
    }

    #[tokio::test]
    async fn the_command_is_handed_to_the_bot_api_with_the_bearer_key() {
        let fake = FakePlatform::start(Reply::json(202, json!({"id": "bot-msg-81"}))).await;
        let target = bot(&fake.base);
        let mut content = OutboundContent::text("Which size?");
        content.quick_replies.push(QuickReplyOption {
            title: "M".into(),
            payload: "SIZE_M".into(),
        });
        let command = message(&target, "visitor-42", content);
        let sent = ChatbotxSender::new(test_egress())
            .send(&target, &command)
            .await
            .unwrap();
        assert_eq!(sent.platform_message_id, "bot-msg-81");
        let request = &fake.requests()[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/v1/messages");
        assert_eq!(request.headers["authorization"], format!("Bearer {KEY}"));
        assert_eq!(
            request.body,
            json!({
                "message_id": command.message_id,
                "conversation_key": command.conversation_key,
                "recipient": "visitor-42",
                "content": {"text": "Which size?", "quick_replies": [{"title": "M", "payload": "SIZE_M"}]},
            })
        );
    }

    #[tokio::test]
    async fn an_answer_without_an_id_is_known_by_the_message_id() {
        let fake = FakePlatform::start(Reply::json(200, Value::Null)).await;
        let target = bot(&fake.base);
        let command = message(&target, "visitor-42", OutboundContent::text("hi"));
        let sent = ChatbotxSender::new(test_egress())
            .send(&target, &command)
            .await
            .unwrap();
        assert_eq!(sent.platform_message_id, command.message_id.to_string());
    }

    #[tokio::test]
    async fn failures_are_classified_by_status_and_never_carry_the_key() {
        let fake = FakePlatform::start(Reply::json(200, json!({"id": "ok"}))).await;
        fake.then(
            Reply::json(503, json!({"error": "bot runtime restarting"}))
                .with_header("retry-after", "2"),
        )
        .then(Reply::json(
            401,
            json!({"error": format!("unknown key {KEY}")}),
        ))
        .then(Reply::json(403, json!({"message": "bot disabled"})))
        .then(Reply::json(
            404,
            json!({"error": {"message": "no such conversation"}}),
        ))
        .then(Reply::json(429, json!({})));
        let target = bot(&fake.base);
        let sender = ChatbotxSender::new(test_egress());
        let hello = message(&target, "visitor-42", OutboundContent::text("hi"));
        let send = || sender.send(&target, &hello);
        let restarting = send().await.unwrap_err();
        assert_eq!(
            restarting,
            SendError::Retryable {
                retry_after: Some(std::time::Duration::from_secs(2)),
                detail: "chatbot API answered HTTP 503 Service Unavailable: bot runtime restarting"
                    .into(),
            }
        );
        let refused = send().await.unwrap_err();
        assert!(matches!(refused, SendError::Auth(_)));
        assert!(!refused.to_string().contains(KEY), "{refused}");
        assert!(matches!(send().await, Err(SendError::Auth(_))));
        let missing = send().await.unwrap_err();
        assert!(matches!(missing, SendError::Permanent(_)));
        assert!(missing.to_string().contains("no such conversation"));
        assert!(matches!(send().await, Err(SendError::RateLimited { .. })));
        assert!(send().await.is_ok(), "the bot API recovered");
    }

    #[tokio::test]
    async fn without_a_configured_api_base_the_message_fails_as_permanent() {
        let target = bot("");
        let error = ChatbotxSender::new(test_egress())
            .send(&target, &message(&target, "v", OutboundContent::text("hi")))
            .await
            .unwrap_err();
        assert!(matches!(error, SendError::Permanent(_)));
        assert!(error.to_string().contains("chatbotx.api_base"));
    }

    #[tokio::test]
    async fn an_unreachable_bot_api_is_a_temporary_failure() {
        let target = bot("http://127.0.0.1:1");
        let error = ChatbotxSender::new(test_egress())
            .send(&target, &message(&target, "v", OutboundContent::text("hi")))
            .await
            .unwrap_err();
        assert!(error.is_retryable());
        assert!(!error.to_string().contains(KEY));
    }
}
