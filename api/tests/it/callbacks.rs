//! Provider callbacks end to end: signed reports from the providers' fakes reach the
//! notification (timeline, timestamps, status) and its workflow; forged ones change
//! nothing; one that outruns the send's own record is kept and applied later.

use std::time::Duration;

use pombo_fakes::{FakeCallback, whatsapp_cloud};
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, spawn_app_with, timeline};

const WITHIN: Duration = Duration::from_secs(60);
const APP_SECRET: &str = "pombo-test-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";
const WA_CALLBACKS: &str = "/v1/callbacks/whatsapp_cloud/whatsapp-cloud";

async fn post(app: &TestApp, path: &str, callback: &FakeCallback) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url(path))
        .header("content-type", &callback.content_type)
        .body(callback.body.clone());
    for (name, value) in &callback.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn whatsapp_text() -> Value {
    json!({"channel": "whatsapp", "to": "+5511987654321", "content": {"text": "Olá"}})
}

async fn app() -> TestApp {
    spawn_app_with(AppOptions {
        confirmation_timeout_secs: 120,
        ..Default::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn whatsapp_delivery_and_read_reports_reach_the_notification_and_its_workflow() {
    let app = app().await;
    let id = app.send(&whatsapp_text()).await;
    let n = app.wait_for_status(&id, "sent", WITHIN).await;
    let wamid = n["provider_message_id"].as_str().unwrap().to_owned();

    let delivered = whatsapp_cloud::status_webhook(
        Some(APP_SECRET),
        PHONE_NUMBER_ID,
        &[(&wamid, "delivered", 1_763_888_400, None)],
    );
    assert_eq!(post(&app, WA_CALLBACKS, &delivered).await.0, 200);
    // Meta retries deliveries: the same report twice is kept once.
    assert_eq!(post(&app, WA_CALLBACKS, &delivered).await.0, 200);
    let read = whatsapp_cloud::status_webhook(
        Some(APP_SECRET),
        PHONE_NUMBER_ID,
        &[(&wamid, "read", 1_763_888_460, None)],
    );
    assert_eq!(post(&app, WA_CALLBACKS, &read).await.0, 200);

    let (_, n) = app.get_notification(&id).await;
    assert_eq!(n["status"], "read", "{n}");
    assert_eq!(n["timestamps"]["delivered"], "2025-11-23T09:00:00Z");
    assert_eq!(n["timestamps"]["read"], "2025-11-23T09:01:00Z");
    let source = "provider:whatsapp-cloud".to_owned();
    assert_eq!(
        timeline(&n),
        [
            ("sent".to_owned(), "worker".to_owned()),
            ("delivered".to_owned(), source.clone()),
            ("read".to_owned(), source),
        ]
    );
    app.wait_for_workflow(
        &id,
        "PomboStatus = 'read' AND ExecutionStatus = 'Completed'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_reports_carry_the_provider_reason_and_code() {
    let app = app().await;
    let id = app.send(&whatsapp_text()).await;
    let n = app.wait_for_status(&id, "sent", WITHIN).await;
    let wamid = n["provider_message_id"].as_str().unwrap().to_owned();
    let failed = whatsapp_cloud::status_webhook(
        Some(APP_SECRET),
        PHONE_NUMBER_ID,
        &[(
            &wamid,
            "failed",
            1_763_888_400,
            Some((131026, "Message undeliverable")),
        )],
    );
    assert_eq!(post(&app, WA_CALLBACKS, &failed).await.0, 200);
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(n["status"], "failed");
    let last = n["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["code"], "131026");
    assert!(
        last["reason"].as_str().unwrap().contains("undeliverable"),
        "{last}"
    );
    assert!(
        n["last_error"].as_str().unwrap().contains("undeliverable"),
        "{n}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_unsigned_and_unknown_account_callbacks_change_nothing() {
    let app = app().await;
    let id = app.send(&whatsapp_text()).await;
    let n = app.wait_for_status(&id, "sent", WITHIN).await;
    let wamid = n["provider_message_id"].as_str().unwrap().to_owned();
    let status = [(wamid.as_str(), "read", 1_763_888_400, None)];

    let forged = whatsapp_cloud::status_webhook(Some("not-the-secret"), PHONE_NUMBER_ID, &status);
    let (code, problem) = post(&app, WA_CALLBACKS, &forged).await;
    assert_eq!(code, 401, "{problem}");
    let unsigned = whatsapp_cloud::status_webhook(None, PHONE_NUMBER_ID, &status);
    assert_eq!(post(&app, WA_CALLBACKS, &unsigned).await.0, 401);
    let mut tampered = whatsapp_cloud::status_webhook(Some(APP_SECRET), PHONE_NUMBER_ID, &status);
    tampered.body = tampered.body.replace("\"read\"", "\"failed\"");
    assert_eq!(post(&app, WA_CALLBACKS, &tampered).await.0, 401);
    let signed = whatsapp_cloud::status_webhook(Some(APP_SECRET), PHONE_NUMBER_ID, &status);
    assert_eq!(
        post(
            &app,
            "/v1/callbacks/whatsapp_cloud/no-such-account",
            &signed
        )
        .await
        .0,
        404
    );
    assert_eq!(
        post(&app, "/v1/callbacks/twilio/whatsapp-cloud", &signed)
            .await
            .0,
        404
    );

    let (_, n) = app.get_notification(&id).await;
    assert_eq!(n["status"], "sent");
    assert_eq!(timeline(&n), [("sent".to_owned(), "worker".to_owned())]);
}

/// Providers can call back before our send activity has recorded their message id. The
/// report is kept and applied when the send is recorded; the caller cannot tell an
/// unknown id from a known one.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_that_outruns_the_send_is_applied_once_the_send_is_recorded() {
    let app = app().await;
    // The fake's wamid for its first message to this number.
    let wamid = whatsapp_cloud::wamid("5511987654321", 1);
    let early = whatsapp_cloud::status_webhook(
        Some(APP_SECRET),
        PHONE_NUMBER_ID,
        &[(&wamid, "delivered", 1_763_888_400, None)],
    );
    let (code, body) = post(&app, WA_CALLBACKS, &early).await;
    assert_eq!(code, 200, "{body}");

    let id = app.send(&whatsapp_text()).await;
    let n = app.wait_for_status(&id, "delivered", WITHIN).await;
    assert_eq!(n["provider_message_id"], wamid.as_str());
    assert_eq!(
        timeline(&n),
        [
            ("sent".to_owned(), "worker".to_owned()),
            ("delivered".to_owned(), "provider:whatsapp-cloud".to_owned()),
        ]
    );
    app.wait_for_workflow(&id, "PomboStatus = 'delivered'")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn meta_webhook_handshake_echoes_the_challenge_for_the_right_token() {
    let app = app().await;
    let get = |token: &str| {
        app.http
            .get(app.url(&format!(
                "{WA_CALLBACKS}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
            )))
            .send()
    };
    let ok = get("pombo-test-verify-token").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(get("wrong").await.unwrap().status(), 401);
}

/// Twilio calls back on its own, signed with the account's auth token, at the
/// `StatusCallback` URL the account gives.
#[tokio::test(flavor = "multi_thread")]
async fn twilio_status_callbacks_move_an_sms_to_delivered() {
    let app = app().await;
    let twilio = pombo_fakes::accounts::twilio(&app.fakes.base_url("twilio"));
    let (code, account) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&json!({"name": "twilio-own", "settings": twilio})),
        )
        .await;
    assert_eq!(code, 201, "{account}");
    let account_id = account["id"].as_str().unwrap();
    let callback_url = app.url(&format!("/v1/callbacks/twilio/{account_id}"));
    let (code, _) = app
        .call(
            "PATCH",
            &format!("/v1/providers/{account_id}"),
            Some(&json!({"settings": {"status_callback_url": callback_url}})),
        )
        .await;
    assert_eq!(code, 200);

    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    let n = app.wait_for_status(&id, "delivered", WITHIN).await;
    assert_eq!(n["provider"], "twilio-own");
    let sources: Vec<String> = timeline(&n).into_iter().map(|(_, s)| s).collect();
    assert!(sources.contains(&"provider:twilio-own".to_owned()), "{n}");

    // The fake's own undeliverable number reports `undelivered` with error 30003.
    let id = app
        .send(
            &json!({"channel": "sms", "to": pombo_fakes::twilio::UNDELIVERED_TO,
                      "content": {"text": "hi"}}),
        )
        .await;
    let n = app.wait_for_status(&id, "failed", WITHIN).await;
    let last = n["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["code"], "30003", "{n}");
}

/// The same for a batch, whose group of recipients is recorded as sent together: the early
/// report reaches its own recipient, and only that one.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_that_outruns_a_batch_send_is_applied_to_its_own_recipient() {
    let app = app().await;
    let numbers: Vec<String> = (0..6).map(|i| format!("55119876543{i:02}")).collect();
    // The fake numbers its answers across recipients, and a group's calls run at once: a
    // report for each place the fourth recipient's message may take. Only the one matching
    // the id it gets is applied; the others stay parked.
    let early: Vec<String> = (1..=numbers.len())
        .map(|n| whatsapp_cloud::wamid(&numbers[3], n))
        .collect();
    let statuses: Vec<_> = early
        .iter()
        .map(|wamid| (wamid.as_str(), "delivered", 1_763_888_400, None))
        .collect();
    let report = whatsapp_cloud::status_webhook(Some(APP_SECRET), PHONE_NUMBER_ID, &statuses);
    let (code, body) = post(&app, WA_CALLBACKS, &report).await;
    assert_eq!(code, 200, "{body}");

    let recipients: Vec<Value> = numbers
        .iter()
        .map(|n| json!({"to": format!("+{n}")}))
        .collect();
    let batch =
        json!({"channel": "whatsapp", "content": {"text": "Olá"}, "recipients": recipients});
    let (code, accepted) = app
        .call("POST", "/v1/notifications/batch", Some(&batch))
        .await;
    assert_eq!(code, 202, "{accepted}");
    let (code, page) = app
        .call(
            "GET",
            &format!(
                "/v1/batches/{}/notifications?limit=10",
                accepted["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(code, 200, "{page}");
    let members: Vec<(String, String)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let to = m["to"].as_str().unwrap().trim_start_matches('+');
            (m["id"].as_str().unwrap().to_owned(), to.to_owned())
        })
        .collect();
    assert_eq!(members.len(), numbers.len(), "{page}");
    let mut sent = Vec::new();
    for (id, to) in &members {
        let expected = if *to == numbers[3] {
            "delivered"
        } else {
            "sent"
        };
        sent.push(app.wait_for_status(id, expected, WITHIN).await);
    }

    // The message id each recipient's request was answered with.
    let answered: std::collections::HashMap<String, String> = app
        .fakes
        .requests("whatsapp_cloud")
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let to = r.json()["to"]
                .as_str()
                .unwrap()
                .trim_start_matches('+')
                .to_owned();
            let wamid = whatsapp_cloud::wamid(&to, i + 1);
            (to, wamid)
        })
        .collect();
    assert_eq!(answered.len(), numbers.len(), "one message each");
    for ((_, to), n) in members.iter().zip(&sent) {
        assert_eq!(n["provider_message_id"], answered[to].as_str(), "{n}");
        let mut steps = vec![("sent".to_owned(), "worker".to_owned())];
        if *to == numbers[3] {
            steps.push(("delivered".to_owned(), "provider:whatsapp-cloud".to_owned()));
        }
        assert_eq!(timeline(n), steps, "{n}");
    }
}

/// A repeat of a timeline entry is skipped by the database rather than raised: on PostgreSQL
/// an error would end the transaction it happened in (a batch group's record, the claim of
/// a parked report), and what that transaction had written with it.
#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_report_inside_a_transaction_is_skipped_and_the_rest_commits() {
    use pombo_contract::NotificationStatus;
    use pombo_store::events::{self, NewEvent};
    use sea_orm::TransactionTrait;

    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let id: uuid::Uuid = app.send(&whatsapp_text()).await.parse().unwrap();
    let delivered = NewEvent {
        provider_message_id: Some("wamid.repeated".into()),
        ..NewEvent::new(
            NotificationStatus::Delivered,
            "provider:whatsapp-cloud",
            "delivered",
        )
    };
    let read = NewEvent {
        provider_message_id: Some("wamid.repeated".into()),
        ..NewEvent::new(NotificationStatus::Read, "provider:whatsapp-cloud", "read")
    };

    let tx = app.db.begin().await.unwrap();
    assert!(events::insert(&tx, id, &delivered).await.unwrap());
    assert!(!events::insert(&tx, id, &delivered).await.unwrap());
    let new = events::insert_all(&tx, &[(id, delivered.clone()), (id, read.clone())])
        .await
        .unwrap();
    assert_eq!(new, 1, "only `read` is new");
    tx.commit().await.unwrap();

    let kept: Vec<String> = events::list(&app.db, id, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(kept, ["delivered", "read"]);
}
