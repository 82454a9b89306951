//! # Inbound ingest benchmark
//!
//! **What it measures.** Signed Messenger webhooks (one message each, 1 KiB body) posted over
//! HTTP/1.1 keep-alive connections to the real `switchboard serve` process, which verifies,
//! parses and publishes each one to `messages.received` on a real Kafka-protocol broker and
//! answers 200 only after the broker acknowledged it (`acks=all`, idempotent producer). For
//! several connection counts it reports sustained requests/s and p50/p99 latency, next to three
//! ceilings measured in the same run, on the same machine, with the same load generator:
//!
//! - **A**: a bare axum handler that reads the body and answers 200 — what HTTP alone costs;
//! - **B**: a bare axum handler that verifies `X-Hub-Signature-256` (HMAC-SHA256 with the app
//!   secret over the raw body, with the service's own functions) and parses the JSON — what
//!   the unavoidable per-request work costs;
//! - **C**: the service's producer alone, no HTTP: the very records the service would publish
//!   (built by its own Messenger parser and publisher from the same bodies), the same broker,
//!   `acks=all`, `enable.idempotence=true`, pipelined (many enqueued, their delivery futures
//!   awaited as they resolve), in messages/s. It writes to a topic of its own, partitioned like
//!   the webhook topic, so that consumers of the service's topics do not read along.
//!
//! From those it derives ours / the lowest ceiling, the p99 of ours at half its maximum rate,
//! and the peak resident memory (`VmHWM`) of the `serve` process. Every point also reports the
//! cores the server, the broker and the load generator kept busy while it was measured (from
//! `/proc/<pid>/stat`), and so the CPU each spends per request: that shows which process
//! binds, not just that something does.
//!
//! **Why it is built this way.** A and B run as separate processes (this binary re-executed
//! with `SWITCHBOARD_BENCH_ROLE`), so every server is measured the same way, over loopback
//! TCP. Every body is distinct (distinct message id and sender, so keys spread across
//! partitions) and is signed before the clock starts, so the client does as little as possible
//! per request. The closed-loop points (each connection sends its next request as soon as the
//! previous one is answered) find the maximum rate; the half-rate run is open-loop at a fixed
//! total rate and counts each latency from the request's *scheduled* start, so a stall in the
//! server cannot hide behind a client that waits for it (tokio's timer adds up to ~1 ms). The
//! warm-up of each point is excluded. The broker, the server and the load generator share the
//! machine's cores, so only the ratios measured within one run mean much.
//!
//! **How to run it.** `bash deploy/bench.sh` starts PostgreSQL, a throwaway broker and the
//! service, then runs this with their whereabouts in the environment (see
//! [`Settings`](settings::Settings)). Under `cargo test` (no `--bench` argument) it only checks
//! that its payloads pass the service's own signature check and parser.

#[path = "ingest/broker.rs"]
mod broker;
#[path = "ingest/ceiling.rs"]
mod ceiling;
#[path = "ingest/cpu.rs"]
mod cpu;
#[path = "common/fake_meta_app.rs"]
mod fake_meta_app;
#[path = "ingest/load.rs"]
mod load;
#[path = "ingest/memory.rs"]
mod memory;
#[path = "ingest/payload.rs"]
mod payload;
#[path = "ingest/producer.rs"]
mod producer;
#[path = "ingest/records.rs"]
mod records;
#[path = "ingest/report.rs"]
mod report;
#[path = "ingest/run.rs"]
mod run;
#[path = "ingest/self_check.rs"]
mod self_check;
#[path = "ingest/server.rs"]
mod server;
#[path = "ingest/settings.rs"]
mod settings;
#[path = "ingest/setup.rs"]
mod setup;
#[path = "ingest/stats.rs"]
mod stats;

use std::process::ExitCode;

fn main() -> ExitCode {
    let outcome = if let Ok(role) = std::env::var(ceiling::ROLE_ENV) {
        ceiling::serve(&role)
    } else if std::env::args().any(|arg| arg == "--bench") {
        run::bench()
    } else {
        self_check::self_check()
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ingest bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
