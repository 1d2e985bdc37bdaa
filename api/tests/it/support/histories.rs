//! Records workflow histories for the replay tests of `pombo-workflows`
//! (`workflows/tests/histories/<workflow>/<case>.json`). The integration tests already drive
//! the runs worth keeping (sent at once, retried, failed over, fallback, cancelled, …), so
//! those tests call [`record`] at their end; it does nothing unless `POMBO_RECORD_HISTORIES`
//! names the fixtures directory (`scripts/record-histories.sh`). An existing file is never
//! overwritten: the fixtures of released versions are the compatibility contract.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use pombo_config::Config;
use temporalio_client::{
    Client, WorkflowExecutionInfo, WorkflowFetchHistoryOptions, WorkflowHistory,
};
use temporalio_common::protos::temporal::api::{
    enums::v1::EventType,
    history::v1::{History, HistoryEvent, history_event::Attributes},
};

/// Writes the history of `workflow_id` (every run of it, when it continued as new) to
/// `<dir>/<workflow>/<case>.json` (`<case>.run<N>.json`), once its last run has closed.
pub async fn record(config: &Config, workflow: &str, case: &str, workflow_id: &str) {
    let Some(dir) = std::env::var_os("POMBO_RECORD_HISTORIES") else {
        return;
    };
    let dir = PathBuf::from(dir).join(workflow);
    std::fs::create_dir_all(&dir).unwrap();
    let client = pombo_worker::connect_temporal(&config.temporal)
        .await
        .expect("connects to Temporal");
    // The latest run first, then back along `continued_execution_run_id`.
    let mut runs = Vec::new();
    let mut run_id = None;
    loop {
        let events = closed_run(
            &client,
            &config.temporal.namespace,
            workflow_id,
            run_id.take(),
        )
        .await;
        let previous = match events.first().and_then(|e| e.attributes.as_ref()) {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                a.continued_execution_run_id.clone()
            }
            _ => String::new(),
        };
        runs.push(events);
        if previous.is_empty() {
            break;
        }
        run_id = Some(previous);
    }
    runs.reverse();
    let count = runs.len();
    for (i, events) in runs.into_iter().enumerate() {
        let name = match count {
            1 => format!("{case}.json"),
            _ => format!("{case}.run{}.json", i + 1),
        };
        let path = dir.join(name);
        if path.exists() {
            eprintln!("kept {} (fixtures are never regenerated)", path.display());
            continue;
        }
        let json = WorkflowHistory::from(History { events })
            .to_json()
            .await
            .unwrap();
        // Pretty, so that a fixture added later reads and diffs as text.
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
        eprintln!("recorded {}", path.display());
    }
}

/// The events of one run (the latest without `run_id`), polled until the run has closed.
async fn closed_run(
    client: &Client,
    namespace: &str,
    workflow_id: &str,
    run_id: Option<String>,
) -> Vec<HistoryEvent> {
    let handle = WorkflowExecutionInfo::builder()
        .namespace(namespace)
        .workflow_id(workflow_id)
        .maybe_run_id(run_id)
        .build()
        .bind_untyped(client.clone());
    let start = Instant::now();
    loop {
        let events = handle
            .fetch_history(WorkflowFetchHistoryOptions::default())
            .into_events()
            .await
            .unwrap();
        let closed = events.last().is_some_and(|e| {
            matches!(
                e.event_type(),
                EventType::WorkflowExecutionCompleted
                    | EventType::WorkflowExecutionFailed
                    | EventType::WorkflowExecutionCanceled
                    | EventType::WorkflowExecutionTerminated
                    | EventType::WorkflowExecutionTimedOut
                    | EventType::WorkflowExecutionContinuedAsNew
            )
        });
        if closed {
            return events;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{workflow_id} has not closed: nothing to record"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
