//! The servers a point can measure: ceilings A and B, and ours.

/// Which server a point measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// Ceiling A.
    Bare,
    /// Ceiling B.
    VerifyParse,
    /// `switchboard serve`.
    Ours,
}

impl Server {
    /// Its name in a sentence.
    pub fn short(self) -> &'static str {
        match self {
            Self::Bare => "A",
            Self::VerifyParse => "B",
            Self::Ours => "ours",
        }
    }

    /// Its name in a table.
    pub fn label(self) -> &'static str {
        match self {
            Self::Bare => "A: bare axum, answers 200",
            Self::VerifyParse => "B: bare axum, HMAC check + JSON parse",
            Self::Ours => "ours: `switchboard serve` → broker",
        }
    }
}
