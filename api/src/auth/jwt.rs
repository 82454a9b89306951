//! JWTs from the platform's identity provider: verified with an HMAC secret or the keys of a
//! JWKS (a file, or an https URL fetched at start and again when a token names an unknown key
//! id, at most once a minute), with issuer and audience checked when configured. The workspace
//! and scopes come from configured claims; `sub` becomes the actor.

use super::scope::Scopes;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde_json::Value;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use switchboard_domain::{SecretString, WorkspaceId};

/// How often an unknown key id may cause the JWKS URL to be fetched again.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Where verification keys come from.
#[derive(Debug, Clone)]
pub enum JwtKeys {
    /// A shared HMAC secret (HS256/384/512).
    Hmac(SecretString),
    /// A JWKS document: a file path, or an `https://` URL.
    Jwks(String),
}

/// The JWT settings.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Verification keys.
    pub keys: JwtKeys,
    /// Required `iss`, if any.
    pub issuer: Option<String>,
    /// Required `aud`, if any (else `aud` is not checked).
    pub audience: Option<String>,
    /// The claim naming the workspace.
    pub workspace_claim: String,
    /// The claim holding scopes: a space-separated string or an array of strings.
    pub scopes_claim: String,
}

/// A token that verified.
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    /// Its subject.
    pub subject: String,
    /// Its workspace.
    pub workspace: WorkspaceId,
    /// Its scopes (names of other services' scopes are ignored).
    pub scopes: Scopes,
}

/// Why a JWT was refused; the text is safe to return (it never echoes the token).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JwtError(String);

/// Verifies JWTs.
#[derive(Clone)]
pub struct JwtVerifier {
    settings: Arc<JwtSettings>,
    jwks: Arc<RwLock<(Instant, JwkSet)>>,
    http: reqwest::Client,
}

impl JwtVerifier {
    /// A verifier; a JWKS is loaded now, so a bad file or URL fails start-up.
    pub async fn new(settings: JwtSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let jwks = match &settings.keys {
            JwtKeys::Jwks(source) => load_jwks(&http, source).await?,
            JwtKeys::Hmac(_) => JwkSet { keys: Vec::new() },
        };
        Ok(Self {
            settings: Arc::new(settings),
            jwks: Arc::new(RwLock::new((Instant::now(), jwks))),
            http,
        })
    }

    /// The caller `token` stands for.
    pub async fn verify(&self, token: &str) -> Result<VerifiedJwt, JwtError> {
        let header = decode_header(token).map_err(|_| JwtError("the token is not a JWT".into()))?;
        let key = match &self.settings.keys {
            JwtKeys::Hmac(secret) => DecodingKey::from_secret(secret.expose().as_bytes())
                .map_err(|e| JwtError(format!("the HMAC key is unusable: {e}")))?,
            JwtKeys::Jwks(source) => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| JwtError("the token names no key id (kid)".into()))?;
                self.jwk(source, kid).await?
            }
        };
        // The accepted algorithms follow the key's family, never the token's say-so.
        let mut validation = Validation::new_for_family(key.family());
        if let Some(issuer) = &self.settings.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &self.settings.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let data = decode::<Value>(token, &key, &validation).map_err(|e| JwtError(reason(&e)))?;
        self.principal(&data.claims)
    }

    fn principal(&self, claims: &Value) -> Result<VerifiedJwt, JwtError> {
        let subject = claims["sub"]
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| JwtError("the token has no subject (sub)".into()))?;
        let workspace = claims[self.settings.workspace_claim.as_str()]
            .as_str()
            .and_then(|w| w.parse::<WorkspaceId>().ok())
            .ok_or_else(|| {
                JwtError(format!(
                    "the token's '{}' claim names no workspace",
                    self.settings.workspace_claim
                ))
            })?;
        let scopes = match &claims[self.settings.scopes_claim.as_str()] {
            Value::String(text) => Scopes::from_names(text.split(' ')),
            Value::Array(items) => Scopes::from_names(items.iter().filter_map(Value::as_str)),
            _ => Scopes::default(),
        };
        Ok(VerifiedJwt {
            subject: subject.to_owned(),
            workspace,
            scopes,
        })
    }

    async fn jwk(&self, source: &str, kid: &str) -> Result<DecodingKey, JwtError> {
        if let Some(key) = self.known_jwk(kid)? {
            return Ok(key);
        }
        // The attempt is stamped before it starts: concurrent tokens with unknown key ids, or an
        // identity provider that keeps failing, cause one fetch a minute, not one per request.
        let may_refetch = source.starts_with("https://") && {
            let mut jwks = self.jwks.write().unwrap_or_else(|e| e.into_inner());
            let due = jwks.0.elapsed() >= JWKS_REFETCH_INTERVAL;
            if due {
                jwks.0 = Instant::now();
            }
            due
        };
        if may_refetch {
            match load_jwks(&self.http, source).await {
                Ok(fresh) => {
                    *self.jwks.write().unwrap_or_else(|e| e.into_inner()) = (Instant::now(), fresh)
                }
                Err(error) => tracing::warn!(%error, "refreshing the JWKS failed"),
            }
            if let Some(key) = self.known_jwk(kid)? {
                return Ok(key);
            }
        }
        Err(JwtError("the token's key id is not in the JWKS".into()))
    }

    fn known_jwk(&self, kid: &str) -> Result<Option<DecodingKey>, JwtError> {
        let jwks = self.jwks.read().unwrap_or_else(|e| e.into_inner());
        jwks.1
            .find(kid)
            .map(|jwk| {
                DecodingKey::from_jwk(jwk)
                    .map_err(|e| JwtError(format!("the JWKS key is unusable: {e}")))
            })
            .transpose()
    }
}

async fn load_jwks(http: &reqwest::Client, source: &str) -> anyhow::Result<JwkSet> {
    let text = if source.starts_with("https://") {
        http.get(source)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?
    } else if source.starts_with("http://") {
        anyhow::bail!("the JWKS URL must use https");
    } else {
        std::fs::read_to_string(source)
            .map_err(|e| anyhow::anyhow!("reading the JWKS file {source}: {e}"))?
    };
    Ok(serde_json::from_str(&text)?)
}

fn reason(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match error.kind() {
        K::ExpiredSignature => "the token has expired".into(),
        K::InvalidIssuer => "the token's issuer is not accepted".into(),
        K::InvalidAudience => "the token's audience is not accepted".into(),
        K::InvalidSignature => "the token's signature is invalid".into(),
        K::InvalidAlgorithm => "the token's algorithm does not match the key".into(),
        K::MissingRequiredClaim(claim) => format!("the token lacks the '{claim}' claim"),
        K::ImmatureSignature => "the token is not valid yet".into(),
        _ => "the token is malformed".into(),
    }
}
