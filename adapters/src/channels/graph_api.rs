//! What Messenger and WhatsApp share when sending, being Meta Graph API calls: the
//! authenticated JSON POST and the classification of Graph error codes.
//!
//! Graph errors arrive as `{"error": {"message", "type", "code", "error_subcode",
//! "fbtrace_id"}}`. The code decides the class, the HTTP status only breaks ties. The token
//! travels in the `Authorization: Bearer` header (which Graph accepts everywhere), never in
//! the URL, so no transport error text can carry it.

use crate::channels::sender::{classify_status, response_json, retry_after_header, SendError};
use crate::egress::EgressHttp;
use serde_json::Value;
use std::time::Duration;
use switchboard_domain::SecretString;

/// The Graph API version every Meta sender calls.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com/v21.0";

/// Throttling: application (4), user (17), page/business (32, 80007), custom (613), WhatsApp
/// account (130429).
const THROTTLED: &[i64] = &[4, 17, 32, 613, 80007, 130429];
/// Throttling of one recipient: WhatsApp's pair rate limit (131056, too many messages to one
/// user); the integration may go on sending to everyone else.
const RECIPIENT_THROTTLED: &[i64] = &[131056];
/// Temporary: unknown (1), service (2), WhatsApp "something went wrong" (131000), service
/// unavailable (131016).
const TEMPORARY: &[i64] = &[1, 2, 131000, 131016];
/// Refused credentials: invalid/expired token (190), session key (102).
const AUTH: &[i64] = &[102, 190];
/// Refused for good: invalid parameter (100), user unavailable (551), outside the 24-hour
/// window (131047), undeliverable (131026), permission (10, 200), unsupported type (131051).
const PERMANENT: &[i64] = &[10, 100, 200, 551, 131026, 131047, 131051];

/// Classifies a Graph error answer (its HTTP status, `Retry-After` and JSON body).
pub fn classify(
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    body: &Value,
) -> SendError {
    let error = &body["error"];
    let code = error["code"].as_i64();
    let detail = match code {
        Some(code) => format!(
            "Graph error {code}: {}",
            error["message"].as_str().unwrap_or("(no message)")
        ),
        None => format!("HTTP {status}"),
    };
    let Some(code) = code else {
        return classify_status(status, retry_after, detail);
    };
    if THROTTLED.contains(&code) {
        SendError::RateLimited {
            retry_after,
            detail,
        }
    } else if RECIPIENT_THROTTLED.contains(&code) {
        SendError::RecipientThrottled {
            retry_after,
            detail,
        }
    } else if TEMPORARY.contains(&code) || error["is_transient"] == Value::Bool(true) {
        SendError::Retryable {
            retry_after,
            detail,
        }
    } else if AUTH.contains(&code) {
        SendError::Auth(detail)
    } else if PERMANENT.contains(&code) {
        SendError::Permanent(detail)
    } else {
        classify_status(status, retry_after, detail)
    }
}

/// POSTs `body` to `url` (through the egress policy of `http`) with the bearer `token` and
/// returns the JSON answer of a 2xx, or the classified failure.
pub async fn post(
    http: &EgressHttp,
    url: &str,
    token: &SecretString,
    body: &Value,
) -> Result<Value, SendError> {
    let response = http
        .post(url)?
        .bearer_auth(token.expose())
        .json(body)
        .send()
        .await
        .map_err(SendError::from_transport)?;
    let status = response.status();
    let retry_after = retry_after_header(response.headers());
    let answer = response_json(response).await?;
    if answer.is_null() && status.is_success() {
        return Err(SendError::retryable(
            "Graph answered 2xx with an unreadable body",
        ));
    }
    if status.is_success() {
        Ok(answer)
    } else {
        Err(classify(status, retry_after, &answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use serde_json::json;

    fn graph_error(code: i64) -> Value {
        json!({"error": {"message": "documented message", "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}})
    }

    #[test]
    fn graph_codes_decide_the_class_whatever_the_status() {
        let bad = StatusCode::BAD_REQUEST;
        for code in [4, 17, 32, 613, 130429] {
            let error = classify(bad, None, &graph_error(code));
            assert!(matches!(error, SendError::RateLimited { .. }), "{code}");
            assert!(error.is_retryable());
        }
        let pair = classify(bad, None, &graph_error(131056));
        assert!(matches!(pair, SendError::RecipientThrottled { .. }));
        assert!(pair.is_retryable());
        for code in [100, 551, 131047, 131026] {
            assert!(
                matches!(
                    classify(bad, None, &graph_error(code)),
                    SendError::Permanent(_)
                ),
                "{code}"
            );
        }
        assert!(matches!(
            classify(bad, None, &graph_error(190)),
            SendError::Auth(_)
        ));
        assert!(matches!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, None, &graph_error(2)),
            SendError::Retryable { .. }
        ));
    }

    #[test]
    fn unknown_codes_and_bodies_fall_back_to_the_status() {
        let unknown = graph_error(999_999);
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, None, &unknown),
            SendError::Retryable { .. }
        ));
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, None, &unknown),
            SendError::Permanent(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None, &Value::Null),
            SendError::Retryable { .. }
        ));
        let transient = json!({"error": {"code": 999_999, "is_transient": true}});
        assert!(classify(StatusCode::BAD_REQUEST, None, &transient).is_retryable());
    }

    #[test]
    fn the_detail_names_the_code_and_the_platform_message() {
        let error = classify(StatusCode::BAD_REQUEST, None, &graph_error(131047));
        assert_eq!(
            error,
            SendError::Permanent("Graph error 131047: documented message".into())
        );
    }

    #[test]
    fn a_retry_after_travels_with_a_throttle() {
        let wait = Some(Duration::from_secs(30));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, wait, &graph_error(613)).retry_after(),
            wait
        );
    }
}
