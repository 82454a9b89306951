//! What one attempt to refresh one integration's tokens came to, as counted in
//! `switchboard_token_refreshes_total{outcome}` and summed per round.

use serde::Serialize;

/// The end of one integration's turn in a refresh round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// New tokens obtained and stored (`CredentialsRefreshed`).
    Refreshed,
    /// Another process holds the integration's refresh lock: it is refreshing it.
    Busy,
    /// Under the lock it was no longer due (refreshed meanwhile) or no longer connected.
    Skipped,
    /// The platform refused the refresh for good: the integration was disconnected.
    Refused,
    /// A temporary failure (network, 5xx, database): tried again next round.
    Failed,
    /// The platform refused our app's own credentials: the integration stays connected and is
    /// tried again next round; the operator is told (module [`crate::refresh::app_refusal`]).
    AppRefused,
    /// Its channel cannot refresh it (no refresh token, no platform credentials).
    Unsupported,
}

impl Outcome {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Refreshed => "refreshed",
            Self::Busy => "busy",
            Self::Skipped => "skipped",
            Self::Refused => "refused",
            Self::Failed => "failed",
            Self::AppRefused => "app_refused",
            Self::Unsupported => "unsupported",
        }
    }

    /// Counts it.
    pub fn record(self) {
        metrics::counter!("switchboard_token_refreshes_total", "outcome" => self.label())
            .increment(1);
    }
}

/// How many integrations of one round ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RoundReport {
    /// Integrations found due.
    pub due: usize,
    /// [`Outcome::Refreshed`].
    pub refreshed: usize,
    /// [`Outcome::Busy`].
    pub busy: usize,
    /// [`Outcome::Skipped`].
    pub skipped: usize,
    /// [`Outcome::Refused`].
    pub refused: usize,
    /// [`Outcome::Failed`].
    pub failed: usize,
    /// [`Outcome::AppRefused`].
    pub app_refused: usize,
    /// [`Outcome::Unsupported`].
    pub unsupported: usize,
}

impl RoundReport {
    /// Adds one integration's outcome.
    pub fn add(&mut self, outcome: Outcome) {
        let slot = match outcome {
            Outcome::Refreshed => &mut self.refreshed,
            Outcome::Busy => &mut self.busy,
            Outcome::Skipped => &mut self.skipped,
            Outcome::Refused => &mut self.refused,
            Outcome::Failed => &mut self.failed,
            Outcome::AppRefused => &mut self.app_refused,
            Outcome::Unsupported => &mut self.unsupported,
        };
        *slot += 1;
    }
}
