//! Percentiles and number formatting.

use std::time::Duration;

/// The `q` quantile (nearest rank) of ascending microsecond latencies; zero when empty.
pub fn percentile(sorted_us: &[u32], q: f64) -> Duration {
    if sorted_us.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted_us.len() as f64).ceil() as usize;
    Duration::from_micros(sorted_us[rank.clamp(1, sorted_us.len()) - 1].into())
}

/// `12.34 ms`.
pub fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// `123.4 MB` (10^6 bytes) from a `VmHWM` in KiB.
pub fn mb(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |k| format!("{:.1} MB", k as f64 * 1.024e-3),
    )
}
