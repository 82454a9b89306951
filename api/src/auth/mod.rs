//! Who may call: workspace API keys and JWTs scoped to one workspace, and the operator
//! credential for platform-wide routes; plus per-credential and per-source abuse limits.
//! README "Security" describes the choices.

pub mod api_keys;
pub mod authenticator;
pub mod caller;
pub mod guard;
pub mod jwt;
pub mod operator;
pub mod rate_limit;
pub mod scope;

pub use authenticator::{Authenticator, Principal};
pub use caller::{Admin, Authorized, Caller, Read, Write};
pub use operator::Operator;
pub use scope::{Scope, Scopes};
