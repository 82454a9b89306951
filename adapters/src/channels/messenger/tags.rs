//! Messenger's message tags: what a page may send after the 24-hour standard messaging window,
//! with `messaging_type: "MESSAGE_TAG"` and the tag. `HUMAN_AGENT` lets a person answer up to
//! 7 days after the contact's last message; the update tags (an account change, an event the
//! contact registered for, a purchase they made) have no time limit but are for those
//! non-promotional updates only, and like every page message need the contact to have written.

use switchboard_domain::message::TagWindow;

/// The tags a Messenger send may carry, and their windows.
pub const MESSAGE_TAGS: &[TagWindow] = &[
    TagWindow {
        tag: "HUMAN_AGENT",
        hours: Some(7 * 24),
        rule: "Messenger HUMAN_AGENT tag (7 days after the contact's last message)",
    },
    TagWindow {
        tag: "ACCOUNT_UPDATE",
        hours: None,
        rule: "Messenger ACCOUNT_UPDATE tag",
    },
    TagWindow {
        tag: "CONFIRMED_EVENT_UPDATE",
        hours: None,
        rule: "Messenger CONFIRMED_EVENT_UPDATE tag",
    },
    TagWindow {
        tag: "POST_PURCHASE_UPDATE",
        hours: None,
        rule: "Messenger POST_PURCHASE_UPDATE tag",
    },
];
