//! Upgrades never break a waiting workflow: notifications whose workflows were started by
//! one `pombo-worker` process and are waiting (for their delivery reports, for their
//! `send_at`) when it is killed are taken over by another worker binary, which replays
//! their histories and completes every one, sending nothing twice.
//!
//! The first worker is the binary named by `POMBO_TEST_OLD_WORKER` when set
//! (`scripts/upgrade-test.sh` builds an earlier version of Pombo there), else the current
//! build, and the test says which: then it checks a take-over by a fresh process, while
//! the replay tests (`workflows/tests/replay.rs`) hold the workflow code to the histories
//! recorded from earlier versions.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use chrono::{SecondsFormat, Utc};
use pombo_contract::config::WorkflowStarts;
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, WorkerProcess, providers, spawn_app_with};

const WITHIN: Duration = Duration::from_secs(60);

fn sms(i: usize) -> Value {
    json!({"channel": "sms", "to": format!("+55119876543{i:02}"), "content": {"text": "hi"}})
}

/// Polls Temporal until the notification's workflow has completed with `PomboStatus` `read`.
/// Longer than `wait_for_workflow`: a workflow task queued for the killed worker's sticky
/// queue reaches the new worker only after Temporal's sticky timeout.
async fn wait_completed(app: &TestApp, id: &str) {
    let client = app.temporal().await;
    let query = format!(
        "WorkflowId = '{}' AND ExecutionStatus = 'Completed' AND PomboStatus = 'read'",
        pombo_contract::workflow::workflow_id(id.parse().unwrap())
    );
    let start = Instant::now();
    loop {
        let count = client
            .count_workflows(
                query.clone(),
                temporalio_client::WorkflowCountOptions::default(),
            )
            .await
            .unwrap();
        if count.count() == 1 {
            return;
        }
        assert!(start.elapsed() < WITHIN, "no workflow matches `{query}`");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn report_read(app: &TestApp, id: &str) {
    let (code, n) = app
        .call(
            "PATCH",
            &format!("/v1/notifications/{id}/status"),
            Some(&json!({"status": "read"})),
        )
        .await;
    assert_eq!(code, 200, "{n}");
}

#[tokio::test(flavor = "multi_thread")]
async fn workflows_waiting_on_one_worker_binary_complete_on_the_next() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        // The first worker starts the workflows, as in production.
        starts: Some(WorkflowStarts::Worker),
        confirmation_timeout_secs: 300,
        providers: Some(|fakes| providers::only(fakes, &["twilio"])),
        ..Default::default()
    })
    .await;
    let old = match std::env::var_os("POMBO_TEST_OLD_WORKER") {
        Some(path) => {
            let path = PathBuf::from(path);
            eprintln!("first worker: {} (POMBO_TEST_OLD_WORKER)", path.display());
            assert!(path.exists(), "{} is missing", path.display());
            WorkerProcess::spawn_binary(&path, &app.config)
        }
        None => {
            eprintln!("first worker: the current build (no POMBO_TEST_OLD_WORKER)");
            WorkerProcess::spawn(&app.config)
        }
    };

    // Three sent, waiting for their reports; one waiting for its time.
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(app.send(&sms(i)).await);
    }
    let send_at = Utc::now() + chrono::Duration::seconds(20);
    let mut body = sms(3);
    body["send_at"] = json!(send_at.to_rfc3339_opts(SecondsFormat::Millis, true));
    let scheduled = app.send(&body).await;
    for id in &sent {
        app.wait_for_status(id, "sent", WITHIN).await;
        app.wait_for_workflow(id, "PomboStatus = 'sent' AND ExecutionStatus = 'Running'")
            .await;
    }
    app.wait_for_workflow(&scheduled, "ExecutionStatus = 'Running'")
        .await;

    old.kill();
    assert!(Utc::now() < send_at, "the test itself was too slow");
    assert_eq!(app.fakes.requests("twilio").len(), 3);

    // The current build takes over: each report is a signal to a workflow the old worker
    // ran, which the new one replays from its history before going on.
    let _new = WorkerProcess::spawn(&app.config);
    for id in &sent {
        report_read(&app, id).await;
    }
    for id in &sent {
        wait_completed(&app, id).await;
    }
    let n = app.wait_for_status(&scheduled, "sent", WITHIN).await;
    let sent_at: chrono::DateTime<Utc> = n["timestamps"]["sent"].as_str().unwrap().parse().unwrap();
    assert!(sent_at >= send_at, "sent before its time: {n}");
    report_read(&app, &scheduled).await;
    wait_completed(&app, &scheduled).await;

    assert_eq!(
        app.fakes.requests("twilio").len(),
        4,
        "each notification sent once"
    );
}
