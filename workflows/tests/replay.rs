//! Replays every recorded workflow history in `tests/histories/<workflow>/<case>.json`
//! against the current workflow code, with the SDK's replayer (local: no server). A change
//! that would break workflows already running in production (a command added, removed or
//! reordered without a `patched` guard) fails here with a non-determinism error, before a
//! deploy. The files are the compatibility contract: recorded from released versions by
//! `scripts/record-histories.sh`, never regenerated, only added to (README).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use pombo_workflows::{
    BatchWorkflow, HubCheckWorkflow, HubForwardWorkflow, InboundMediaWorkflow,
    NotificationWorkflow, RetentionWorkflow, WebhookDeliveryWorkflow,
    notification::REPORTED_FAILURE_FAILS_RUN, retention::PURGE_CONCURRENTLY,
};
use temporalio_client::WorkflowHistory;
use temporalio_common::protos::temporal::api::history::v1::{
    HistoryEvent, history_event::Attributes,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    WorkflowContext, WorkflowResult,
    workflow_replayer::{
        WorkflowReplayError, WorkflowReplayFailure, WorkflowReplayer, WorkflowReplayerOptions,
    },
};

fn histories_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories")
}

/// Every `*.json` under `dir`, sorted: a new fixture is picked up without code.
fn fixtures(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(fixtures(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn load(path: &Path) -> WorkflowHistory {
    let bytes = std::fs::read(path).unwrap();
    WorkflowHistory::from_json(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The worker's registrations, as `pombo-worker` makes them.
fn current_code() -> WorkflowReplayer {
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<NotificationWorkflow>()
        .unwrap()
        .register_workflow::<BatchWorkflow>()
        .unwrap()
        .register_workflow::<RetentionWorkflow>()
        .unwrap()
        .register_workflow::<InboundMediaWorkflow>()
        .unwrap()
        .register_workflow::<WebhookDeliveryWorkflow>()
        .unwrap()
        .register_workflow::<HubForwardWorkflow>()
        .unwrap()
        .register_workflow::<HubCheckWorkflow>()
        .unwrap()
        .build();
    WorkflowReplayer::new(options).unwrap()
}

/// Replays one history; the failure, if any.
async fn replay(replayer: &WorkflowReplayer, path: &Path) -> Option<WorkflowReplayFailure> {
    // One replay per history: the replayer matches outcomes to histories by order of
    // completion, so a failure in a shared replay could be blamed on the wrong file.
    match replayer.replay_workflow(load(path)).await {
        Ok(()) => None,
        Err(WorkflowReplayError::Replay(failure)) => Some(failure),
        Err(e) => panic!("{}: the replay itself failed: {e}", path.display()),
    }
}

#[tokio::test]
async fn every_recorded_history_replays_against_the_current_code() {
    let files = fixtures(&histories_dir());
    // An emptied or misplaced directory must not pass by replaying nothing.
    for workflow in ["notification", "batch", "retention", "inbound_media"] {
        assert!(
            files
                .iter()
                .any(|f| f.parent().unwrap().ends_with(workflow)),
            "no fixture for the {workflow} workflow in {}",
            histories_dir().display()
        );
    }
    let replayer = current_code();
    let mut failures = Vec::new();
    for path in &files {
        if let Some(failure) = replay(&replayer, path).await {
            failures.push(format!("{}: {failure}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} recorded histories no longer replay (guard the change with \
         `ctx.patched`, see ARCHITECTURE.md):\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Stands in for a changed notification workflow whose first command is now a timer.
#[workflow]
#[derive(Default)]
struct ReorderedNotification;

#[workflow_methods]
impl ReorderedNotification {
    #[run(name = pombo_contract::workflow::NOTIFICATION_WORKFLOW)]
    async fn run(ctx: &mut WorkflowContext<Self>, _input: serde_json::Value) -> WorkflowResult<()> {
        ctx.timer(Duration::from_secs(1)).await;
        Ok(())
    }
}

/// The check above only means something if the replayer reports a changed workflow: the
/// same harness, on a recorded notification, against code that starts with a timer.
#[tokio::test]
async fn a_reordered_workflow_fails_replay_with_a_nondeterminism_error() {
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<ReorderedNotification>()
        .unwrap()
        .build();
    let replayer = WorkflowReplayer::new(options).unwrap();
    let path = histories_dir().join("notification/sent_at_once.json");
    match replay(&replayer, &path).await {
        Some(WorkflowReplayFailure::Nondeterminism { .. }) => {}
        other => panic!("expected a nondeterminism error, got {other:?}"),
    }
}

/// Whether the history took the `patch` branch (`ctx.patched` recorded its marker).
fn has_patch_marker(events: &[HistoryEvent], patch: &str) -> bool {
    events.iter().any(|e| match &e.attributes {
        Some(Attributes::MarkerRecordedEventAttributes(m)) => {
            m.marker_name == "core_patch"
                && m.details.values().any(|p| {
                    p.payloads
                        .iter()
                        .any(|p| String::from_utf8_lossy(&p.data).contains(patch))
                })
        }
        _ => false,
    })
}

/// The versioning rule shown on one change (ARCHITECTURE.md): retention runs begun before the
/// concurrent purge (no patch marker: one purge after the other) and after it (marker: side
/// by side) are both recorded, and both replay against the code that has both branches.
#[tokio::test]
async fn retention_runs_from_before_and_after_the_concurrent_purge_both_replay() {
    let replayer = current_code();
    let (mut before, mut after) = (0, 0);
    for path in fixtures(&histories_dir().join("retention")) {
        let events = load(&path).into_events().await.unwrap();
        if has_patch_marker(&events, PURGE_CONCURRENTLY) {
            after += 1;
        } else {
            before += 1;
        }
        if let Some(failure) = replay(&replayer, &path).await {
            panic!("{}: {failure}", path.display());
        }
    }
    assert!(
        before > 0 && after > 0,
        "retention fixtures from before the patch: {before}, after: {after}"
    );
}

/// The same rule on the notification workflow: a run a delivery report failed ended
/// Completed before `REPORTED_FAILURE_FAILS_RUN` (no marker) and Failed after it (marker);
/// both are recorded and both replay.
#[tokio::test]
async fn report_failed_runs_from_before_and_after_the_failing_close_both_replay() {
    let replayer = current_code();
    let dir = histories_dir().join("notification");
    let mut found = Vec::new();
    for case in [
        "reported_failed_run_completed",
        "reported_failed_then_fallback",
    ] {
        let path = dir.join(format!("{case}.json"));
        let events = load(&path).into_events().await.unwrap();
        found.push(has_patch_marker(&events, REPORTED_FAILURE_FAILS_RUN));
        if let Some(failure) = replay(&replayer, &path).await {
            panic!("{}: {failure}", path.display());
        }
    }
    assert_eq!(
        found,
        [false, true],
        "before the patch: no marker; after: one"
    );
}
