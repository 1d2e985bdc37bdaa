//! Every channel end to end through Temporal: POST → workflow → the provider fake gets
//! exactly one request → GET shows `sent` with the provider's message id. And failover:
//! a provider that keeps failing hands over to the next account.

use std::time::Duration;

use pombo_fakes::Fault;
use serde_json::{Value, json};

use crate::support::{AppOptions, providers, spawn_app, spawn_app_with};

const SENT_WITHIN: Duration = Duration::from_secs(60);

/// Sends `body`, waits for `sent`, and returns the notification and the one request the
/// fake of `provider` received.
async fn deliver(
    app: &crate::support::TestApp,
    provider: &str,
    body: Value,
) -> (Value, pombo_fakes::Recorded) {
    let id = app.send(&body).await;
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    // FCM's OAuth token exchange is not a message.
    let requests: Vec<_> = app
        .fakes
        .requests(provider)
        .into_iter()
        .filter(|r| r.path != "/token")
        .collect();
    assert_eq!(requests.len(), 1, "{provider} got {requests:#?}");
    (n, requests.into_iter().next().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn sms_goes_through_twilio_with_its_message_sid() {
    let app = spawn_app().await;
    let (n, request) = deliver(
        &app,
        "twilio",
        json!({"channel": "sms", "to": "+5511987654321",
               "content": {"text": "Code {{ code }}"}, "data": {"code": "4242"}}),
    )
    .await;
    assert_eq!(request.form_value("To").as_deref(), Some("+5511987654321"));
    assert_eq!(request.form_value("Body").as_deref(), Some("Code 4242"));
    let sid = n["provider_message_id"].as_str().unwrap();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{n}");
    assert_eq!(n["provider"], "twilio");
    assert_eq!(n["attempt_log"][0]["provider_type"], "twilio");
}

#[tokio::test(flavor = "multi_thread")]
async fn whatsapp_templates_go_through_the_cloud_api() {
    let app = spawn_app().await;
    let (n, request) = deliver(
        &app,
        "whatsapp_cloud",
        json!({"channel": "whatsapp", "to": "+5511987654321",
               "content": {"template": {"name": "order_shipped", "language": "pt_BR",
                                        "parameters": ["{{ name }}"]}},
               "data": {"name": "Ana"}}),
    )
    .await;
    let body = request.json();
    assert_eq!(body["to"], "5511987654321");
    assert_eq!(body["template"]["name"], "order_shipped");
    assert_eq!(
        body["template"]["components"][0]["parameters"][0]["text"],
        "Ana"
    );
    assert!(
        n["provider_message_id"]
            .as_str()
            .unwrap()
            .starts_with("wamid."),
        "{n}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_messages_reach_the_bot_api() {
    let app = spawn_app().await;
    let (n, request) = deliver(
        &app,
        "telegram",
        json!({"channel": "telegram", "to": "-1001234567890", "content": {"text": "Deploy done"}}),
    )
    .await;
    assert!(request.path.ends_with("/sendMessage"), "{}", request.path);
    assert_eq!(request.json()["text"], "Deploy done");
    assert!(
        n["provider_message_id"]
            .as_str()
            .unwrap()
            .starts_with("-1001234567890:"),
        "{n}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn push_goes_to_fcm_or_apns_by_the_shape_of_the_device_token() {
    let app = spawn_app().await;
    let fcm_token = format!("dQw4w9WgXcQ:APA91b{}", "Pombo_test-token".repeat(8));
    let (n, request) = deliver(
        &app,
        "fcm",
        json!({"channel": "push", "to": fcm_token,
               "content": {"title": "Hi {{ name }}", "body": "Your order shipped",
                           "data": {"order": "42"}},
               "data": {"name": "Ana"}}),
    )
    .await;
    assert_eq!(request.path, "/v1/projects/pombo-test/messages:send");
    let message = &request.json()["message"];
    assert_eq!(message["token"], fcm_token.as_str());
    assert_eq!(message["notification"]["title"], "Hi Ana");
    assert_eq!(message["data"]["order"], "42");
    assert_eq!(n["provider"], "fcm");
    assert!(
        n["provider_message_id"]
            .as_str()
            .unwrap()
            .starts_with("projects/pombo-test/messages/"),
        "{n}"
    );

    let apns_token = "a1".repeat(32);
    let (n, request) = deliver(
        &app,
        "apns",
        json!({"channel": "push", "to": apns_token,
               "content": {"title": "Hi", "body": "Your order shipped"}}),
    )
    .await;
    assert_eq!(request.path, format!("/3/device/{apns_token}"));
    assert_eq!(request.json()["aps"]["alert"]["body"], "Your order shipped");
    assert_eq!(n["provider"], "apns");
    assert_eq!(
        n["provider_message_id"], n["id"],
        "apns-id is the notification id"
    );
    assert_eq!(
        app.fakes.requests("fcm").len(),
        2,
        "token + one send, nothing more"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn instagram_messages_go_through_the_graph_api() {
    let app = spawn_app().await;
    let (n, request) = deliver(
        &app,
        "instagram",
        json!({"channel": "instagram", "to": "17841400000000777",
               "content": {"text": "Olá {{ name }}"}, "data": {"name": "Ana"}}),
    )
    .await;
    let body = request.json();
    assert_eq!(body["recipient"]["id"], "17841400000000777");
    assert_eq!(body["message"]["text"], "Olá Ana");
    assert!(
        n["provider_message_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{n}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_signed_and_verified_by_the_receiver() {
    let app = spawn_app().await;
    let url = format!("{}/receive", app.fakes.base_url("webhook"));
    let (n, request) = deliver(
        &app,
        "webhook",
        json!({"channel": "webhook", "to": url,
               "content": {"type": "order.shipped", "payload": {"order": "{{ order }}", "items": 3}},
               "data": {"order": "A-42"}}),
    )
    .await;
    // The fake answered 2xx only because the signature verified under its secret.
    let id = n["id"].as_str().unwrap();
    assert_eq!(
        request.header("webhook-id"),
        Some(format!("msg_{id}").as_str())
    );
    assert!(
        request
            .header("webhook-signature")
            .unwrap()
            .starts_with("v1,")
    );
    let body = request.json();
    assert_eq!(body["type"], "order.shipped");
    assert_eq!(body["data"], json!({"order": "A-42", "items": 3}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_provider_refusal_fails_at_once_with_the_provider_code() {
    let app = spawn_app_with(AppOptions {
        providers: Some(|fakes| providers::only(fakes, &["twilio"])),
        ..Default::default()
    })
    .await;
    // Twilio's magic test number for "invalid 'To' number".
    let id = app
        .send(
            &json!({"channel": "sms", "to": "+15005550001", "content": {"text": "hi"},
                      "retry": {"max_attempts": 3, "interval_secs": 1}}),
        )
        .await;
    let n = app.wait_for_status(&id, "failed", SENT_WITHIN).await;
    assert_eq!(
        app.fakes.requests("twilio").len(),
        1,
        "no retry of a permanent error"
    );
    let attempts = n["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{n}");
    assert_eq!(attempts[0]["outcome"], "permanent_error");
    assert_eq!(attempts[0]["error_code"], "21211");
    assert!(n["last_error"].as_str().unwrap().contains("21211"), "{n}");
    app.record_history("failed_permanently", &id).await;
}

/// The tenant's primary SMS account answers 503 until its retries are spent; the second
/// account sends. Every attempt is recorded with its provider.
#[tokio::test(flavor = "multi_thread")]
async fn failover_moves_to_the_next_account_when_retries_are_exhausted() {
    let app = spawn_app().await;
    // The tenant's own accounts replace the server-wide ones for the channel.
    let server = providers::on_fakes(&app.fakes);
    let settings = |name: &str| {
        let account = server.iter().find(|a| a.name == name).unwrap();
        serde_json::to_value(&account.settings).unwrap()
    };
    let twilio = json!({"name": "primary", "priority": 0, "settings": settings("twilio")});
    let vonage = json!({"name": "secondary", "priority": 1, "settings": settings("vonage")});
    for account in [&twilio, &vonage] {
        let (code, body) = app.call("POST", "/v1/providers", Some(account)).await;
        assert_eq!(code, 201, "{body}");
    }
    app.fakes.fail_next("twilio", 2, Fault::status(503));

    let id = app
        .send(
            &json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"},
                      "retry": {"max_attempts": 2, "interval_secs": 1}}),
        )
        .await;
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    assert_eq!(n["provider"], "secondary", "{n}");
    assert_eq!(app.fakes.requests("twilio").len(), 2);
    assert_eq!(app.fakes.requests("vonage").len(), 1);
    let log: Vec<(String, String)> = n["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap().to_owned(),
                a["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        log,
        [
            ("primary".to_owned(), "retryable_error".to_owned()),
            ("primary".to_owned(), "retryable_error".to_owned()),
            ("secondary".to_owned(), "sent".to_owned()),
        ]
    );
    assert_eq!(n["attempts"], 3);
    app.record_history("failed_over_to_second_account", &id)
        .await;
}

/// A permanent refusal by the first server-wide SMS account is not retried there (its retry
/// rule has attempts left) and the next account sends.
#[tokio::test(flavor = "multi_thread")]
async fn failover_moves_to_the_next_account_after_a_permanent_refusal() {
    let app = spawn_app_with(AppOptions {
        providers: Some(|fakes| providers::only(fakes, &["twilio", "vonage"])),
        ..Default::default()
    })
    .await;
    app.fakes.fail_next(
        "twilio",
        1,
        Fault {
            message: "Permission to send an SMS has not been enabled.".into(),
            ..Fault::status(400)
        },
    );
    let id = app
        .send(
            &json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"},
                      "retry": {"max_attempts": 3, "interval_secs": 1}}),
        )
        .await;
    // Until its workflow ends: a failure shows at once, not as a wait for `sent`.
    app.wait_for_workflow(&id, "ExecutionStatus != 'Running'")
        .await;
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(n["status"], "sent", "{n}");
    assert_eq!(n["provider"], "vonage", "{n}");
    assert_eq!(app.fakes.requests("twilio").len(), 1, "not retried");
    assert_eq!(app.fakes.requests("vonage").len(), 1);
    let log: Vec<(&str, &str)> = n["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap(),
                a["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        log,
        [("twilio", "permanent_error"), ("vonage", "sent")],
        "{n}"
    );
}

/// An account disabled after a notification was routed to it, while the notification waits
/// for its send slot, is skipped when the send comes: the next account sends.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_disabled_before_the_send_is_skipped() {
    let app = spawn_app().await;
    let server = providers::on_fakes(&app.fakes);
    let settings = |name: &str| {
        let account = server.iter().find(|a| a.name == name).unwrap();
        serde_json::to_value(&account.settings).unwrap()
    };
    let (code, primary) = app
        .call(
            "POST",
            "/v1/providers",
            Some(
                &json!({"name": "primary", "priority": 0, "settings": settings("twilio"),
                         "rate_limit": {"per_second": 1}}),
            ),
        )
        .await;
    assert_eq!(code, 201, "{primary}");
    let (code, body) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&json!({"name": "secondary", "priority": 1, "settings": settings("vonage")})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    // The primary's next slot is seconds away, so the send waits for it after routing.
    let primary_id = primary["id"].as_str().unwrap().to_owned();
    let ahead = chrono::Utc::now() + chrono::Duration::seconds(3);
    pombo_store::send_slots::reserve(&app.db, &primary_id, Duration::from_secs(1), ahead)
        .await
        .unwrap();

    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    app.wait_for_workflow(&id, "PomboStatus = 'sending'").await;
    let (code, body) = app
        .call(
            "PATCH",
            &format!("/v1/providers/{primary_id}"),
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(code, 200, "{body}");

    app.wait_for_workflow(&id, "ExecutionStatus != 'Running'")
        .await;
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(
        (&n["status"], &n["provider"]),
        (&json!("sent"), &json!("secondary")),
        "{n}"
    );
    assert!(
        app.fakes.requests("twilio").is_empty(),
        "the disabled account sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_without_any_provider_fails_with_a_clear_reason() {
    let app = spawn_app_with(AppOptions {
        providers: Some(|_| Vec::new()),
        ..Default::default()
    })
    .await;
    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    let n = app.wait_for_status(&id, "failed", SENT_WITHIN).await;
    assert!(
        n["last_error"]
            .as_str()
            .unwrap()
            .contains("no provider account"),
        "{n}"
    );
}

/// Accounts are tried by `priority`, not by when they were made: the account made last
/// with the lowest priority sends.
#[tokio::test(flavor = "multi_thread")]
async fn accounts_are_tried_by_priority_not_by_creation_order() {
    let app = spawn_app().await;
    let server = providers::on_fakes(&app.fakes);
    let settings = |name: &str| {
        let account = server.iter().find(|a| a.name == name).unwrap();
        serde_json::to_value(&account.settings).unwrap()
    };
    // Made first, tried second.
    let vonage = json!({"name": "made-first", "priority": 5, "settings": settings("vonage")});
    let twilio = json!({"name": "made-second", "priority": 0, "settings": settings("twilio")});
    for account in [&vonage, &twilio] {
        let (code, body) = app.call("POST", "/v1/providers", Some(account)).await;
        assert_eq!(code, 201, "{body}");
    }
    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    assert_eq!(n["provider"], "made-second", "{n}");
    assert_eq!(app.fakes.requests("twilio").len(), 1);
    assert_eq!(app.fakes.requests("vonage").len(), 0);
}

/// A provider's `Retry-After` sets the wait before the next attempt, end to end through
/// Temporal's next-retry delay: the request's own interval (1 s) is not used for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_providers_retry_after_sets_the_wait_before_the_next_attempt() {
    let app = spawn_app_with(AppOptions {
        providers: Some(|fakes| providers::only(fakes, &["twilio"])),
        ..Default::default()
    })
    .await;
    app.fakes.fail_next(
        "twilio",
        1,
        Fault {
            retry_after_secs: Some(4),
            ..Fault::status(429)
        },
    );
    let id = app
        .send(
            &json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"},
                      "retry": {"max_attempts": 3, "interval_secs": 1}}),
        )
        .await;
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    let attempts = n["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{n}");
    assert_eq!(attempts[0]["outcome"], "retryable_error", "{n}");
    let time = |a: &Value, field: &str| {
        chrono::DateTime::parse_from_rfc3339(a[field].as_str().unwrap()).unwrap()
    };
    let waited = time(&attempts[1], "started_at") - time(&attempts[0], "finished_at");
    assert!(
        waited >= chrono::Duration::milliseconds(3500),
        "the next attempt came {waited} after a 429 asking for 4 s: {n}"
    );
}
