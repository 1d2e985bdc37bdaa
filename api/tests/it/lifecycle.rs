//! After the provider accepts: delivery reports move the status forward (never back), are
//! all kept in the timeline, reach the workflow as signals, and the workflow ends on a
//! final status or at the channel's confirmation timeout.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{AppOptions, providers, spawn_app_with, timeline};

const WITHIN: Duration = Duration::from_secs(60);

fn sms() -> Value {
    json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}})
}

async fn report(app: &crate::support::TestApp, id: &str, body: Value) -> (u16, Value) {
    app.call(
        "PATCH",
        &format!("/v1/notifications/{id}/status"),
        Some(&body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_move_the_status_forward_and_end_the_workflow() {
    let app = spawn_app_with(AppOptions {
        confirmation_timeout_secs: 120,
        ..Default::default()
    })
    .await;
    let id = app.send(&sms()).await;
    app.wait_for_status(&id, "sent", WITHIN).await;
    // The workflow is waiting for reports, and says so in the Temporal UI.
    app.wait_for_workflow(&id, "PomboStatus = 'sent' AND ExecutionStatus = 'Running'")
        .await;

    let delivered_at = "2026-11-23T10:00:00Z";
    let (code, n) = report(
        &app,
        &id,
        json!({"status": "delivered", "occurred_at": delivered_at}),
    )
    .await;
    assert_eq!(
        (code, n["status"].as_str()),
        (200, Some("delivered")),
        "{n}"
    );
    app.wait_for_workflow(
        &id,
        "PomboStatus = 'delivered' AND ExecutionStatus = 'Running'",
    )
    .await;

    let read_at = "2026-11-23T10:05:00Z";
    let (code, n) = report(&app, &id, json!({"status": "read", "occurred_at": read_at})).await;
    assert_eq!(code, 200, "{n}");
    assert_eq!(n["status"], "read");
    let stamp = |key: &str| {
        chrono::DateTime::parse_from_rfc3339(n["timestamps"][key].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        stamp("delivered"),
        chrono::DateTime::parse_from_rfc3339(delivered_at).unwrap()
    );
    assert_eq!(
        stamp("read"),
        chrono::DateTime::parse_from_rfc3339(read_at).unwrap()
    );
    assert_eq!(
        timeline(&n),
        [
            ("sent".to_owned(), "worker".to_owned()),
            ("delivered".to_owned(), "connector".to_owned()),
            ("read".to_owned(), "connector".to_owned()),
        ]
    );
    // Read is final: the workflow ends without waiting for its timeout.
    app.wait_for_workflow(
        &id,
        "PomboStatus = 'read' AND ExecutionStatus = 'Completed'",
    )
    .await;

    let (code, page) = app
        .call(
            "GET",
            &format!("/v1/notifications/{id}/events?limit=2"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .call(
            "GET",
            &format!("/v1/notifications/{id}/events?cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest["data"][0]["status"], "read");
    assert!(rest["next_cursor"].is_null());
    app.record_history("delivered_then_read", &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn late_duplicate_and_out_of_order_reports_never_move_the_status_back() {
    let app = spawn_app_with(AppOptions {
        confirmation_timeout_secs: 120,
        ..Default::default()
    })
    .await;
    let id = app.send(&sms()).await;
    app.wait_for_status(&id, "sent", WITHIN).await;

    let read = json!({"status": "read", "occurred_at": "2026-11-23T10:05:00Z"});
    let delivered = json!({"status": "delivered", "occurred_at": "2026-11-23T10:00:00Z"});
    assert_eq!(report(&app, &id, read.clone()).await.0, 200);
    let (_, n) = report(&app, &id, delivered).await;
    assert_eq!(
        n["status"], "read",
        "a late `delivered` does not move it back"
    );
    let (_, n) = report(&app, &id, read).await;
    assert_eq!(
        timeline(&n),
        [
            ("sent".to_owned(), "worker".to_owned()),
            ("read".to_owned(), "connector".to_owned()),
            ("delivered".to_owned(), "connector".to_owned()),
        ],
        "every report kept once, the repeated one not twice"
    );
    let (_, n) = report(
        &app,
        &id,
        json!({"status": "failed", "reason": "late bounce"}),
    )
    .await;
    assert_eq!(n["status"], "read", "read is final");

    // Only what happens after the send: `sent` is the worker's to record.
    for status in ["opened", "sent"] {
        let (code, problem) = report(&app, &id, json!({ "status": status })).await;
        assert_eq!(code, 422, "{status}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "status", "{problem}");
    }
    let other = app.other_tenant_key().await;
    let response = app
        .http
        .patch(app.url(&format!("/v1/notifications/{id}/status")))
        .bearer_auth(other)
        .json(&json!({"status": "delivered"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_reports_the_workflow_ends_at_the_confirmation_timeout() {
    let app = spawn_app_with(AppOptions {
        confirmation_timeout_secs: 2,
        ..Default::default()
    })
    .await;
    let id = app.send(&sms()).await;
    app.wait_for_status(&id, "sent", WITHIN).await;
    app.wait_for_workflow(
        &id,
        "PomboStatus = 'sent' AND ExecutionStatus = 'Completed'",
    )
    .await;
    // A report after the workflow ended is still recorded.
    let (code, n) = report(&app, &id, json!({"status": "delivered"})).await;
    assert_eq!(
        (code, n["status"].as_str()),
        (200, Some("delivered")),
        "{n}"
    );
}

/// The seconds of every timer the notification's workflow started, in order.
async fn timers(app: &crate::support::TestApp, id: &str) -> Vec<i64> {
    use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
    app.history_events(id)
        .await
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::TimerStartedEventAttributes(t)) => {
                t.start_to_fire_timeout.as_ref().map(|d| d.seconds)
            }
            _ => None,
        })
        .collect()
}

/// The wait for reports is the channel's own, from the documented defaults (email and SMS
/// 24 h, push 1 h, WhatsApp 10 min; Telegram and webhooks none): each workflow's one timer
/// after sending is its channel's, and those without one end once sent.
#[tokio::test(flavor = "multi_thread")]
async fn each_channel_waits_for_reports_as_long_as_its_default_says() {
    let app = spawn_app_with(AppOptions {
        confirmation_timeouts: Some(Default::default()),
        ..Default::default()
    })
    .await;
    let fcm_token = format!("dQw4w9WgXcQ:APA91b{}", "Pombo_test-token".repeat(8));
    let webhook = format!("{}/receive", app.fakes.base_url("webhook"));
    let cases = [
        (
            crate::support::email_request(&crate::support::unique_email("wait")),
            Some(24 * 3600),
        ),
        (sms(), Some(24 * 3600)),
        (
            json!({"channel": "push", "to": fcm_token, "content": {"title": "Hi", "body": "there"}}),
            Some(3600),
        ),
        (
            json!({"channel": "whatsapp", "to": "+5511987654321", "content": {"text": "hi"}}),
            Some(600),
        ),
        (
            json!({"channel": "telegram", "to": "-1001234567890", "content": {"text": "hi"}}),
            None,
        ),
        (
            json!({"channel": "webhook", "to": webhook,
                   "content": {"type": "order.shipped", "payload": {"order": "A-42"}}}),
            None,
        ),
    ];
    for (request, wait) in cases {
        let channel = request["channel"].as_str().unwrap().to_owned();
        let id = app.send(&request).await;
        app.wait_for_status(&id, "sent", WITHIN).await;
        match wait {
            Some(secs) => {
                app.wait_for_workflow(&id, "ExecutionStatus = 'Running'")
                    .await;
                let mut started = timers(&app, &id).await;
                for _ in 0..50 {
                    if !started.is_empty() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    started = timers(&app, &id).await;
                }
                assert_eq!(started, vec![secs], "{channel}'s wait for reports");
            }
            None => {
                app.wait_for_workflow(&id, "ExecutionStatus = 'Completed'")
                    .await;
                assert_eq!(timers(&app, &id).await, Vec::<i64>::new(), "{channel}");
            }
        }
    }
}

/// A report recorded while its signal could not reach the workflow (Temporal unreachable
/// from the API that took it) is not lost: before ending, the workflow re-reads the
/// database, so it ends `delivered` and sends no fallback.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_whose_signal_was_lost_is_read_back_before_the_workflow_ends() {
    let app = spawn_app_with(AppOptions {
        confirmation_timeout_secs: 4,
        ..Default::default()
    })
    .await;
    // A second API process of the same deployment that cannot reach Temporal.
    let cut_off = spawn_app_with(AppOptions {
        database_url: Some(app.config.database_url.clone()),
        api_temporal: Some("http://127.0.0.1:1".into()),
        worker: false,
        ..Default::default()
    })
    .await;
    let id = app
        .send(&json!({"channel": "whatsapp", "to": "+5511987654321", "content": {"text": "hi"},
                      "fallback": {"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}}))
        .await;
    app.wait_for_status(&id, "sent", WITHIN).await;
    let (code, n) = report(&cut_off, &id, json!({"status": "delivered"})).await;
    assert_eq!(
        (code, n["status"].as_str()),
        (200, Some("delivered")),
        "{n}"
    );

    // The workflow never heard of it until its wait ran out and it read the database.
    app.wait_for_workflow(
        &id,
        "PomboStatus = 'delivered' AND ExecutionStatus = 'Completed'",
    )
    .await;
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(n["status"], "delivered", "{n}");
    assert!(
        n["fallback_id"].is_null(),
        "no fallback for a delivered message: {n}"
    );
}

/// A WhatsApp message a report fails 2 s after sending: its error is the provider's reason,
/// not a confirmation wait that never ran out, and the fallback is its own timeline entry
/// saying why.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_failed_notification_keeps_the_providers_reason_when_it_falls_back() {
    let app = spawn_app_with(AppOptions {
        confirmation_timeout_secs: 600,
        dispatch_grace_secs: 1,
        providers: Some(|fakes| providers::only(fakes, &["twilio", "whatsapp-cloud"])),
        ..Default::default()
    })
    .await;
    let id = app
        .send(&json!({
            "channel": "whatsapp", "to": "+5511987654321", "content": {"text": "oi"},
            "fallback": {"channel": "sms", "to": "+5511987654321", "content": {"text": "oi"}},
        }))
        .await;
    app.wait_for_status(&id, "sent", WITHIN).await;
    let (code, n) = report(
        &app,
        &id,
        json!({"status": "failed", "code": "131026", "reason": "Message undeliverable"}),
    )
    .await;
    assert_eq!(code, 200, "{n}");
    let mut parent = Value::Null;
    for _ in 0..100 {
        (_, parent) = app.get_notification(&id).await;
        // The fallback's id is stored before its timeline entry, but a read takes the row
        // before the timeline: wait until one read shows both.
        if parent["fallback_id"].is_string()
            && parent["events"].to_string().contains("\"fallback\"")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(parent["fallback_id"].is_string(), "no fallback: {parent}");
    assert_eq!(parent["status"], "failed", "{parent}");
    assert_eq!(parent["last_error"], "Message undeliverable", "{parent}");
    let fallback = parent["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["raw_status"] == "fallback")
        .unwrap_or_else(|| panic!("no fallback entry: {parent}"));
    let reason = fallback["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("failed: Message undeliverable; falling back to sms"),
        "{reason}"
    );
    assert!(
        !parent.to_string().contains("not delivered within"),
        "{parent}"
    );
    // Temporal agrees: the run failed, as every failed notification's does.
    app.wait_for_workflow(&id, "ExecutionStatus = 'Failed' AND PomboStatus = 'failed'")
        .await;
    app.record_history("reported_failed_then_fallback", &id)
        .await;
}

/// WhatsApp not delivered in time → the SMS fallback goes out, once; a notification that
/// fails for good escalates the same way.
#[tokio::test(flavor = "multi_thread")]
async fn undelivered_or_failed_notifications_fall_back_to_another_channel_once() {
    let app = spawn_app_with(AppOptions {
        confirmation_timeout_secs: 2,
        dispatch_grace_secs: 1,
        // One SMS account, so an invalid number is not failed over to another.
        providers: Some(|fakes| providers::only(fakes, &["twilio", "whatsapp-cloud", "telegram"])),
        ..Default::default()
    })
    .await;
    let id = app
        .send(&json!({
            "channel": "whatsapp", "to": "+5511987654321",
            "content": {"text": "Seu pedido {{ order }} saiu"}, "data": {"order": "A-42"},
            "fallback": {"channel": "sms", "to": "+5511987654321",
                         "content": {"text": "Pedido {{ order }} saiu"}},
        }))
        .await;
    app.wait_for_workflow(&id, "ExecutionStatus = 'Completed'")
        .await;
    let (_, parent) = app.get_notification(&id).await;
    assert_eq!(parent["status"], "sent", "{parent}");
    let child = parent["fallback_id"]
        .as_str()
        .expect("a fallback was created")
        .to_owned();
    let events = parent["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["raw_status"] == "fallback"),
        "the escalation is in the timeline: {parent}"
    );
    app.record_history("fallback_after_confirmation_timeout", &id)
        .await;
    let sms = app.wait_for_status(&child, "sent", WITHIN).await;
    assert_eq!(sms["channel"], "sms");
    assert_eq!(sms["fallback_of"], id.as_str());
    let twilio = app.fakes.requests("twilio");
    assert_eq!(twilio.len(), 1, "the fallback is sent once");
    assert_eq!(
        twilio[0].form_value("Body").as_deref(),
        Some("Pedido A-42 saiu")
    );

    // A permanent refusal escalates too (Twilio's magic invalid number → Telegram).
    let id = app
        .send(&json!({
            "channel": "sms", "to": "+15005550001", "content": {"text": "hi"},
            "retry": {"max_attempts": 1, "interval_secs": 1},
            "fallback": {"channel": "telegram", "to": "123456789", "content": {"text": "hi"}},
        }))
        .await;
    app.wait_for_status(&id, "failed", WITHIN).await;
    let mut child = None;
    for _ in 0..100 {
        let (_, n) = app.get_notification(&id).await;
        if let Some(c) = n["fallback_id"].as_str() {
            child = Some(c.to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let child = child.expect("a failed notification escalates");
    let telegram = app.wait_for_status(&child, "sent", WITHIN).await;
    assert_eq!(telegram["channel"], "telegram");
    app.record_history("fallback_after_failure", &id).await;

    // Validation: a fallback is checked like the notification itself.
    let (code, problem) = app
        .call(
            "POST",
            "/v1/notifications",
            Some(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "x"},
                         "fallback": {"channel": "email", "to": "nope", "content": {"subject": "s"}}})),
        )
        .await;
    assert_eq!(code, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"fallback.to") && fields.contains(&"fallback.content"),
        "{problem}"
    );
}
