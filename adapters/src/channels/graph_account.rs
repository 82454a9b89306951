//! What Messenger and WhatsApp share when connecting, being Meta Graph API calls: an
//! authenticated call that answers JSON, its Graph errors classified as account errors.
//!
//! The token travels in the `Authorization: Bearer` header, never in the URL. Graph's own
//! classification ([`graph_api::classify`]) decides the class: throttling and temporary codes
//! are [`AccountError::Unavailable`], refused tokens (190, 102) are refused credentials, and
//! so are permission and unknown-object errors (10, 200, 100) while verifying: a token that
//! cannot read the account does not prove it.

use crate::channels::account_lifecycle::{AccountError, VerifiedAccount};
use crate::channels::graph_api;
use crate::channels::sender::{response_json, retry_after_header, SendError};
use crate::egress::EgressHttp;
use reqwest::Method;
use serde_json::Value;
use switchboard_domain::SecretString;

/// Why a call is made, which decides how a permanent Graph error reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Reading the account: any refusal means the token does not prove it.
    Verify,
    /// Subscribing or unsubscribing: a refusal is the platform's, for its stated reason.
    Subscription,
}

/// Calls `url` with `method` and the bearer `token` (through the egress policy of `http`) and
/// returns the JSON answer of a 2xx, or the classified failure.
pub async fn call(
    http: &EgressHttp,
    method: Method,
    url: &str,
    token: &SecretString,
    purpose: Purpose,
) -> Result<Value, AccountError> {
    let response = http
        .request(method, url)?
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(AccountError::from_transport)?;
    let status = response.status();
    let retry_after = retry_after_header(response.headers());
    let answer = response_json(response)
        .await
        .map_err(|e| from_send(e, purpose))?;
    if status.is_success() {
        if answer.is_null() {
            return Err(AccountError::unavailable(
                "Graph answered 2xx with an unreadable body",
            ));
        }
        return Ok(answer);
    }
    Err(from_send(
        graph_api::classify(status, retry_after, &answer),
        purpose,
    ))
}

/// The account `answer` describes: its `id`, and the first of `names` it carries as its name.
pub fn account(answer: &Value, names: &[&str]) -> Result<VerifiedAccount, AccountError> {
    let external_id = crate::channels::account_lifecycle::id_text(&answer["id"])
        .ok_or_else(|| AccountError::unavailable("Graph answered without the account's id"))?;
    let display_name = names
        .iter()
        .find_map(|name| answer[*name].as_str().filter(|n| !n.trim().is_empty()))
        .map(str::to_owned);
    Ok(VerifiedAccount {
        external_id,
        display_name,
    })
}

/// Whether a `subscribed_apps` call answered `{"success": true}`.
pub fn succeeded(answer: &Value) -> Result<(), AccountError> {
    if answer["success"] == Value::Bool(true) {
        Ok(())
    } else {
        Err(AccountError::Refused(
            "Graph did not confirm the subscription".into(),
        ))
    }
}

fn from_send(error: SendError, purpose: Purpose) -> AccountError {
    match error {
        SendError::Retryable {
            retry_after,
            detail,
        }
        | SendError::RateLimited {
            retry_after,
            detail,
        }
        | SendError::RecipientThrottled {
            retry_after,
            detail,
        } => AccountError::Unavailable {
            retry_after,
            detail,
        },
        SendError::Auth(detail) => AccountError::RefusedCredentials(detail),
        SendError::AppRefused(detail) => AccountError::unavailable(detail),
        SendError::Permanent(detail) | SendError::Invalid(detail) => {
            if detail.starts_with(crate::channels::sender::EGRESS_REFUSED) {
                AccountError::EgressRefused(detail)
            } else if purpose == Purpose::Verify {
                AccountError::RefusedCredentials(detail)
            } else {
                AccountError::Refused(detail)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_account_is_the_answers_id_and_first_name() {
        let answer = json!({"id": "106540352242922", "verified_name": "Acme", "display_phone_number": "+1 555"});
        let account = account(&answer, &["verified_name", "display_phone_number"]).unwrap();
        assert_eq!(account.external_id, "106540352242922");
        assert_eq!(account.display_name.as_deref(), Some("Acme"));
        assert!(matches!(
            super::account(&json!({}), &["name"]),
            Err(AccountError::Unavailable { .. })
        ));
    }

    #[test]
    fn a_permanent_refusal_while_verifying_is_refused_credentials() {
        let graph = SendError::Permanent("Graph error 100: Object does not exist".into());
        assert!(matches!(
            from_send(graph.clone(), Purpose::Verify),
            AccountError::RefusedCredentials(_)
        ));
        assert!(matches!(
            from_send(graph, Purpose::Subscription),
            AccountError::Refused(_)
        ));
    }
}
