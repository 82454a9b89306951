//! Turns an `Authorization: Bearer …` header into a principal: the operator (the configured
//! operator credential), or a workspace caller (an API key, or a JWT when JWTs are configured).
//! Failures are 401 with `WWW-Authenticate`; the token is never logged or echoed.

use super::api_keys::{looks_like_key, ApiKeys, KeyError};
use super::caller::{Caller, CredentialKind};
use super::jwt::JwtVerifier;
use crate::error::Problem;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use subtle::ConstantTimeEq;
use switchboard_domain::SecretString;

/// Who a credential stands for.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The platform's operator.
    Operator,
    /// A caller of one workspace.
    Workspace(Caller),
}

/// Checks credentials.
#[derive(Clone)]
pub struct Authenticator {
    /// The API keys.
    pub keys: ApiKeys,
    jwt: Option<JwtVerifier>,
    operator: Option<SecretString>,
}

impl Authenticator {
    /// Keys from `keys`, JWTs through `jwt` (if any), the operator by `operator` (if any).
    pub fn new(keys: ApiKeys, jwt: Option<JwtVerifier>, operator: Option<SecretString>) -> Self {
        Self {
            keys,
            jwt,
            operator,
        }
    }

    /// The principal of the request's bearer credential.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Problem> {
        let token = bearer(headers)?;
        if let Some(operator) = &self.operator {
            if bool::from(operator.expose().as_bytes().ct_eq(token.as_bytes())) {
                return Ok(Principal::Operator);
            }
        }
        if looks_like_key(token) {
            return match self.keys.verify(token).await {
                Ok(key) => Ok(Principal::Workspace(Caller {
                    workspace: key.workspace,
                    scopes: key.scopes,
                    credential: CredentialKind::ApiKey(key.id),
                })),
                Err(KeyError::Database(error)) => Err(error.into()),
                Err(refused) => Err(unauthorized(Some(&refused.to_string()))),
            };
        }
        match &self.jwt {
            Some(jwt) => match jwt.verify(token).await {
                Ok(verified) => Ok(Principal::Workspace(Caller {
                    workspace: verified.workspace,
                    scopes: verified.scopes,
                    credential: CredentialKind::Jwt(verified.subject),
                })),
                Err(refused) => Err(unauthorized(Some(&refused.to_string()))),
            },
            None => Err(unauthorized(Some("the credential is not valid"))),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, Problem> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(None));
    };
    let text = value
        .to_str()
        .map_err(|_| unauthorized(Some("the Authorization header is not text")))?;
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(unauthorized(Some(
            "the Authorization header must be 'Bearer <token>'",
        ))),
    }
}

/// 401 with a `WWW-Authenticate` challenge; `refused` names why a presented credential failed.
pub fn unauthorized(refused: Option<&str>) -> Problem {
    let (challenge, detail) = match refused {
        None => (
            "Bearer realm=\"switchboard\"".to_owned(),
            "this route needs a bearer credential (an API key or a JWT)".to_owned(),
        ),
        Some(reason) => (
            format!("Bearer realm=\"switchboard\", error=\"invalid_token\", error_description=\"{reason}\""),
            reason.to_owned(),
        ),
    };
    let problem = Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Unauthenticated",
        detail,
    );
    match HeaderValue::from_str(&challenge) {
        Ok(value) => problem.with_header(header::WWW_AUTHENTICATE, value),
        Err(_) => problem.with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
    }
}
