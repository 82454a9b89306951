//! What `cargo test` runs instead of the benchmark: a check of the payloads alone.

use super::payload::{self, BODY_BYTES};
use super::{records, stats};
use anyhow::ensure;
use std::time::Duration;

/// What `cargo test` runs: the payloads are what the service accepts, one event each.
pub fn self_check() -> anyhow::Result<()> {
    let secret = "self-check-secret";
    let payloads = payload::build(64, secret);
    let parser = records::Parser::new(&uuid::Uuid::new_v4().to_string(), secret)?;
    let mut keys = std::collections::HashSet::new();
    for payload in &payloads {
        ensure!(
            payload.body.len() == BODY_BYTES,
            "a body is not {BODY_BYTES} bytes"
        );
        let events = parser.events(payload)?;
        ensure!(events.len() == 1, "a payload is not exactly one message");
        keys.insert(events[0].conversation_key.clone());
    }
    ensure!(keys.len() == payloads.len(), "payloads share senders");
    ensure!(stats::percentile(&[1, 2, 3, 4], 0.5) == Duration::from_micros(2));
    eprintln!("ingest bench: payloads check out (run the benchmark with `bash deploy/bench.sh`)");
    Ok(())
}
