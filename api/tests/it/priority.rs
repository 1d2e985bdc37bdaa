//! Priorities reach Temporal (a task queue and a priority key per priority, the tenant as
//! fairness key), and a backlog is worked through high first.

use std::time::Duration;

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
    // Its weight is its fairness weight in Temporal's matcher too.
    pombo_store::tenants::set_weight(&app.db, tenant.id, 3)
        .await
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
        assert_eq!(given.fairness_weight, 3.0, "the tenant's weight");
        assert_eq!(
            info.task_queue,
            format!("{}-{priority}", app.config.temporal.task_queue),
            "each priority has its own task queue"
        );
    }
    // A batch of the tenant's: its workflow (and so its chunks) carries the weight too.
    let (code, batch) = app
        .call(
            "POST",
            "/v1/notifications/batch",
            Some(&json!({
                "channel": "sms",
                "content": {"text": "hi"},
                "recipients": [{"to": "+5511900000100"}],
                "priority": "low",
            })),
        )
        .await;
    assert_eq!(code, 202, "{batch}");
    let batch_id: uuid::Uuid = batch["id"].as_str().unwrap().parse().unwrap();
    let mut tries = 0;
    let info = loop {
        tries += 1;
        assert!(tries < 300, "the batch's workflow was never started");
        let described = client
            .get_workflow_handle::<pombo_workflows::BatchWorkflow>(
                pombo_contract::batch::workflow_id(batch_id),
            )
            .describe(Default::default())
            .await;
        if let Ok(described) = described {
            break described.raw().workflow_execution_info.clone().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let given = info.priority.expect("the batch has a priority");
    assert_eq!(given.priority_key, 5);
    assert_eq!(given.fairness_key, tenant.id.simple().to_string());
    assert_eq!(given.fairness_weight, 3.0, "the tenant's weight");
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

    // One worker comes up to a backlog of 44: the high ones go first. Its low queue has the
    // fewest slots allowed, so the lows it can take before any high runs are few and
    // known: once a high runs, the lows wait for it (`PriorityGate`).
    let mut config = app.config.clone();
    config.temporal.slots.low = 2;
    let _worker = InProcessWorker::start(config.clone());
    for id in low.iter().chain(&high) {
        app.wait_for_status(id, "sent", Duration::from_secs(120))
            .await;
    }
    // The order the provider received them in (each text names its priority).
    let mut received = app.fakes.requests("twilio");
    assert_eq!(received.len(), 44);
    received.sort_by_key(|r| r.at);
    let order: Vec<&str> = received
        .iter()
        .map(|r| {
            if r.body.contains("high") {
                "high"
            } else {
                "low"
            }
        })
        .collect();
    let lows_before_last_high = order
        .iter()
        .rposition(|p| *p == "high")
        .map(|last| order[..last].iter().filter(|p| **p == "low").count())
        .unwrap();
    // Measured: none, or one low taken in the moment the worker came up.
    assert!(
        lows_before_last_high <= config.temporal.slots.low,
        "{lows_before_last_high} lows before the last high: {order:?}"
    );
}
