//! The app-level half of a channel whose platform app has one callback URL for every
//! integration (Meta's app for Messenger and WhatsApp, the Zalo app, the TikTok app): a delivery
//! to `/webhooks/{channel}` carries the items of every subscribed account, each naming its
//! account, and is routed item by item to the integration that records that account.
//!
//! # Routing rule
//!
//! 1. The signature is checked with the platform's credentials only
//!    ([`AppWebhook::check_signature`] with secrets holding no integration field): an
//!    integration's own secret never vouches for an app-level delivery.
//! 2. [`AppWebhook::accounts`] lists the accounts the verified body names (the auth field is
//!    the channel's [`ChannelSpec::app_account`](switchboard_domain::ChannelSpec)) with how many
//!    items each carries; items naming none are listed under `None`.
//! 3. Each account is looked up among the live integrations' recorded accounts. The body is
//!    then parsed once per integration found, bound to that integration's own account
//!    ([`AppWebhook::own_account`], read from its auth fields) and marked as routed
//!    ([`OwnAccount::routed_by`]): the parser keeps only the items of that account, exactly as
//!    on the integration's own URL, and leaves the other accounts' items to their integrations
//!    without counting them as foreign.
//! 4. Items of an account no live integration records are *unrouted*: counted, logged with the
//!    account ids only, never published.

use crate::channels::webhook::{
    OwnAccount, RawWebhook, VerifiedWebhook, WebhookError, WebhookSecrets,
};

/// An account a verified app-level body names, and how many items name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedAccount {
    /// The account id, as written in the body (trimmed); `None` for items naming no account.
    pub id: Option<String>,
    /// How many items (messages, statuses, events) name it.
    pub items: usize,
}

/// What a channel with a shared platform app adds to [`super::webhook::WebhookChannel`].
pub trait AppWebhook: Send + Sync {
    /// Checks the signature over the raw body with `secrets`, without binding the body to an
    /// account. The app-level route passes the platform's credentials alone.
    fn check_signature<'a>(
        &self,
        raw: RawWebhook<'a>,
        secrets: &WebhookSecrets,
    ) -> Result<VerifiedWebhook<'a>, WebhookError>;

    /// The integration's own account, from its own auth fields only (never a platform
    /// credential): what its items must name.
    fn own_account(&self, secrets: &WebhookSecrets) -> Result<OwnAccount, WebhookError>;

    /// The accounts the verified body names, each once, in order of first appearance, with
    /// their item counts; `Malformed` when the body is not the platform's envelope.
    fn accounts(&self, webhook: &VerifiedWebhook<'_>) -> Result<Vec<NamedAccount>, WebhookError>;
}

/// Tallies items per account, keeping the order of first appearance (a delivery names a
/// handful of accounts, so a linear scan is the cheapest).
#[derive(Debug, Default)]
pub struct AccountTally(Vec<NamedAccount>);

impl AccountTally {
    /// Counts `items` items naming `id` (blank ids name no account).
    pub fn add(&mut self, id: Option<&str>, items: usize) {
        let id = id.map(str::trim).filter(|id| !id.is_empty());
        match self.0.iter_mut().find(|named| named.id.as_deref() == id) {
            Some(named) => named.items += items,
            None => self.0.push(NamedAccount {
                id: id.map(str::to_owned),
                items,
            }),
        }
    }

    /// The accounts that name at least one item.
    pub fn finish(self) -> Vec<NamedAccount> {
        self.0.into_iter().filter(|named| named.items > 0).collect()
    }
}

#[cfg(test)]
mod tests;
