//! OAuth2 connect flows: what each platform's consent flow needs from Switchboard (the
//! authorization URL the browser is sent to) and gives back (a code, traded for tokens and the
//! account they act for). One [`OAuthFlow`] per channel lives in that channel's folder
//! (`zalo/oauth.rs`, …); [`flow_for`] finds it. The HTTP routes, the signed single-use state
//! and the connect itself are the API's.
//!
//! Every call to a platform goes through the egress-checked client ([`EgressHttp`]): the token
//! and graph endpoints are platform settings an operator (or a test) may point elsewhere
//! (`oauth_base`, `api_base`, `token_url`), so they pass the same policy as any other
//! destination. Platforms whose token endpoint follows RFC 6749 (Google, Meta) are exchanged
//! with the `oauth2` crate over that client ([`standard_exchange`]); Zalo and TikTok answer in
//! formats of their own and are read by their flows. Codes, tokens and verifiers never appear in
//! an error's text.

use crate::egress::{denial_in, read_capped, EgressError, EgressHttp, MAX_RESPONSE_BYTES};
use async_trait::async_trait;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, ExtraTokenFields, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::AccountInfo;
use switchboard_domain::{ChannelKind, SecretString};

/// A channel's platform credentials and settings, by field name.
pub type Platform = BTreeMap<String, SecretString>;

/// What an authorization URL is built from.
#[derive(Debug, Clone)]
pub struct AuthorizeParams {
    /// The signed state the platform hands back with the code.
    pub state: String,
    /// This service's callback, registered with the platform.
    pub redirect_uri: String,
    /// The S256 PKCE challenge, for flows that use PKCE.
    pub code_challenge: Option<String>,
}

/// What the callback brought back, with what the authorize step remembered.
pub struct CallbackParams {
    /// The authorization code.
    pub code: SecretString,
    /// The redirect URI of the authorize step (the token endpoints compare it).
    pub redirect_uri: String,
    /// The PKCE verifier of the authorize step, for flows that use PKCE.
    pub code_verifier: Option<SecretString>,
    /// The account the caller asked for (a page, phone number or spreadsheet id).
    pub account_hint: Option<String>,
    /// The callback's other query parameters (Zalo names the OA there).
    pub query: BTreeMap<String, String>,
}

/// What a flow obtained: the auth fields to connect with and the account they act for.
pub struct Connection {
    /// Tokens and account fields, as the channel's auth spec names them.
    pub auth: AuthInput,
    /// The account's id and name as the platform reports them.
    pub account: AccountInfo,
}

/// Why a flow could not go on. The texts name no code, token or verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// A platform credential the flow needs is not configured.
    #[error("the platform credential {0} is not configured")]
    NotConfigured(String),
    /// The platform refused the code or the tokens (expired code, wrong verifier…).
    #[error("the platform refused the authorization: {0}")]
    Refused(String),
    /// The platform could not be reached or failed (5xx, timeout).
    #[error("the platform could not be reached: {0}")]
    Unavailable(String),
    /// The account asked for is not among those granted, or there is no single one to take.
    #[error("{0}")]
    Account(String),
    /// The egress policy refused the platform endpoint.
    #[error("the platform endpoint is refused by the egress policy: {0}")]
    Egress(String),
}

/// One platform's consent flow.
#[async_trait]
pub trait OAuthFlow: Send + Sync {
    /// Whether the flow sends an S256 PKCE challenge (and later its verifier).
    fn uses_pkce(&self) -> bool;

    /// The auth field the caller's account hint fills in (`page_id`, `spreadsheet_id`…), if any.
    fn hint_field(&self) -> Option<&'static str> {
        None
    }

    /// Whether the flow cannot work without an account hint (a spreadsheet to write to).
    fn needs_hint(&self) -> bool {
        false
    }

    /// The platform's authorization URL for the browser.
    fn authorization_url(
        &self,
        platform: &Platform,
        params: &AuthorizeParams,
    ) -> Result<String, FlowError>;

    /// Trades the callback's code for tokens and reads the account they act for.
    async fn exchange(
        &self,
        http: &EgressHttp,
        platform: &Platform,
        callback: CallbackParams,
    ) -> Result<Connection, FlowError>;
}

/// The consent flow of channel `kind`, for the channels connected through OAuth2.
pub fn flow_for(kind: &ChannelKind) -> Option<Arc<dyn OAuthFlow>> {
    use crate::channels::{google_sheets, messenger, tiktok, whatsapp, zalo};
    let flow: Arc<dyn OAuthFlow> = match kind.as_str() {
        zalo::KIND => Arc::new(zalo::oauth::ZaloOAuth),
        google_sheets::KIND => Arc::new(google_sheets::oauth::GoogleOAuth),
        messenger::KIND => Arc::new(messenger::oauth::MessengerOAuth),
        whatsapp::KIND => Arc::new(whatsapp::oauth::WhatsappOAuth),
        tiktok::KIND => Arc::new(tiktok::oauth::TikTokOAuth),
        _ => return None,
    };
    Some(flow)
}

/// A fresh PKCE pair (S256): the challenge for the URL and the verifier to keep.
pub fn new_pkce() -> (String, SecretString) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    (
        challenge.as_str().to_owned(),
        SecretString::new(verifier.secret().clone()),
    )
}

/// The S256 challenge of `verifier` (for fakes that check the exchange).
pub fn s256_challenge(verifier: &str) -> String {
    PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.to_owned()))
        .as_str()
        .to_owned()
}

/// A required platform credential.
pub fn credential<'a>(platform: &'a Platform, name: &str) -> Result<&'a SecretString, FlowError> {
    platform
        .get(name)
        .filter(|v| !v.expose().trim().is_empty())
        .ok_or_else(|| FlowError::NotConfigured(name.to_owned()))
}

pub use crate::channels::platform_app::setting;

/// `base` with `params` as its query string (after any it has).
pub fn url_with(base: &str, params: &[(&str, &str)]) -> Result<String, FlowError> {
    let mut url = oauth2::url::Url::parse(base)
        .map_err(|_| FlowError::NotConfigured(format!("a valid URL instead of {base}")))?;
    url.query_pairs_mut().extend_pairs(params);
    Ok(url.into())
}

/// A request failed on its way: refused by the policy, or not answered.
pub fn transport(error: reqwest::Error) -> FlowError {
    if let Some(denied) = denial_in(&error) {
        return FlowError::Egress(denied.to_string());
    }
    FlowError::Unavailable(error.without_url().to_string())
}

impl From<EgressError> for FlowError {
    fn from(error: EgressError) -> Self {
        match error {
            EgressError::Denied(denied) => FlowError::Egress(denied.to_string()),
            other => FlowError::Unavailable(other.to_string()),
        }
    }
}

/// Sends `request` and reads its answer as JSON (`Null` when it is none), with its status.
pub async fn send_json(request: reqwest::RequestBuilder) -> Result<(u16, Value), FlowError> {
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let body = read_capped(response, MAX_RESPONSE_BYTES)
        .await
        .map_err(|e| FlowError::Unavailable(e.to_string()))?;
    if status >= 500 {
        return Err(FlowError::Unavailable(format!("HTTP {status}")));
    }
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// A Graph API failure's words: `error.message` (`error.code`), or the HTTP status.
pub fn graph_error(status: u16, answer: &Value) -> String {
    match answer["error"]["message"].as_str() {
        Some(message) => format!("{message} (code {})", answer["error"]["code"]),
        None => format!("HTTP {status}"),
    }
}

/// What a refusal says: Graph's `error.message`, an RFC 6749 `error`, or that it was unreadable.
pub fn refusal_words(answer: &Value) -> String {
    if let Some(message) = answer["error"]["message"].as_str() {
        return format!("{message} (code {})", answer["error"]["code"]);
    }
    match answer["error"].as_str() {
        Some(code) => code.to_owned(),
        None => "the token endpoint's answer could not be read".to_owned(),
    }
}

pub use crate::channels::account_lifecycle::id_text;

/// The token answer fields beyond RFC 6749's that the flows read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraFields {
    /// The refresh token's lifetime in seconds (Google's time-limited grants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_in: Option<Value>,
}

impl ExtraTokenFields for ExtraFields {}

/// An RFC 6749 token answer.
pub type StandardToken = StandardTokenResponse<ExtraFields, BasicTokenType>;

/// The tokens of an RFC 6749 code exchange, their secrets wrapped.
pub struct ExchangedTokens {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token, when the platform gave one.
    pub refresh_token: Option<SecretString>,
    /// The access token's lifetime in seconds.
    pub expires_in: Option<i64>,
    /// The refresh token's lifetime in seconds.
    pub refresh_expires_in: Option<i64>,
}

/// Where an RFC 6749 code exchange goes and as whom.
pub struct StandardExchange<'a> {
    /// The token endpoint.
    pub token_url: String,
    /// Our client id at the platform.
    pub client_id: &'a SecretString,
    /// Our client secret at the platform.
    pub client_secret: &'a SecretString,
}

/// Trades `callback`'s code at an RFC 6749 token endpoint (with the `oauth2` crate, over the
/// egress-checked client), the client authenticating in the request body.
pub async fn standard_exchange(
    http: &EgressHttp,
    endpoint: StandardExchange<'_>,
    callback: &CallbackParams,
) -> Result<ExchangedTokens, FlowError> {
    let token_url = TokenUrl::new(endpoint.token_url.clone())
        .map_err(|_| FlowError::NotConfigured("a valid token URL".into()))?;
    let redirect = RedirectUrl::new(callback.redirect_uri.clone())
        .map_err(|_| FlowError::NotConfigured("a valid redirect URI".into()))?;
    let client = oauth2::Client::<
        BasicErrorResponse,
        StandardToken,
        BasicTokenIntrospectionResponse,
        StandardRevocableToken,
        BasicRevocationErrorResponse,
    >::new(ClientId::new(endpoint.client_id.expose().to_owned()))
    .set_client_secret(ClientSecret::new(
        endpoint.client_secret.expose().to_owned(),
    ))
    .set_auth_type(AuthType::RequestBody)
    .set_token_uri(token_url)
    .set_redirect_uri(redirect);
    let mut request =
        client.exchange_code(AuthorizationCode::new(callback.code.expose().to_owned()));
    if let Some(verifier) = &callback.code_verifier {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()));
    }
    let client = EgressClient(http.clone());
    let token = request.request_async(&client).await.map_err(|e| match e {
        RequestTokenError::ServerResponse(answer) => {
            FlowError::Refused(answer.error().as_ref().to_owned())
        }
        RequestTokenError::Request(failure) => failure.0,
        RequestTokenError::Parse(_, body) => {
            let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            FlowError::Refused(refusal_words(&answer))
        }
        RequestTokenError::Other(text) => FlowError::Refused(text),
    })?;
    let lifetime = |value: Option<&Value>| value.and_then(crate::refresh::expiry::seconds);
    Ok(ExchangedTokens {
        access_token: SecretString::new(token.access_token().secret().clone()),
        refresh_token: token
            .refresh_token()
            .map(|t| SecretString::new(t.secret().clone())),
        expires_in: token
            .expires_in()
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        refresh_expires_in: lifetime(token.extra_fields().refresh_token_expires_in.as_ref()),
    })
}

/// Why the `oauth2` crate's request did not get an answer.
#[derive(Debug)]
pub struct CallFailed(FlowError);

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for CallFailed {}

/// The `oauth2` crate's HTTP client: the egress-checked one.
struct EgressClient(EgressHttp);

impl<'c> oauth2::AsyncHttpClient<'c> for EgressClient {
    type Error = CallFailed;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, CallFailed>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(egress_call(&self.0, request))
    }
}

/// Sends one of the `oauth2` crate's requests through the egress-checked client; a 5xx is a
/// failure to answer rather than a refusal.
async fn egress_call(
    http: &EgressHttp,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, CallFailed> {
    let (parts, body) = request.into_parts();
    let builder = http
        .request(parts.method, parts.uri.to_string())
        .map_err(|e| CallFailed(e.into()))?
        .headers(parts.headers)
        .body(body);
    let response = builder.send().await.map_err(|e| CallFailed(transport(e)))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(CallFailed(FlowError::Unavailable(format!("HTTP {status}"))));
    }
    let headers = response.headers().clone();
    let body = read_capped(response, MAX_RESPONSE_BYTES)
        .await
        .map_err(|e| CallFailed(FlowError::Unavailable(e.to_string())))?;
    let mut answer = http::Response::builder().status(status);
    if let Some(map) = answer.headers_mut() {
        *map = headers;
    }
    answer
        .body(body.to_vec())
        .map_err(|e| CallFailed(FlowError::Unavailable(e.to_string())))
}

/// Expiry auth fields from lifetimes in seconds (each left out when unknown).
pub fn expiry_fields(access: Option<i64>, refresh: Option<i64>) -> Vec<(String, Value)> {
    crate::refresh::expiry::expiry_input(
        chrono::Utc::now(),
        &access.map(Value::from).unwrap_or(Value::Null),
        &refresh.map(Value::from).unwrap_or(Value::Null),
    )
}

/// Picks the one of `candidates` (id, item) the caller asked for, or the only one there is.
pub fn choose<'a, T>(
    candidates: &'a [(String, T)],
    hint: Option<&str>,
    what: &str,
) -> Result<&'a (String, T), FlowError> {
    match hint {
        Some(wanted) => candidates
            .iter()
            .find(|(id, _)| id == wanted)
            .ok_or_else(|| {
                FlowError::Account(format!("the {what} asked for was not granted to this app"))
            }),
        None => match candidates {
            [] => Err(FlowError::Account(format!(
                "no {what} was granted to this app"
            ))),
            [only] => Ok(only),
            _ => Err(FlowError::Account(format!(
                "several {what}s were granted: name the one to connect in the authorize request"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pkce_pair_is_s256_of_the_verifier() {
        let (challenge, verifier) = new_pkce();
        assert_eq!(s256_challenge(verifier.expose()), challenge);
        assert!(verifier.expose().len() >= 43);
        // RFC 7636 appendix B.
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn one_account_is_taken_as_asked_or_as_the_only_one() {
        let pages = vec![("1".to_owned(), "a"), ("2".to_owned(), "b")];
        assert_eq!(choose(&pages, Some("2"), "page").unwrap().1, "b");
        assert!(matches!(
            choose(&pages, None, "page"),
            Err(FlowError::Account(_))
        ));
        assert!(matches!(
            choose(&pages, Some("3"), "page"),
            Err(FlowError::Account(_))
        ));
        assert_eq!(choose(&pages[..1], None, "page").unwrap().0, "1");
    }
}
