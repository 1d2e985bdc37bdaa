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
    assert_eq!(app.post_callback(WA_CALLBACKS, &delivered).await.0, 200);
    // Meta retries deliveries: the same report twice is kept once.
    assert_eq!(app.post_callback(WA_CALLBACKS, &delivered).await.0, 200);
    let read = whatsapp_cloud::status_webhook(
        Some(APP_SECRET),
        PHONE_NUMBER_ID,
        &[(&wamid, "read", 1_763_888_460, None)],
    );
    assert_eq!(app.post_callback(WA_CALLBACKS, &read).await.0, 200);

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
    assert_eq!(app.post_callback(WA_CALLBACKS, &failed).await.0, 200);
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
    let (code, problem) = app.post_callback(WA_CALLBACKS, &forged).await;
    assert_eq!(code, 401, "{problem}");
    let unsigned = whatsapp_cloud::status_webhook(None, PHONE_NUMBER_ID, &status);
    assert_eq!(app.post_callback(WA_CALLBACKS, &unsigned).await.0, 401);
    let mut tampered = whatsapp_cloud::status_webhook(Some(APP_SECRET), PHONE_NUMBER_ID, &status);
    tampered.body = tampered.body.replace("\"read\"", "\"failed\"");
    assert_eq!(app.post_callback(WA_CALLBACKS, &tampered).await.0, 401);
    let signed = whatsapp_cloud::status_webhook(Some(APP_SECRET), PHONE_NUMBER_ID, &status);
    assert_eq!(
        app.post_callback("/v1/callbacks/whatsapp_cloud/no-such-account", &signed)
            .await
            .0,
        404
    );
    assert_eq!(
        app.post_callback("/v1/callbacks/twilio/whatsapp-cloud", &signed)
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
    let (code, body) = app.post_callback(WA_CALLBACKS, &early).await;
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
    let twilio = crate::support::providers::fake_twilio(&app.fakes.base_url("twilio"));
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
    let (code, body) = app.post_callback(WA_CALLBACKS, &report).await;
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
        .map(|e| e.status.to_string())
        .collect();
    assert_eq!(kept, ["delivered", "read"]);
}

// ---- Authentication, accounts and tenants, caps and limits (security issue, item 2) ----

use pombo_contract::config::{CallbackRateLimitConfig, Secret};
use pombo_providers::*;
use pombo_store::{events, notifications, provider_accounts, tenants};
use uuid::Uuid;

/// An app without a worker (notifications are recorded as sent by hand), whose callback
/// limits no test of authentication reaches.
async fn quiet_app() -> TestApp {
    spawn_app_with(AppOptions {
        worker: false,
        callback_rate_limit: Some(CallbackRateLimitConfig {
            failure_burst: 10_000,
            failures_per_minute: 10_000,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
}

async fn keyring(app: &TestApp) -> pombo_store::sealed::Keyring {
    pombo_store::sealed::Keyring::from_config(&app.config.encryption)
        .unwrap()
        .unwrap()
}

async fn dev_tenant(app: &TestApp) -> Uuid {
    tenants::by_name(&app.db, pombo_api::DEV_TENANT)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A provider account of `tenant`, created in the store (an account may be saved without its
/// callback secret).
async fn tenant_account(
    app: &TestApp,
    tenant: Uuid,
    name: &str,
    settings: ProviderSettings,
) -> Uuid {
    provider_accounts::create(
        &app.db,
        Some(&keyring(app).await),
        tenant,
        provider_accounts::NewAccount {
            name: name.into(),
            priority: 0,
            enabled: true,
            settings,
            rate_limit: None,
        },
    )
    .await
    .unwrap()
    .id
}

/// A notification of `tenant` (sent with `key`), recorded as sent through the account
/// (`account`: a tenant account's id, `None` for the server-wide account `name`) as
/// `message_id`; the parked reports of that message are claimed as a send's record does.
async fn sent_through(
    app: &TestApp,
    key: &str,
    account: Option<Uuid>,
    name: &str,
    message_id: Option<&str>,
) -> Uuid {
    let response = app
        .http
        .post(app.url("/v1/notifications"))
        .bearer_auth(key)
        .json(&whatsapp_text())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id: Uuid = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let tenant_id = notifications::get(&app.db, id).await.unwrap().tenant_id;
    let sent = notifications::Sent {
        notification_id: id,
        tenant_id,
        attempt_id: Uuid::now_v7(),
        provider: name,
        provider_account_id: account,
        provider_message_id: message_id,
    };
    notifications::record_sent(&app.db, &[sent]).await.unwrap();
    events::claim_parked_all(&app.db, &[sent]).await.unwrap();
    id
}

async fn status_of(app: &TestApp, id: Uuid) -> String {
    notifications::get(&app.db, id)
        .await
        .unwrap()
        .status
        .to_string()
}

async fn parked_count(app: &TestApp) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    pombo_store::entities::parked_callback::Entity::find()
        .count(&app.db)
        .await
        .unwrap()
}

async fn post_to(app: &TestApp, url: &str, callback: &FakeCallback) -> (u16, Value) {
    let path = url.strip_prefix(&app.address).unwrap();
    app.post_callback(path, callback).await
}

/// One provider with delivery reports: its settings with or without the callback secret,
/// and a report built as the provider sends it (`key: None`: unsigned, or without the
/// secret in the URL), with the URL to post it to.
struct Case {
    kind: &'static str,
    setting: &'static str,
    secret: &'static str,
    settings: fn(Option<&str>) -> ProviderSettings,
    report: fn(Option<&str>, &str, &str) -> (String, FakeCallback),
    /// A report that fails the check although it carries a secret or signature.
    wrong: fn(&str, &str, &str) -> (String, FakeCallback),
    message_id: &'static str,
    after: &'static str,
}

fn at() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_763_888_400, 0).unwrap()
}

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const WAHA_ID: &str = "true_5511987654321@c.us_3EB0C767D26A1D8B5D4A";

fn cases() -> Vec<Case> {
    vec![
        Case {
            kind: "whatsapp_cloud",
            setting: "app_secret",
            secret: "wa-secret-value",
            settings: |s| {
                ProviderSettings::WhatsappCloud(WhatsappCloudSettings {
                    phone_number_id: PHONE_NUMBER_ID.into(),
                    access_token: Secret::new("EAAG-token"),
                    app_secret: s.map(Secret::new),
                    verify_token: None,
                    base_url: "http://127.0.0.1:9".into(),
                    api_version: default_graph_api_version(),
                })
            },
            report: |key, url, id| {
                let status = [(id, "delivered", 1_763_888_400, None)];
                (
                    url.into(),
                    whatsapp_cloud::status_webhook(key, PHONE_NUMBER_ID, &status),
                )
            },
            wrong: |_, url, id| {
                let status = [(id, "delivered", 1_763_888_400, None)];
                let cb = whatsapp_cloud::status_webhook(Some("not-it"), PHONE_NUMBER_ID, &status);
                (url.into(), cb)
            },
            message_id: "wamid.case-whatsapp",
            after: "delivered",
        },
        Case {
            kind: "instagram",
            setting: "app_secret",
            secret: "ig-secret-value",
            settings: |s| {
                ProviderSettings::Instagram(InstagramSettings {
                    account_id: "17841400000000001".into(),
                    access_token: Secret::new("IGQV-token"),
                    app_secret: s.map(Secret::new),
                    verify_token: None,
                    base_url: "http://127.0.0.1:9".into(),
                    api_version: default_graph_api_version(),
                })
            },
            report: |key, url, id| {
                let cb = pombo_fakes::instagram::read_webhook(
                    key,
                    "17841400000000001",
                    "1234567890",
                    id,
                    1_763_888_400_000,
                );
                (url.into(), cb)
            },
            wrong: |key, url, id| {
                let mut cb = pombo_fakes::instagram::read_webhook(
                    Some(key),
                    "17841400000000001",
                    "1234567890",
                    id,
                    1_763_888_400_000,
                );
                cb.body = cb.body.replace("1234567890", "1234567891");
                (url.into(), cb)
            },
            message_id: "mid.case-instagram",
            after: "read",
        },
        Case {
            kind: "sendgrid",
            setting: "webhook_public_key",
            secret: pombo_fakes::sendgrid::TEST_EVENT_WEBHOOK_PUBLIC_KEY_B64,
            settings: |s| {
                ProviderSettings::Sendgrid(SendgridSettings {
                    api_key: Secret::new("SG.test"),
                    from: "noreply@pombo.test".into(),
                    webhook_public_key: s.map(str::to_owned),
                    base_url: "http://127.0.0.1:9".into(),
                })
            },
            report: |key, url, id| {
                let events = [pombo_fakes::sendgrid::event(id, "delivered", 1_763_888_400)];
                let pem = key.map(|_| pombo_fakes::sendgrid::TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM);
                (
                    url.into(),
                    pombo_fakes::sendgrid::event_webhook(pem, &events),
                )
            },
            wrong: |_, url, id| {
                let events = [pombo_fakes::sendgrid::event(id, "delivered", 1_763_888_400)];
                let mut cb = pombo_fakes::sendgrid::event_webhook(
                    Some(pombo_fakes::sendgrid::TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM),
                    &events,
                );
                // Signed over another timestamp than the one sent.
                for (name, value) in &mut cb.headers {
                    if name == pombo_fakes::sendgrid::TIMESTAMP_HEADER {
                        *value = "1".into();
                    }
                }
                (url.into(), cb)
            },
            message_id: "CaseSendgridMessageId1",
            after: "delivered",
        },
        Case {
            kind: "mailgun",
            setting: "webhook_signing_key",
            secret: "mailgun-signing-key-value",
            settings: |s| {
                ProviderSettings::Mailgun(MailgunSettings {
                    api_key: Secret::new("key-test"),
                    domain: "mg.pombo.test".into(),
                    from: "noreply@mg.pombo.test".into(),
                    webhook_signing_key: s.map(Secret::new),
                    base_url: "http://127.0.0.1:9".into(),
                })
            },
            report: |key, url, id| {
                let mut cb =
                    pombo_fakes::mailgun::event_webhook(key.unwrap_or("x"), "delivered", id);
                if key.is_none() {
                    let mut body: Value = serde_json::from_str(&cb.body).unwrap();
                    body.as_object_mut().unwrap().remove("signature");
                    cb.body = body.to_string();
                }
                (url.into(), cb)
            },
            wrong: |_, url, id| {
                (
                    url.into(),
                    pombo_fakes::mailgun::event_webhook("not-it", "delivered", id),
                )
            },
            message_id: "case-mailgun@mg.pombo.test",
            after: "delivered",
        },
        Case {
            kind: "callbell",
            setting: "webhook_secret",
            secret: "callbell-secret-value",
            settings: |s| {
                ProviderSettings::Callbell(CallbellSettings {
                    api_token: Secret::new("callbell-token"),
                    channel_uuid: None,
                    webhook_secret: s.map(Secret::new),
                    base_url: "http://127.0.0.1:9".into(),
                })
            },
            report: |key, url, id| {
                let cb = pombo_fakes::callbell::status_callback(id, "delivered", at(), None);
                (pombo_fakes::callbell::webhook_url(url, key), cb)
            },
            wrong: |_, url, id| {
                let cb = pombo_fakes::callbell::status_callback(id, "delivered", at(), None);
                (pombo_fakes::callbell::webhook_url(url, Some("not-it")), cb)
            },
            message_id: "0e6b0a4c-case-callbell",
            after: "delivered",
        },
        Case {
            kind: "evolution",
            setting: "webhook_secret",
            secret: "evolution-secret-value",
            settings: |s| {
                ProviderSettings::Evolution(EvolutionSettings {
                    base_url: "http://127.0.0.1:9".into(),
                    instance: "pombo".into(),
                    api_key: Secret::new("evolution-key"),
                    webhook_secret: s.map(Secret::new),
                })
            },
            report: |key, url, id| {
                let cb = pombo_fakes::evolution::status_callback(
                    "pombo",
                    id,
                    "5511987654321",
                    "DELIVERY_ACK",
                    at(),
                );
                (pombo_fakes::evolution::webhook_url(url, key), cb)
            },
            wrong: |_, url, id| {
                let cb = pombo_fakes::evolution::status_callback(
                    "pombo",
                    id,
                    "5511987654321",
                    "DELIVERY_ACK",
                    at(),
                );
                (pombo_fakes::evolution::webhook_url(url, Some("not-it")), cb)
            },
            message_id: "3EB0CASEEVOLUTION",
            after: "delivered",
        },
        Case {
            kind: "waha",
            setting: "webhook_secret",
            secret: "waha-secret-value",
            settings: |s| {
                ProviderSettings::Waha(WahaSettings {
                    base_url: "http://127.0.0.1:9".into(),
                    session: "default".into(),
                    api_key: None,
                    webhook_secret: s.map(Secret::new),
                })
            },
            report: |key, url, id| {
                (
                    url.into(),
                    pombo_fakes::waha::ack_callback(key, "default", id, "DEVICE", at()),
                )
            },
            wrong: |_, url, id| {
                let cb =
                    pombo_fakes::waha::ack_callback(Some("not-it"), "default", id, "DEVICE", at());
                (url.into(), cb)
            },
            message_id: WAHA_ID,
            after: "delivered",
        },
        Case {
            kind: "twilio",
            setting: "auth_token",
            secret: "fedcba9876543210fedcba9876543210",
            settings: |s| {
                ProviderSettings::Twilio(TwilioSettings {
                    account_sid: TWILIO_SID.into(),
                    auth_token: Secret::new(s.unwrap_or("")),
                    from: Some("+15005550006".into()),
                    messaging_service_sid: None,
                    status_callback_url: None,
                    base_url: "http://127.0.0.1:9".into(),
                })
            },
            report: |key, url, id| {
                let mut cb = pombo_fakes::twilio::status_callback(
                    key.unwrap_or("x"),
                    url,
                    id,
                    TWILIO_SID,
                    "delivered",
                    None,
                );
                if key.is_none() {
                    cb.headers
                        .retain(|(name, _)| !name.eq_ignore_ascii_case("x-twilio-signature"));
                }
                (url.into(), cb)
            },
            wrong: |_, url, id| {
                let cb = pombo_fakes::twilio::status_callback(
                    "not-it",
                    url,
                    id,
                    TWILIO_SID,
                    "delivered",
                    None,
                );
                (url.into(), cb)
            },
            message_id: "SM0123456789abcdef0123456789case",
            after: "delivered",
        },
    ]
}

/// For every provider with delivery reports: an account without its callback secret refuses
/// every report (401 naming the setting), an account with it refuses unsigned and wrongly
/// signed reports (401 naming the check, never the secret), and nothing of a refused report
/// is recorded; a report signed as the provider signs it is applied.
#[tokio::test(flavor = "multi_thread")]
async fn every_provider_refuses_reports_without_a_secret_or_a_valid_signature() {
    let app = quiet_app().await;
    let tenant = dev_tenant(&app).await;
    for case in cases() {
        let kind = case.kind;
        // Saved without its secret: it could still send, but hears no reports.
        let open =
            tenant_account(&app, tenant, &format!("{kind}-open"), (case.settings)(None)).await;
        let open_url = app.url(&format!("/v1/callbacks/{kind}/{open}"));
        let open_name = format!("{kind}-open");
        let n = sent_through(
            &app,
            &app.api_key,
            Some(open),
            &open_name,
            Some(case.message_id),
        )
        .await;
        for key in [None, Some(case.secret)] {
            let (url, report) = (case.report)(key, &open_url, case.message_id);
            let (code, problem) = post_to(&app, &url, &report).await;
            assert_eq!(code, 401, "{kind}: {problem}");
            assert_eq!(
                problem["type"], "https://pombo.dev/problems/callback-secret-missing",
                "{kind}: {problem}"
            );
            let detail = problem["detail"].as_str().unwrap();
            assert_eq!(
                detail,
                format!(
                    "this {kind} account has no `{}`; delivery reports are refused until it is set",
                    case.setting
                ),
                "{kind}"
            );
        }
        assert_eq!(status_of(&app, n).await, "sent", "{kind}");

        let signed = tenant_account(
            &app,
            tenant,
            &format!("{kind}-signed"),
            (case.settings)(Some(case.secret)),
        )
        .await;
        let signed_url = app.url(&format!("/v1/callbacks/{kind}/{signed}"));
        let signed_name = format!("{kind}-signed");
        let n = sent_through(
            &app,
            &app.api_key,
            Some(signed),
            &signed_name,
            Some(case.message_id),
        )
        .await;
        for (what, (url, report)) in [
            (
                "unsigned",
                (case.report)(None, &signed_url, case.message_id),
            ),
            (
                "wrongly signed",
                (case.wrong)(case.secret, &signed_url, case.message_id),
            ),
        ] {
            let (code, problem) = post_to(&app, &url, &report).await;
            assert_eq!(code, 401, "{kind} {what}: {problem}");
            assert_eq!(
                problem["type"], "https://pombo.dev/problems/callback-signature",
                "{kind} {what}: {problem}"
            );
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.starts_with(&format!("the {kind} callback failed its check: ")),
                "{kind} {what}: {detail}"
            );
            assert!(!detail.contains("API key"), "{kind} {what}: {detail}");
            assert!(!detail.contains(case.secret), "{kind} {what}: {detail}");
        }
        assert_eq!(status_of(&app, n).await, "sent", "{kind}");
        assert_eq!(
            parked_count(&app).await,
            0,
            "{kind}: nothing refused is parked"
        );

        let (url, report) = (case.report)(Some(case.secret), &signed_url, case.message_id);
        let (code, body) = post_to(&app, &url, &report).await;
        assert_eq!(code, 200, "{kind}: {body}");
        assert_eq!(status_of(&app, n).await, case.after, "{kind}");
    }
    // Server-wide accounts follow the same rule.
    let (code, problem) = app
        .post_callback(
            "/v1/callbacks/waha/waha",
            &pombo_fakes::waha::ack_callback(None, "default", WAHA_ID, "DEVICE", at()),
        )
        .await;
    assert_eq!(code, 401, "{problem}");
    assert_eq!(
        problem["type"],
        "https://pombo.dev/problems/callback-signature"
    );
    let accounts = app.config.providers.clone();
    assert!(accounts.iter().any(|a| a.name == "waha"));
}

/// The Meta handshake needs the account's verify_token like any report its secret.
#[tokio::test(flavor = "multi_thread")]
async fn the_meta_handshake_without_a_verify_token_names_the_setting() {
    let app = quiet_app().await;
    let tenant = dev_tenant(&app).await;
    let settings = (cases()[0].settings)(Some("wa-secret-value"));
    let account = tenant_account(&app, tenant, "wa-no-verify-token", settings).await;
    let response = app
        .http
        .get(app.url(&format!(
            "/v1/callbacks/whatsapp_cloud/{account}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://pombo.dev/problems/callback-secret-missing"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("`verify_token`"),
        "{problem}"
    );
}

/// Tenant B, with its own API key, created as an operator would.
async fn second_tenant(app: &TestApp) -> (Uuid, String) {
    let tenant = tenants::create(&app.db, "tenant-b").await.unwrap();
    let key = format!("pombo_test_b_{}", Uuid::new_v4().simple());
    tenants::add_api_key(&app.db, tenant.id, &key, "test")
        .await
        .unwrap();
    (tenant.id, key)
}

fn wa_settings() -> ProviderSettings {
    (cases()[0].settings)(Some(APP_SECRET))
}

fn wa_report(id: &str, status: &str) -> FakeCallback {
    whatsapp_cloud::status_webhook(
        Some(APP_SECRET),
        PHONE_NUMBER_ID,
        &[(id, status, 1_763_888_400, None)],
    )
}

/// Account names are unique only within a tenant: a report through tenant A's account can
/// never change tenant B's notification sent through B's account of the same name, whether
/// B's send was recorded before the report or after it (parked), nor can a report through
/// a server-wide account of that name.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_through_one_tenants_account_never_reaches_another_tenants_notification() {
    let app = quiet_app().await;
    let tenant_a = dev_tenant(&app).await;
    let (tenant_b, key_b) = second_tenant(&app).await;
    let a = tenant_account(&app, tenant_a, "whatsapp-cloud", wa_settings()).await;
    let b = tenant_account(&app, tenant_b, "whatsapp-cloud", wa_settings()).await;
    let through_a = format!("/v1/callbacks/whatsapp_cloud/{a}");

    // B's send recorded first: A's report about its message id matches nothing (parked).
    let sent_b = sent_through(
        &app,
        &key_b,
        Some(b),
        "whatsapp-cloud",
        Some("wamid.shared-1"),
    )
    .await;
    let (code, body) = app
        .post_callback(&through_a, &wa_report("wamid.shared-1", "read"))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["matched_now"], 0, "{body}");
    // Nor through the server-wide account of the same name.
    let (code, body) = app
        .post_callback(WA_CALLBACKS, &wa_report("wamid.shared-1", "failed"))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["matched_now"], 0, "{body}");
    assert_eq!(status_of(&app, sent_b).await, "sent");

    // A's report parked first, then B records a send with that id: B does not get it.
    let (code, _) = app
        .post_callback(&through_a, &wa_report("wamid.shared-2", "read"))
        .await;
    assert_eq!(code, 200);
    let later_b = sent_through(
        &app,
        &key_b,
        Some(b),
        "whatsapp-cloud",
        Some("wamid.shared-2"),
    )
    .await;
    assert_eq!(status_of(&app, later_b).await, "sent");
    let n: Value = app
        .http
        .get(app.url(&format!("/v1/notifications/{later_b}")))
        .bearer_auth(&key_b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Recorded by hand here: no `sent` entry of the worker's, and none of A's report.
    assert_eq!(timeline(&n), [], "{n}");
    // A server-wide send of that id does not get it either.
    let server = sent_through(
        &app,
        &app.api_key,
        None,
        "whatsapp-cloud",
        Some("wamid.shared-2"),
    )
    .await;
    assert_eq!(status_of(&app, server).await, "sent");

    // A's own send of that id does: the report was kept for A.
    let own = sent_through(
        &app,
        &app.api_key,
        Some(a),
        "whatsapp-cloud",
        Some("wamid.shared-2"),
    )
    .await;
    assert_eq!(status_of(&app, own).await, "read");
}

/// Past the cap of parked reports for an account, reports about unknown ids are dropped,
/// still with a 200 (an error would only make the provider retry them).
#[tokio::test(flavor = "multi_thread")]
async fn parked_reports_are_capped_per_account() {
    use pombo_store::entities::parked_callback;
    use sea_orm::{EntityTrait, Set};

    let app = quiet_app().await;
    let cap = events::MAX_PARKED_PER_ACCOUNT;
    let event = serde_json::json!({"provider_message_id": "x", "status": "delivered",
        "occurred_at": null, "reason": null, "code": null, "raw_status": "delivered"});
    let rows: Vec<_> = (0..cap - 1)
        .map(|i| parked_callback::ActiveModel {
            id: Set(Uuid::now_v7()),
            provider: Set("whatsapp-cloud".into()),
            account_id: Set(None),
            tenant_id: Set(None),
            provider_message_id: Set(format!("wamid.filler-{i}")),
            event: Set(event.clone()),
            received_at: Set(chrono::Utc::now()),
        })
        .collect();
    for chunk in rows.chunks(1000) {
        parked_callback::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.db)
            .await
            .unwrap();
    }
    assert_eq!(parked_count(&app).await, cap - 1);
    let (code, _) = app
        .post_callback(WA_CALLBACKS, &wa_report("wamid.last-kept", "delivered"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(parked_count(&app).await, cap);
    let (code, body) = app
        .post_callback(WA_CALLBACKS, &wa_report("wamid.dropped", "delivered"))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(parked_count(&app).await, cap, "dropped, not parked");
    // Another account's reports are not held back by this one's.
    let tenant = dev_tenant(&app).await;
    let other = tenant_account(&app, tenant, "wa-other", wa_settings()).await;
    let (code, _) = app
        .post_callback(
            &format!("/v1/callbacks/whatsapp_cloud/{other}"),
            &wa_report("wamid.other", "delivered"),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(parked_count(&app).await, cap + 1);
}

/// A client address that keeps failing authentication is refused with 429 and Retry-After,
/// before any check, signed reports included, until a failure is allowed again.
#[tokio::test(flavor = "multi_thread")]
async fn repeated_failed_callback_authentications_are_rate_limited() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        callback_rate_limit: Some(CallbackRateLimitConfig {
            failures_per_minute: 1,
            failure_burst: 5,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let forged = whatsapp_cloud::status_webhook(
        Some("not-the-secret"),
        PHONE_NUMBER_ID,
        &[("wamid.x", "failed", 1_763_888_400, None)],
    );
    let mut codes = Vec::new();
    for _ in 0..7 {
        codes.push(app.post_callback(WA_CALLBACKS, &forged).await.0);
    }
    // The burst of five, and the failure that finds the bucket empty; then refused.
    assert_eq!(codes, [401, 401, 401, 401, 401, 401, 429]);
    let response = app
        .http
        .post(app.url(WA_CALLBACKS))
        .header("content-type", "application/json")
        .body(wa_report("wamid.x", "delivered").body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "https://pombo.dev/problems/rate-limited");
    let signed = wa_report("wamid.x", "delivered");
    assert_eq!(app.post_callback(WA_CALLBACKS, &signed).await.0, 429);
}

/// SendGrid echoes our notification id (`custom_args.pombo_notification_id`) in its events:
/// when the send captured no message id, the report matches by that id, but only a
/// notification the receiving account sent (so only its tenant's).
#[tokio::test(flavor = "multi_thread")]
async fn a_sendgrid_report_matches_by_our_notification_id_within_the_account() {
    let app = quiet_app().await;
    let tenant_a = dev_tenant(&app).await;
    let (tenant_b, key_b) = second_tenant(&app).await;
    let settings = (cases()[2].settings)(Some(
        pombo_fakes::sendgrid::TEST_EVENT_WEBHOOK_PUBLIC_KEY_B64,
    ));
    let a = tenant_account(&app, tenant_a, "sendgrid", settings.clone()).await;
    let b = tenant_account(&app, tenant_b, "sendgrid", settings).await;
    let mine = sent_through(&app, &app.api_key, Some(a), "sendgrid", None).await;
    let theirs = sent_through(&app, &key_b, Some(b), "sendgrid", None).await;

    let report = |id: Uuid| {
        let mut event =
            pombo_fakes::sendgrid::event("UnknownMessageId000001", "delivered", 1_763_888_400);
        event["pombo_notification_id"] = json!(id.to_string());
        pombo_fakes::sendgrid::event_webhook(
            Some(pombo_fakes::sendgrid::TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM),
            &[event],
        )
    };
    let through_a = format!("/v1/callbacks/sendgrid/{a}");
    let (code, body) = app.post_callback(&through_a, &report(mine)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["matched_now"], 1, "{body}");
    assert_eq!(status_of(&app, mine).await, "delivered");

    // B's notification id through A's account: nothing of B's changes.
    let (code, body) = app.post_callback(&through_a, &report(theirs)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["matched_now"], 0, "{body}");
    assert_eq!(status_of(&app, theirs).await, "sent");
}
