//! Logs, traces and metrics. JSON (or text) logs through `tracing`; every span also feeds an
//! OpenTelemetry tracer, exported over OTLP/HTTP when an endpoint is configured (and still used
//! locally to mint trace ids for `traceparent` when it is not); Prometheus metrics from the
//! `metrics` facade, rendered at `/metrics`.

use crate::config::Config;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter, TracerProviderBuilder};
use opentelemetry_sdk::Resource;
use std::sync::OnceLock;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Latency buckets (seconds) for request and handler histograms.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Flushes pending spans when dropped.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber writing logs to stdout.
pub fn init(config: &Config) -> anyhow::Result<TelemetryGuard> {
    init_with_writer(config, std::io::stdout)
}

/// Installs the global subscriber writing logs to `writer` (tests capture logs this way).
pub fn init_with_writer<W>(config: &Config, writer: W) -> anyhow::Result<TelemetryGuard>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    install(config, writer, |builder| builder)
}

/// Installs the global subscriber writing logs to `writer` and also handing every recorded
/// span to `exporter` as it ends (tests read the spans of a trace this way).
pub fn init_with_exporter<W, E>(
    config: &Config,
    writer: W,
    exporter: E,
) -> anyhow::Result<TelemetryGuard>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    E: SpanExporter + 'static,
{
    install(config, writer, |builder| {
        builder.with_simple_exporter(exporter)
    })
}

fn install<W>(
    config: &Config,
    writer: W,
    exporters: impl FnOnce(TracerProviderBuilder) -> TracerProviderBuilder,
) -> anyhow::Result<TelemetryGuard>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("switchboard").build());
    if config.otel_endpoint.is_none() {
        // Nothing collects the spans: mint trace ids (traceparent still reaches Kafka) but
        // record only what a caller's sampled traceparent asks for.
        builder = builder.with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
    }
    if let Some(endpoint) = &config.otel_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = exporters(builder).build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("switchboard"));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = if config.log_format == "text" {
        tracing_subscriber::fmt::layer().with_writer(writer).boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            // The current span already names the request (its id, route and status); the list
            // of every enclosing span repeated it on each line at a cost on every request.
            .with_span_list(false)
            .with_writer(writer)
            .boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel)
        .try_init()?;
    Ok(TelemetryGuard { provider })
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS_SECONDS)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests embedding the app): then this
            // handle renders nothing new, which is harmless.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
