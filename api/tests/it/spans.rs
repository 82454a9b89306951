//! The spans the service records, kept in memory so a test can read a whole trace.
//!
//! Only sampled traces are recorded (the service samples by its caller's `traceparent` when no
//! collector is configured), so the store holds just the traces tests start on purpose.

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::sync::{Arc, Mutex, OnceLock};

/// Every span recorded in this process, as it ended.
#[derive(Clone, Debug, Default)]
pub struct RecordedSpans(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for RecordedSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// The process's store, which the test subscriber exports to.
pub fn recorded() -> &'static RecordedSpans {
    static SPANS: OnceLock<RecordedSpans> = OnceLock::new();
    SPANS.get_or_init(RecordedSpans::default)
}

/// One ended span of a trace: its name, id and parent.
#[derive(Clone, Debug)]
pub struct Span {
    pub name: String,
    pub id: SpanId,
    pub parent: SpanId,
}

/// The ended spans of trace `trace_id` (given as 32 hex digits).
pub fn of_trace(trace_id: &str) -> Vec<Span> {
    let wanted = TraceId::from_hex(trace_id).expect("a trace id");
    recorded()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|span| span.span_context.trace_id() == wanted)
        .map(|span| Span {
            name: span.name.to_string(),
            id: span.span_context.span_id(),
            parent: span.parent_span_id,
        })
        .collect()
}
