//! The happy path and the two failure paths of an email.

use std::time::Duration;

use serde_json::json;
use temporalio_common::protos::temporal::api::enums::v1::EventType;

use crate::support::{
    AppOptions, email_request,
    maildev::{mails_to, wait_for_mails},
    smtp::{self, Fault},
    spawn_app, spawn_app_with, unique_email,
};

#[tokio::test(flavor = "multi_thread")]
async fn an_email_is_rendered_delivered_and_reported_sent() {
    let app = spawn_app().await;
    let to = unique_email("happy");
    let mut body = email_request(&to);
    body["content"]["html"] = json!("<p>Hi {{ name }}</p>");

    let response = app.post_notification(&body).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let accepted: serde_json::Value = response.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/notifications/{id}"));
    assert_eq!(accepted["status"], "pending");

    let mails = wait_for_mails(&to, 1, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["subject"], "Hello Ana");
    assert_eq!(
        mails[0]["text"].as_str().unwrap().trim(),
        "Your code is 4242."
    );
    assert!(mails[0]["html"].as_str().unwrap().contains("<p>Hi Ana</p>"));

    let n = app
        .wait_for_status(id, "sent", Duration::from_secs(30))
        .await;
    assert_eq!(n["attempts"], 1);
    assert_eq!(n["provider"], "smtp");
    assert_eq!(
        n["provider_message_id"],
        format!("<{id}@localhost>"),
        "the Message-ID is derived from the notification"
    );
    let ts = &n["timestamps"];
    assert!(ts["pending"].as_str().unwrap() <= ts["sending"].as_str().unwrap());
    assert!(ts["sending"].as_str().unwrap() <= ts["sent"].as_str().unwrap());
    assert_eq!(n["attempt_log"][0]["outcome"], "sent");
    assert!(n["workflow"]["started"].as_bool().unwrap());

    // Operators can find it by status in the Temporal UI.
    app.wait_for_workflow(id, "PomboStatus = 'sent' AND ExecutionStatus = 'Completed'")
        .await;
    // A first attempt that goes through is a local activity: the notification is prepared,
    // sent and recorded in one workflow task, with no activity task through Temporal.
    assert_counts(
        &app.history(id).await,
        &[
            (EventType::WorkflowTaskCompleted, 1),
            (EventType::ActivityTaskScheduled, 0),
        ],
    );
    app.record_history("sent_at_once", id).await;
}

/// How many events of each kind the history has.
fn assert_counts(history: &[EventType], expected: &[(EventType, usize)]) {
    for &(kind, n) in expected {
        let found = history.iter().filter(|e| **e == kind).count();
        assert_eq!(found, n, "{kind:?} in {history:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_smtp_outage_is_retried_until_the_third_attempt_sends() {
    let flaky = smtp::start(Fault::RefuseFirst(2)).await;
    let app = spawn_app_with(AppOptions {
        smtp_port: Some(flaky.port),
        ..Default::default()
    })
    .await;
    let to = unique_email("flaky");
    let id = app.send(&email_request(&to)).await;

    let n = app
        .wait_for_status(&id, "sent", Duration::from_secs(60))
        .await;
    assert_eq!(n["attempts"], 3);
    let log = n["attempt_log"].as_array().unwrap();
    let outcomes: Vec<_> = log.iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["retryable_error", "retryable_error", "sent"]);
    for failed in &log[..2] {
        assert!(
            failed["error"].as_str().unwrap().contains("421"),
            "{failed}"
        );
    }
    assert!(n["last_error"].as_str().unwrap().contains("421"));
    assert_eq!(mails_to(&to).await.len(), 1);
    // The first attempt ran in the workflow task; after the interval, Temporal retried the
    // rest as one regular activity (which the Temporal UI shows with its last failure).
    // The row says `sent` before the workflow has closed: read the history once it has.
    app.wait_for_workflow(&id, "ExecutionStatus = 'Completed'")
        .await;
    assert_counts(
        &app.history(&id).await,
        &[
            (EventType::TimerStarted, 1),
            (EventType::ActivityTaskScheduled, 1),
            (EventType::ActivityTaskCompleted, 1),
        ],
    );
    // Two refused connections, then one that delivered.
    assert_eq!(
        flaky.connections.load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    app.record_history("retried_then_sent", &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_smtp_refusal_fails_at_once_with_the_servers_reply() {
    let rejecting = smtp::start(Fault::RejectRecipients).await;
    let app = spawn_app_with(AppOptions {
        smtp_port: Some(rejecting.port),
        ..Default::default()
    })
    .await;
    let id = app.send(&email_request(&unique_email("rejected"))).await;

    let n = app
        .wait_for_status(&id, "failed", Duration::from_secs(30))
        .await;
    assert_eq!(n["attempts"], 1, "a permanent error is not retried: {n}");
    let error = n["last_error"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("does not exist"),
        "{error}"
    );
    assert!(n["timestamps"]["failed"].is_string());
    assert_eq!(n["attempt_log"][0]["outcome"], "permanent_error");
    // The failed notification is a failed workflow: Pombo's dead letter.
    app.wait_for_workflow(&id, "PomboStatus = 'failed' AND ExecutionStatus = 'Failed'")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_follow_the_per_request_rule() {
    let flaky = smtp::start(Fault::RefuseFirst(usize::MAX)).await;
    let app = spawn_app_with(AppOptions {
        smtp_port: Some(flaky.port),
        ..Default::default()
    })
    .await;
    let mut body = email_request(&unique_email("twice"));
    body["retry"] = json!({"max_attempts": 2, "interval_secs": 1});
    let id = app.send(&body).await;

    let n = app
        .wait_for_status(&id, "failed", Duration::from_secs(60))
        .await;
    assert_eq!(n["attempts"], 2);
    assert_eq!(n["max_attempts"], 2);
    assert_eq!(n["attempt_log"].as_array().unwrap().len(), 2);
}
