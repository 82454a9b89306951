//! Everything a run measured, and the Markdown report made of it.

use super::payload::BODY_BYTES;
use super::producer::{self, PRODUCER_RECORDS, PRODUCER_TOPIC};
use super::server::Server;
use super::settings::Settings;
use super::{load, stats};
use std::fmt::Write as _;
use std::time::Duration;

/// Everything measured, in the order it was measured.
pub struct Report {
    /// Closed-loop points, labelled with their server.
    pub points: Vec<(Server, load::Point)>,
    /// Ours at half its maximum rate.
    pub half_rate: load::Point,
    /// The producer alone, or why it could not be measured.
    pub producer: Result<producer::Outcome, String>,
    /// Peak RSS of `serve` over the whole run, and during the half-rate run only (KiB).
    pub serve_peak_kib: (Option<u64>, Option<u64>),
    /// Peak RSS of the ceiling servers A and B (KiB).
    pub ceiling_peak_kib: Vec<(Server, Option<u64>)>,
    /// Records the broker gained while ours ran (if it could still tell), and ours' 200 answers.
    pub stored_vs_answered: (Option<i64>, u64),
    /// Distinct bodies precomputed, and requests ours was sent.
    pub bodies: (usize, usize),
}

/// CPU microseconds per request from cores kept busy at `rate` requests/s.
fn per_request(cores: Option<f64>, rate: f64) -> String {
    match cores {
        Some(cores) if rate > 0.0 => format!("{:.0} µs", cores / rate * 1e6),
        _ => "n/a".to_owned(),
    }
}

/// One Markdown table row for `point`.
fn point_row(out: &mut String, label: &str, point: &load::Point) {
    let _ = writeln!(
        out,
        "| {label} | {} | {:.0} | {} | {} | {} | {} | {} |",
        point.connections,
        point.rate,
        stats::ms(point.p50),
        stats::ms(point.p99),
        stats::ms(point.max),
        point.failed,
        point.cores
    );
}

impl Report {
    /// The best closed-loop rate of `server`.
    fn max_rate(&self, server: Server) -> f64 {
        self.best_point(server)
            .map_or(0.0, |point| point.rate.max(0.0))
    }

    /// CPU time per answered request at `server`'s best point: the server's and the broker's.
    fn cpu_per_request(&self, server: Server) -> String {
        self.best_point(server).map_or_else(String::new, |point| {
            format!(
                "{} {} (broker {})",
                server.short(),
                per_request(point.cores.server, point.rate),
                per_request(point.cores.broker, point.rate)
            )
        })
    }

    /// `server`'s point with the highest rate.
    fn best_point(&self, server: Server) -> Option<&load::Point> {
        load::best_of(&self.points, server)
    }

    /// Ours' CPU per request over B's, both at their best points: a machine's speed cancels
    /// out of it, so runs on different machines compare.
    fn cpu_over_verify_parse(&self) -> String {
        let per_request = |server| {
            let point = self.best_point(server).filter(|point| point.rate > 0.0)?;
            Some(point.cores.server? / point.rate)
        };
        match (per_request(Server::Ours), per_request(Server::VerifyParse)) {
            (Some(ours), Some(b)) if b > 0.0 => format!("{:.1}x", ours / b),
            _ => "n/a".to_owned(),
        }
    }

    /// The lowest of the ceilings measured: its name and rate.
    fn binding_ceiling(&self) -> (&'static str, f64) {
        let producer = self.producer.as_ref().map(|c| c.rate).ok();
        [
            ("A (bare axum)", Some(self.max_rate(Server::Bare))),
            ("B (HMAC + JSON)", Some(self.max_rate(Server::VerifyParse))),
            ("C (producer alone)", producer),
        ]
        .into_iter()
        .filter_map(|(name, rate)| Some((name, rate?)))
        .fold(
            ("none", f64::INFINITY),
            |low, c| if c.1 < low.1 { c } else { low },
        )
    }

    /// The results as Markdown, ready for README.
    pub fn markdown(&self, settings: &Settings) -> String {
        let mut out = String::new();
        self.context(&mut out, settings);
        self.points_table(&mut out);
        self.verdict_table(&mut out);
        self.notes(&mut out);
        out
    }

    /// The heading and what was run where.
    fn context(&self, out: &mut String, settings: &Settings) {
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let _ = writeln!(out, "### Inbound ingest benchmark\n");
        let _ = writeln!(
            out,
            "{cores} cores ({cpu}) shared by the broker, the server and the load generator; \
             broker: {}; `switchboard serve` settings: {}. Signed Messenger webhooks, one \
             message and {BODY_BYTES} bytes each, all distinct; HTTP/1.1 keep-alive, each \
             connection sending back-to-back; {:.0} s warm-up (excluded), then {:.0} s measured \
             per point.\n",
            settings.broker_label,
            settings.serve_label,
            settings.timing.warmup.as_secs_f64(),
            settings.timing.measure.as_secs_f64(),
        );
    }

    /// Every point, then ceiling C.
    fn points_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "| server | connections | requests/s | p50 | p99 | max | failed | CPU cores: server / broker / client |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for (server, point) in &self.points {
            point_row(out, server.label(), point);
        }
        if let load::Pace::Rate(rate) = self.half_rate.pace {
            let label = format!("ours, open loop at half of max ({rate:.0} req/s offered)");
            point_row(out, &label, &self.half_rate);
        }
        let _ = match &self.producer {
            Ok(c) => writeln!(
                out,
                "| C: producer alone (acks=all, idempotent, {} in flight) | – | {:.0} msg/s | | | | {} | {} |\n",
                c.window, c.rate, c.failed, c.cores
            ),
            Err(error) => writeln!(
                out,
                "| C: producer alone (acks=all, idempotent) | – | not measured: {error} | | | | | |\n"
            ),
        };
    }

    /// The derived figures next to the targets.
    fn verdict_table(&self, out: &mut String) {
        let ours = self.max_rate(Server::Ours);
        let (ceiling, lowest) = self.binding_ceiling();
        let ratio = ours / lowest;
        let half = &self.half_rate;
        let offered = match half.pace {
            load::Pace::Rate(rate) => rate,
            load::Pace::Closed => 0.0,
        };
        let peak_mb = self
            .serve_peak_kib
            .0
            .map_or(f64::NAN, |k| k as f64 * 1.024e-3);
        let met = |ok: bool| if ok { "met" } else { "**missed**" };
        let _ = writeln!(out, "| | measured | target | |\n|---|---:|---:|---|");
        let _ = writeln!(
            out,
            "| ours / lowest ceiling, {ceiling} | {ratio:.2} ({ours:.0} / {lowest:.0} per s) | ≥ 0.80 | {} |",
            met(ratio >= 0.8)
        );
        let _ = writeln!(
            out,
            "| p99 of ours at half of max ({offered:.0} req/s offered, {:.0} answered, {} connections, open loop) | {} | ≤ 25 ms | {} |",
            half.rate,
            half.connections,
            stats::ms(half.p99),
            met(half.p99 <= Duration::from_millis(25) && half.failed == 0)
        );
        let _ = writeln!(
            out,
            "| peak RSS of `switchboard serve` (VmHWM, whole run) | {} | ≤ 150 MB | {} |",
            stats::mb(self.serve_peak_kib.0),
            met(peak_mb <= 150.0)
        );
        let _ = writeln!(
            out,
            "| peak RSS of `switchboard serve` during the half-rate run | {} | | |",
            stats::mb(self.serve_peak_kib.1)
        );
        let _ = writeln!(out);
    }

    /// What backs the figures: completeness, CPU per request, what C sent, ceilings' memory.
    fn notes(&self, out: &mut String) {
        let (stored, answered) = self.stored_vs_answered;
        let (bodies, sent) = self.bodies;
        let distinct = if sent <= bodies {
            format!("all {sent} requests to ours carried distinct bodies")
        } else {
            format!("ours was sent {sent} requests from {bodies} distinct bodies (some repeated)")
        };
        let cpu = [Server::Bare, Server::VerifyParse, Server::Ours]
            .map(|server| self.cpu_per_request(server))
            .join("; ");
        let stored = stored.map_or("unknown (the broker no longer answered)".to_owned(), |n| {
            n.to_string()
        });
        let ceilings = self
            .ceiling_peak_kib
            .iter()
            .map(|(server, kib)| format!("{} {}", server.short(), stats::mb(*kib)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "- Records the broker gained while ours ran: {stored}, for {answered} answers 200 \
             (warm-ups included); {distinct}.\n\
             - CPU per request at each server's best point: {cpu}; ours costs {} what B \
             costs.\n\
             - Peak RSS of the ceiling servers: {ceilings}.",
            self.cpu_over_verify_parse()
        );
        if let Ok(c) = &self.producer {
            let _ = writeln!(
                out,
                "- C: broker {} per record. C publishes the records the service makes of these \
                 bodies ({} bytes of value each, plus CloudEvents headers), cycling through the \
                 first {PRODUCER_RECORDS}, to its own topic `{PRODUCER_TOPIC}` with as many \
                 partitions.",
                per_request(c.cores.broker, c.rate),
                c.record_bytes
            );
        }
    }
}
