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
//! level is for reading logs, not for choosing what a trace shows. With traces on, every log
//! line written inside a trace names it (`trace_id`, [`WithTraceId`]), so a line found in
//! the logs leads to its trace and back.

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
use tracing_subscriber::{
    Layer,
    filter::filter_fn,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

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
            .with_ansi(false)
            .event_format(WithTraceId {
                inner: tracing_subscriber::fmt::format().json(),
                json: true,
            })
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .event_format(WithTraceId {
                inner: tracing_subscriber::fmt::format(),
                json: false,
            })
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

/// The trace the current work belongs to, as 32 hex digits: the current span's, else the
/// OpenTelemetry context's (Temporal's plugin runs activities in one); `None` when traces
/// are off or there is none.
fn current_trace_id() -> Option<String> {
    if !enabled() {
        return None;
    }
    let context = traced(&tracing::Span::current()).unwrap_or_else(Context::current);
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// A log line format that adds the `trace_id` of the work it was written in (see
/// [`current_trace_id`]): a top-level field of a JSON line, ` trace_id=…` at the end of a
/// text one. Lines outside any trace are the inner format's, unchanged.
pub struct WithTraceId<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Some(trace_id) = current_trace_id() else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let line = with_trace_id(&line, &trace_id, self.json);
        writer.write_str(&line)
    }
}

/// `line` (one formatted log line, ending in a newline) naming `trace_id`.
fn with_trace_id(line: &str, trace_id: &str, json: bool) -> String {
    if json && let Some(rest) = line.strip_prefix('{') {
        format!("{{\"trace_id\":\"{trace_id}\",{rest}")
    } else {
        let body = line.strip_suffix('\n').unwrap_or(line);
        format!("{body} trace_id={trace_id}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_names_its_trace_in_either_format() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let json = with_trace_id("{\"level\":\"DEBUG\",\"fields\":{}}\n", id, true);
        let parsed: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(parsed["trace_id"], id);
        assert_eq!(parsed["level"], "DEBUG");
        assert_eq!(
            with_trace_id("INFO pombo: sent\n", id, false),
            format!("INFO pombo: sent trace_id={id}\n")
        );
    }
}
