//! Logs and traces, set up the same way by every process (`pombo-api`, `pombo-worker`).
//!
//! Logs go to standard output, filtered by `RUST_LOG`. Traces are off unless the standard
//! OpenTelemetry variables ask for them: with `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, spans go by OTLP/HTTP (protobuf) to it, named by
//! `OTEL_SERVICE_NAME` (else the process's name), batched as `OTEL_BSP_*` say. One
//! notification is then one trace: the API's request, the workflow's start (the stored row
//! keeps the request's `traceparent`, so a worker's starter continues it), the workflow and
//! each activity (Temporal's OpenTelemetry plugin carries the context in the `_tracer-data`
//! header), and each provider call inside them. Spans carry ids, channels, providers and
//! outcomes, never an address or a message.
//!
//! Pombo's own spans (targets `pombo_*`) are exported whatever `RUST_LOG` says: the log
//! level is for reading logs, not for choosing what a trace shows.

use std::{collections::HashMap, sync::OnceLock};

use opentelemetry::{
    Context,
    propagation::TextMapPropagator,
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use pombo_contract::config::LogFormat;
use temporalio_sdk::{
    SimplePlugin,
    opentelemetry::{OpenTelemetryPlugin, WorkflowIdGenerator},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{Layer, filter::filter_fn, layer::SubscriberExt, util::SubscriberInitExt};

pub use opentelemetry::context::FutureExt;

/// Keeps the exporter alive; dropping it sends what is still batched.
#[must_use = "dropping it stops the traces"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("traces not all sent at shutdown: {e}");
        }
    }
}

/// Whether traces are exported: an OTLP endpoint is configured (read once).
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
    })
}

/// Sets up logs (`RUST_LOG`, else `default_filter`; colours only at a terminal) and, when
/// [`enabled`], traces named `service` unless `OTEL_SERVICE_NAME` says otherwise.
pub fn init(service: &'static str, format: LogFormat, default_filter: &str) -> Telemetry {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_ansi(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_filter(filter)
            .boxed(),
    };
    let provider = if enabled() {
        match provider(service) {
            Ok(provider) => Some(provider),
            Err(e) => {
                eprintln!("traces are off: the OTLP exporter could not be made: {e}");
                None
            }
        }
    } else {
        None
    };
    let traces = provider.as_ref().map(|provider| {
        opentelemetry::global::set_tracer_provider(provider.clone());
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("pombo"))
            // Spans only (events stay in the logs), and only Pombo's own.
            .with_filter(filter_fn(|meta| {
                meta.is_span() && meta.target().starts_with("pombo")
            }))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    Telemetry { provider }
}

fn provider(
    service: &'static str,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    // `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` are read by the default builder.
    let resource = if std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty()) {
        Resource::builder().build()
    } else {
        Resource::builder().with_service_name(service).build()
    };
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        // Workflow spans get the same ids when a workflow is replayed.
        .with_id_generator(WorkflowIdGenerator::default())
        .with_resource(resource)
        .build())
}

/// Temporal's OpenTelemetry plugin when traces are on (none otherwise, so a Temporal call
/// without traces is what it always was): spans for starts, signals, workflows and
/// activities, and the context carried between them.
pub fn temporal_plugins() -> Vec<SimplePlugin> {
    if enabled() {
        vec![OpenTelemetryPlugin::builder().build()]
    } else {
        Vec::new()
    }
}

/// `span`'s OpenTelemetry context when traces are on and it names a trace.
fn traced(span: &tracing::Span) -> Option<Context> {
    if !enabled() {
        return None;
    }
    let context = span.context();
    context.span().span_context().is_valid().then_some(context)
}

/// The current span's context as a W3C `traceparent`, to keep with work that another
/// process continues (a stored notification); `None` when traces are off.
pub fn current_traceparent() -> Option<String> {
    let context = traced(&tracing::Span::current())?;
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// The context a kept `traceparent` names (the current one when it is absent or bad), to
/// run the work that continues it in: `future.with_context(context_of(…))`.
pub fn context_of(traceparent: Option<&str>) -> Context {
    let Some(traceparent) = traceparent else {
        return Context::current();
    };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let extracted = TraceContextPropagator::new().extract(&carrier);
    if extracted.span().span_context().is_valid() {
        extracted
    } else {
        Context::current()
    }
}

/// Records the span's trace id in its `trace_id` field (declared empty by the span), so
/// that log lines inside it name the trace; nothing when traces are off.
pub fn record_trace_id(span: &tracing::Span) {
    if let Some(context) = traced(span) {
        let trace_id = context.span().span_context().trace_id();
        span.record("trace_id", trace_id.to_string());
    }
}
