//! Who is calling: the principal a workspace credential stands for, put into the request's
//! extensions by the workspace guard and read by handlers through [`Authorized`].

use super::scope::{Scope, Scopes};
use crate::error::Problem;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::marker::PhantomData;
use switchboard_domain::WorkspaceId;

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    /// A workspace API key, by its id.
    ApiKey(uuid::Uuid),
    /// A JWT of the platform's identity provider, by its subject.
    Jwt(String),
}

/// An authenticated caller of one workspace.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The workspace the credential belongs to.
    pub workspace: WorkspaceId,
    /// What it may do there.
    pub scopes: Scopes,
    /// The credential.
    pub credential: CredentialKind,
}

impl Caller {
    /// The actor recorded in event metadata: `key:<id>` or `jwt:<subject>`. Never a secret.
    pub fn actor(&self) -> String {
        match &self.credential {
            CredentialKind::ApiKey(id) => format!("key:{id}"),
            CredentialKind::Jwt(subject) => format!("jwt:{subject}"),
        }
    }

    /// 403 unless the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(Problem::new(
                axum::http::StatusCode::FORBIDDEN,
                "insufficient-scope",
                "Insufficient scope",
                format!("this route needs the '{scope}' scope"),
            ))
        }
    }
}

/// A scope a handler requires, as a type.
pub trait RequiredScope: Send + Sync + 'static {
    /// The scope.
    const SCOPE: Scope;
}

/// Requires the `read` scope.
pub struct Read;
/// Requires the `write` scope.
pub struct Write;
/// Requires the `admin` scope.
pub struct Admin;

impl RequiredScope for Read {
    const SCOPE: Scope = Scope::Read;
}
impl RequiredScope for Write {
    const SCOPE: Scope = Scope::Write;
}
impl RequiredScope for Admin {
    const SCOPE: Scope = Scope::Admin;
}

/// The caller of a workspace route, known to hold scope `S` (403 otherwise). The workspace guard
/// has already checked the credential (401) and its workspace (404).
pub struct Authorized<S: RequiredScope> {
    /// The caller.
    pub caller: Caller,
    scope: PhantomData<S>,
}

impl<S: RequiredScope, St: Send + Sync> FromRequestParts<St> for Authorized<S> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Problem> {
        let caller = parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            // A handler mounted outside the workspace guard: refuse rather than serve.
            Problem::internal(&"a scoped handler ran without the workspace guard")
        })?;
        caller.require(S::SCOPE)?;
        Ok(Self {
            caller,
            scope: PhantomData,
        })
    }
}
