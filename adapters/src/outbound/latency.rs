//! Send latency per channel, as histograms: each platform call on its own
//! ([`PLATFORM_CALL_SECONDS`], labelled by whether the platform accepted it), and each message
//! from the moment its delivery began until its outcome was known ([`DELIVERY_SECONDS`],
//! rate-limit waits and retries included).

use std::time::Instant;
use switchboard_domain::message::DeliveryOutcome;

/// One send request to a platform, by channel and `outcome` (`sent` or `error`).
pub const PLATFORM_CALL_SECONDS: &str = "switchboard_outbound_platform_call_duration_seconds";
/// One message's whole delivery, by channel and `outcome` (`sent` or `failed`).
pub const DELIVERY_SECONDS: &str = "switchboard_outbound_delivery_duration_seconds";

/// Records one platform call of `channel` that started at `started`.
pub fn record_platform_call(channel: &str, started: Instant, accepted: bool) {
    let outcome = if accepted { "sent" } else { "error" };
    metrics::histogram!(PLATFORM_CALL_SECONDS, "channel" => channel.to_owned(), "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
}

/// Records one message delivery of `channel` that started at `started`.
pub fn record_delivery(channel: &str, started: Instant, outcome: &DeliveryOutcome) {
    let outcome = match outcome {
        DeliveryOutcome::Sent { .. } => "sent",
        DeliveryOutcome::Failed { .. } => "failed",
        // Acknowledged by the recipient's own client (web chat), never a delivery's outcome.
        DeliveryOutcome::Delivered {} => "delivered",
        DeliveryOutcome::Read {} => "read",
    };
    metrics::histogram!(DELIVERY_SECONDS, "channel" => channel.to_owned(), "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
}
