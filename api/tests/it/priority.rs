//! Priorities reach Temporal (a task queue and a priority key per priority, the tenant as
//! fairness key), and a backlog is worked through high first.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::support::{AppOptions, InProcessWorker, spawn_app_with};

fn sms(i: usize, priority: &str) -> Value {
    json!({
        "channel": "sms",
        "to": format!("+55119{i:08}"),
        "content": {"text": format!("{priority} {i}")},
        "priority": priority,
    })
}

async fn wait_started(app: &crate::support::TestApp, id: &str) {
    for _ in 0..300 {
        let (_, n) = app.get_notification(id).await;
        if n["workflow"]["started"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the workflow of {id} was never started");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_workflow_runs_on_its_priority_queue_with_its_priority_and_fairness_keys() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let client = app.temporal().await;
    for (i, (priority, key)) in [("high", 1), ("medium", 3), ("low", 5)]
        .into_iter()
        .enumerate()
    {
        let id = app.send(&sms(i, priority)).await;
        wait_started(&app, &id).await;
        let description = client
            .get_workflow_handle::<pombo_workflows::NotificationWorkflow>(
                pombo_contract::workflow::workflow_id(id.parse().unwrap()),
            )
            .describe(Default::default())
            .await
            .unwrap();
        let info = description.raw().workflow_execution_info.clone().unwrap();
        let given = info.priority.expect("the workflow has a priority");
        assert_eq!(given.priority_key, key, "{priority}");
        assert_eq!(given.fairness_key, tenant.id.simple().to_string());
        assert_eq!(
            info.task_queue,
            format!("{}-{priority}", app.config.temporal.task_queue),
            "each priority has its own task queue"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_is_worked_through_high_priority_first() {
    // No worker yet: every notification waits in Temporal's queue, low ones first.
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let mut low = Vec::new();
    for i in 0..40 {
        low.push(app.send(&sms(i, "low")).await);
    }
    let mut high = Vec::new();
    for i in 40..44 {
        high.push(app.send(&sms(i, "high")).await);
    }
    for id in low.iter().chain(&high) {
        wait_started(&app, id).await;
    }

    // One worker comes up to a backlog of 44: the high ones go first.
    let _worker = InProcessWorker::start(app.config.clone());
    let sent_at =
        |n: &Value| -> DateTime<Utc> { n["timestamps"]["sent"].as_str().unwrap().parse().unwrap() };
    let mut low_times = Vec::new();
    for id in &low {
        let n = app
            .wait_for_status(id, "sent", Duration::from_secs(120))
            .await;
        low_times.push(sent_at(&n));
    }
    low_times.sort();
    // Temporal orders a *backlog* by priority "close to" exactly, and a worker coming up
    // takes a first handful of tasks at once, in whatever order they finish: some low ones
    // may slip in, but the high ones must not wait behind most of the backlog (without
    // priority they are the last four of 44).
    let early_lows = low_times[low_times.len() * 3 / 4];
    for id in &high {
        let n = app
            .wait_for_status(id, "sent", Duration::from_secs(120))
            .await;
        assert!(
            sent_at(&n) < early_lows,
            "a high-priority notification was sent after most of the backlog: {n}"
        );
    }
}
