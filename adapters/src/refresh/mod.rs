//! Keeping OAuth tokens fresh: a background refresher renews access tokens that expire within
//! a margin, single-flight across processes through a PostgreSQL advisory lock per
//! integration, which the send path's reactive refresh takes too.

pub mod app_refusal;
pub mod due;
pub mod expiry;
pub mod lock;
pub mod outcome;
pub mod refresher;
#[cfg(test)]
mod tests;

pub use lock::{RefreshLock, RefreshLocks};
pub use outcome::{Outcome, RoundReport};
pub use refresher::{RefreshSettings, TokenRefresher};
