//! Actions: named operations a bot flow asks an integration to perform (append a row to a
//! sheet, send an e-mail), as opposed to messages in a conversation. The API records the
//! request as [`ActionRequested`] on `actions.requested`; the adapters execute it and record
//! [`ActionResult`] (`ActionCompleted` or `ActionFailed`) on `actions.results`.
//!
//! Plain data: what an action's input means is its channel's business (adapters).

mod id;
mod requested;
mod result;

pub use id::{ActionId, ActionName};
pub use requested::ActionRequested;
pub use result::{ActionOutcome, ActionResult};
