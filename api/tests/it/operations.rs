//! Pombo's dead-letter queue is its failed workflows: operators list failed
//! notifications, redrive one or many (dry run first), cancel what is not sent yet, and
//! every action is in the audit log.

use std::time::Duration;

use pombo_fakes::Fault;
use serde_json::{Value, json};

use crate::support::{AppOptions, InProcessWorker, providers, spawn_app_with};

const WITHIN: Duration = Duration::from_secs(60);

fn sms(text: &str) -> Value {
    json!({"channel": "sms", "to": "+5511987654321", "content": {"text": text},
           "retry": {"max_attempts": 1, "interval_secs": 1}})
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_notifications_are_listed_redriven_and_sent() {
    let app = spawn_app_with(AppOptions {
        providers: Some(|fakes| providers::only(fakes, &["twilio"])),
        ..Default::default()
    })
    .await;
    // Twilio is down for the first three sends: all three fail.
    app.fakes.fail_next("twilio", 3, Fault::status(503));
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = app.send(&sms(&format!("n{i}"))).await;
        app.wait_for_status(&id, "failed", WITHIN).await;
        ids.push(id);
    }
    app.wait_for_workflow(
        &ids[0],
        "ExecutionStatus = 'Failed' AND PomboStatus = 'failed'",
    )
    .await;
    let (_, page) = app
        .list_as(&app.api_key, "?status=failed&channel=sms")
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3, "{page}");
    assert!(
        page["data"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("503")
    );

    // One by hand.
    let (code, n) = app
        .call("POST", &format!("/v1/notifications/{}/retry", ids[0]), None)
        .await;
    assert_eq!(code, 200, "{n}");
    let n = app.wait_for_status(&ids[0], "sent", WITHIN).await;
    let outcomes: Vec<&str> = n["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["retryable_error", "sent"],
        "earlier attempts are kept"
    );
    // The failure's error stays with its attempt, not beside `"status": "sent"`.
    assert!(n["last_error"].is_null(), "{n}");
    assert!(
        n["attempt_log"][0]["error"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{n}"
    );
    app.wait_for_workflow(
        &ids[0],
        "ExecutionStatus = 'Completed' AND PomboStatus = 'sent'",
    )
    .await;
    // A sent notification is not retried again.
    let (code, _) = app
        .call("POST", &format!("/v1/notifications/{}/retry", ids[0]), None)
        .await;
    assert_eq!(code, 409);

    // The rest by filter: a dry run counts and changes nothing.
    let (code, dry) = app
        .call(
            "POST",
            "/v1/notifications/retry",
            Some(&json!({"channel": "sms", "dry_run": true})),
        )
        .await;
    assert_eq!(code, 200, "{dry}");
    assert_eq!(
        (dry["matched"].as_u64(), dry["retried"].as_u64()),
        (Some(2), Some(0))
    );
    let (_, still) = app.list_as(&app.api_key, "?status=failed").await;
    assert_eq!(still["data"].as_array().unwrap().len(), 2);
    let (_, none) = app
        .call(
            "POST",
            "/v1/notifications/retry",
            Some(&json!({"channel": "email", "dry_run": true})),
        )
        .await;
    assert_eq!(none["matched"], 0);

    let (_, done) = app
        .call(
            "POST",
            "/v1/notifications/retry",
            Some(&json!({"channel": "sms"})),
        )
        .await;
    assert_eq!(done["retried"], 2, "{done}");
    for id in &ids[1..] {
        app.wait_for_status(id, "sent", WITHIN).await;
    }

    let (code, log) = app.call("GET", "/v1/audit-log", None).await;
    assert_eq!(code, 200);
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["notifications.bulk_retry", "notification.retry"]);
    assert_eq!(log["data"][1]["target"], ids[0].as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_notification_is_cancelled_and_never_sent() {
    // No worker yet: the notification waits in Temporal's queue.
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let id = app.send(&sms("never")).await;
    let (code, n) = app
        .call("POST", &format!("/v1/notifications/{id}/cancel"), None)
        .await;
    assert_eq!(code, 200, "{n}");
    assert_eq!(n["status"], "cancelled");
    assert!(n["timestamps"]["cancelled"].is_string());

    let _worker = InProcessWorker::start(app.config.clone());
    app.wait_for_workflow(&id, "ExecutionStatus = 'Canceled'")
        .await;
    assert!(
        app.fakes.requests("twilio").is_empty(),
        "a cancelled notification is not sent"
    );
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(n["status"], "cancelled");
    app.record_history("cancelled_before_it_ran", &id).await;

    // Nothing to cancel once sent, failed or cancelled.
    let (code, _) = app
        .call("POST", &format!("/v1/notifications/{id}/cancel"), None)
        .await;
    assert_eq!(code, 409);
    let (code, _) = app
        .call("POST", &format!("/v1/notifications/{id}/retry"), None)
        .await;
    assert_eq!(code, 409);
    let (_, log) = app.call("GET", "/v1/audit-log", None).await;
    assert_eq!(log["data"][0]["action"], "notification.cancel");
}
