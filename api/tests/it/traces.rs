//! OpenTelemetry traces: one notification is one connected trace across the API and the
//! worker processes. A local OTLP/HTTP receiver (decoding with `opentelemetry-proto`, not
//! Pombo's code) collects what the real `pombo-api` and `pombo-worker` binaries export when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` points at it; the test follows parent ids from the provider
//! call up to the API's request and checks that no span carries the recipient's address or
//! the message, and that the worker's log line about the call names the same trace.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value::Value as AnyValue,
};
use prost::Message;
use serde_json::json;

use crate::support::{ApiProcess, AppOptions, WorkerProcess, spawn_app_with};

/// One exported span, as the receiver decoded it.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: HashMap<String, String>,
}

type Spans = Arc<Mutex<Vec<Span>>>;

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

async fn export(State(spans): State<Spans>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    let mut kept = spans.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .map(|a| text(a.value.as_ref()))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                kept.push(Span {
                    service: service.clone(),
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                    attributes: span
                        .attributes
                        .iter()
                        .map(|a| (a.key.clone(), text(a.value.as_ref())))
                        .collect(),
                });
            }
        }
    }
    ""
}

/// The receiver on loopback: its base URL and what it has received.
async fn receiver() -> (String, Spans) {
    let spans: Spans = Arc::default();
    let app = Router::new()
        .route("/v1/traces", post(export))
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, spans)
}

/// The chain of spans from `span` up to its trace's root, following parent ids among the
/// received spans; `None` while a parent has not arrived.
fn ancestry(spans: &[Span], span: &Span) -> Option<Vec<Span>> {
    let mut chain = vec![span.clone()];
    let mut current = span.clone();
    while !current.parent_span_id.is_empty() {
        let parent = spans
            .iter()
            .find(|s| s.span_id == current.parent_span_id && s.trace_id == current.trace_id)?;
        chain.push(parent.clone());
        current = parent.clone();
    }
    Some(chain)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_notification_is_one_connected_trace_across_the_api_and_the_worker() {
    let (otlp, spans) = receiver().await;
    // The app's database, fakes and Temporal; its API and worker are the real binaries.
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let api = ApiProcess::start_with_env(&app.config, &env).await;
    // The worker logs JSON, its provider calls included, to a file the test reads.
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("worker.log");
    let mut worker_config = app.config.clone();
    worker_config.log_format = pombo_contract::config::LogFormat::Json;
    let worker_env = [
        env.as_slice(),
        &[("RUST_LOG", "warn,pombo_activities=debug")],
    ]
    .concat();
    let _worker = WorkerProcess::spawn_logging_to(&worker_config, &worker_env, &log);

    let phone = "+5511987654321";
    let message = "Your table for two is ready";
    let sent = app
        .http
        .post(format!("{}/v1/notifications", api.base))
        .bearer_auth(&app.api_key)
        .json(&json!({"channel": "sms", "to": phone, "content": {"text": message}}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let id = sent.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&id, "sent", Duration::from_secs(60))
        .await;

    // The provider call's span, and its ancestry up to the API's request.
    let start = Instant::now();
    let (call, chain, all) = loop {
        let all = spans.lock().unwrap().clone();
        let call = all.iter().find(|s| {
            s.attributes.get("notification.id") == Some(&id) && s.name.starts_with("send ")
        });
        if let Some(call) = call
            && let Some(chain) = ancestry(&all, call)
            && chain.last().is_some_and(|root| root.service == "pombo-api")
        {
            break (call.clone(), chain, all);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no connected trace from the provider call to the API's request; spans: {:#?}",
            all.iter()
                .map(|s| (&s.service, &s.name, hex(&s.trace_id)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The provider call names what it did, not to whom.
    assert_eq!(call.service, "pombo-worker");
    assert_eq!(call.name, "send twilio");
    assert_eq!(call.attributes["channel"], "sms");
    assert_eq!(call.attributes["provider"], "twilio");
    assert_eq!(call.attributes["outcome"], "sent");
    // Up the chain: the activity, the workflow, its start, the request, in two processes.
    let names: Vec<&str> = chain.iter().map(|s| s.name.as_str()).collect();
    let root = chain.last().unwrap();
    assert_eq!(root.name, "POST /v1/notifications", "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("RunActivity:")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("RunWorkflow:")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("StartWorkflow:")),
        "{names:?}"
    );
    let trace: Vec<&Span> = all.iter().filter(|s| s.trace_id == root.trace_id).collect();
    let services: std::collections::BTreeSet<&str> =
        trace.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services,
        ["pombo-api", "pombo-worker"].into_iter().collect(),
        "one trace across both processes"
    );
    // Every activity of the notification is in that trace.
    let activities: Vec<&str> = trace
        .iter()
        .filter(|s| s.name.starts_with("RunActivity:"))
        .map(|s| s.name.as_str())
        .collect();
    assert!(activities.len() >= 2, "{activities:?}");
    // No personal data in any span of any trace.
    // The worker's log line about the call names the call's trace.
    let start = Instant::now();
    let line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["fields"]["message"] == "provider answered");
        if let Some(line) = found {
            break line;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no \"provider answered\" line in the worker's logs:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(line["trace_id"], hex(&call.trace_id), "{line}");
    assert!(
        !line.to_string().contains(phone.trim_start_matches('+')),
        "{line}"
    );

    let digits = phone.trim_start_matches('+');
    for span in &all {
        for (key, value) in &span.attributes {
            assert!(
                !value.contains(digits) && !value.contains(message),
                "{}: attribute {key} = {value}",
                span.name
            );
        }
    }
    drop(api);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
