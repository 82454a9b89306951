//! W3C trace context across Kafka: the producer side writes the current span's `traceparent`,
//! the consumer side makes each record's span a child of it.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `traceparent` of the current tracing span, when it is being traced.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut MapCarrier(&mut carrier));
    carrier.remove("traceparent")
}

/// Makes `span` a child of the remote context named by `traceparent`.
pub fn set_remote_parent(span: &tracing::Span, traceparent: &str) {
    let mut carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context: Context = TraceContextPropagator::new().extract(&MapCarrier(&mut carrier));
    // A span that is not recorded by an OpenTelemetry layer has no parent to set: ignore that.
    let _ = span.set_parent(context);
}

struct MapCarrier<'a>(&'a mut HashMap<String, String>);

impl Injector for MapCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for MapCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
