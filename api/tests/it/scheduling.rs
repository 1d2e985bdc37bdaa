//! Scheduled sends: `send_at` holds a notification back on a durable timer in its workflow,
//! cancellable until then; a time already past sends at once.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, providers, spawn_app_with};

const WITHIN: Duration = Duration::from_secs(60);

async fn sms_app() -> TestApp {
    spawn_app_with(AppOptions {
        providers: Some(|fakes| providers::only(fakes, &["twilio"])),
        ..Default::default()
    })
    .await
}

fn sms_at(text: &str, send_at: &str) -> Value {
    json!({"channel": "sms", "to": "+5511987654321", "content": {"text": text},
           "send_at": send_at})
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `seconds` from now, to the millisecond (as sent).
fn in_seconds(seconds: i64) -> DateTime<Utc> {
    rfc3339(Utc::now() + chrono::Duration::seconds(seconds))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_notification_is_sent_at_its_time_and_not_before() {
    let app = sms_app().await;
    let send_at = in_seconds(3);
    let response = app
        .post_notification(&sms_at("later", &rfc3339(send_at)))
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["status"], "pending");
    let shown: DateTime<Utc> = accepted["send_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(shown, send_at);

    // Just after, and a second later (its workflow started, waiting on its timer): nothing
    // has reached the provider.
    // (A machine too busy to look before send_at skips the look; the receive time below
    // still tells.)
    for pause in [Duration::ZERO, Duration::from_secs(1)] {
        tokio::time::sleep(pause).await;
        if Utc::now() + chrono::Duration::milliseconds(500) >= send_at {
            break;
        }
        let (_, n) = app.get_notification(&id).await;
        assert_eq!(n["status"], "pending", "{n}");
        assert_eq!(n["attempts"], 0, "{n}");
        assert!(app.fakes.requests("twilio").is_empty());
    }

    let n = app.wait_for_status(&id, "sent", WITHIN).await;
    let received = app.fakes.requests("twilio");
    assert_eq!(received.len(), 1);
    assert!(
        received[0].at >= send_at,
        "received at {} before send_at {send_at}",
        received[0].at
    );
    let sent: DateTime<Utc> = n["timestamps"]["sent"].as_str().unwrap().parse().unwrap();
    assert!(sent >= send_at, "{n}");
    app.wait_for_workflow(&id, "ExecutionStatus = 'Completed'")
        .await;
    app.record_history("sent_at_send_at", &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_notification_cancelled_before_its_time_is_never_sent() {
    let app = sms_app().await;
    // Far enough ahead for a busy machine to cancel before it.
    let send_at = in_seconds(10);
    let id = app.send(&sms_at("never", &rfc3339(send_at))).await;
    // Cancelled while its workflow waits on the timer.
    app.wait_for_workflow(&id, "ExecutionStatus = 'Running'")
        .await;
    let (code, n) = app
        .call("POST", &format!("/v1/notifications/{id}/cancel"), None)
        .await;
    assert_eq!(code, 200, "{n}");
    assert_eq!(n["status"], "cancelled");
    assert!(Utc::now() < send_at, "the test itself was too slow");

    app.wait_for_workflow(
        &id,
        "ExecutionStatus = 'Canceled' AND PomboStatus = 'cancelled'",
    )
    .await;
    // Past its time, and still nothing sent.
    let past = (send_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(2);
    tokio::time::sleep(past).await;
    assert!(
        app.fakes.requests("twilio").is_empty(),
        "a cancelled scheduled notification is not sent"
    );
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(n["status"], "cancelled", "{n}");
    assert_eq!(n["attempts"], 0, "{n}");
    app.record_history("cancelled_waiting_for_send_at", &id)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn send_at_is_checked_and_a_past_time_sends_at_once() {
    let app = sms_app().await;
    let far = rfc3339(Utc::now() + chrono::Duration::days(367));
    for bad in [
        "tomorrow",
        "2026-11-24 10:00",
        "2026-11-24T10:00:00",
        far.as_str(),
    ] {
        let response = app.post_notification(&sms_at("x", bad)).await;
        assert_eq!(response.status(), 422, "{bad}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "send_at", "{bad}: {problem}");
    }
    let (_, page) = app.list_as(&app.api_key, "").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 0, "nothing stored");

    // Within the limit: accepted.
    let near = rfc3339(Utc::now() + chrono::Duration::days(365));
    let id = app.send(&sms_at("next year", &near)).await;
    let (code, _) = app
        .call("POST", &format!("/v1/notifications/{id}/cancel"), None)
        .await;
    assert_eq!(code, 200);

    // A time already past: no wait.
    let past = rfc3339(Utc::now() - chrono::Duration::minutes(5));
    let id = app.send(&sms_at("now", &past)).await;
    let n = app.wait_for_status(&id, "sent", WITHIN).await;
    assert!(n["send_at"].is_string(), "{n}");
    assert_eq!(app.fakes.requests("twilio").len(), 1);
}
