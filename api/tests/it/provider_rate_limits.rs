//! Provider send rate limits: a burst to a rate-limited account queues (each send waits for
//! its slot on a durable timer) instead of failing, and the slots live in the database, so
//! the limit holds across every worker and process that shares it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use pombo_config::ProviderAccountConfig;
use pombo_contract::providers::SendRateLimit;
use pombo_fakes::{Fakes, Fault};
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, database, providers, spawn_app, spawn_app_with};

const WITHIN: Duration = Duration::from_secs(90);

/// The interval of an account limited to 2 sends a second.
const HALF_SECOND: Duration = Duration::from_millis(500);

fn sms(text: &str) -> Value {
    json!({"channel": "sms", "to": "+5511987654321", "content": {"text": text}})
}

/// The server-wide Twilio account of the fakes, as a tenant's account body.
fn twilio_account(app: &TestApp, rate_limit: Value) -> Value {
    let server = providers::on_fakes(&app.fakes);
    let twilio = server.iter().find(|a| a.name == "twilio").unwrap();
    json!({"name": "twilio-limited", "settings": serde_json::to_value(&twilio.settings).unwrap(),
           "rate_limit": rate_limit})
}

/// The last slot reserved for the account `key` (`send_slots` keeps the next free one,
/// an interval later), to compare the provider's arrivals with.
async fn last_slot(app: &TestApp, key: &str, interval: Duration) -> DateTime<Utc> {
    use sea_orm::{ConnectionTrait, Statement};

    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT next_at FROM send_slots WHERE key = '{key}'"),
        ))
        .await
        .unwrap()
        .expect("the account has reserved slots");
    let next_at: i64 = row.try_get("", "next_at").unwrap();
    DateTime::from_timestamp_micros(next_at).unwrap()
        - chrono::Duration::from_std(interval).unwrap()
}

/// Takes the account's slots until `ahead` from now (as a burst before this one would), so
/// that the next burst's slots are known: the first at or after the time returned, each an
/// interval after the one before.
async fn hold_slots(
    app: &TestApp,
    key: &str,
    interval: Duration,
    ahead: Duration,
) -> DateTime<Utc> {
    let until = Utc::now() + chrono::Duration::from_std(ahead).unwrap();
    let interval_ = chrono::Duration::from_std(interval).unwrap();
    pombo_store::send_slots::reserve(&app.db, key, interval, until - interval_)
        .await
        .unwrap();
    until
}

/// Slots are an interval apart, the first at or after `first`, and a send never leaves
/// before its slot: so the i-th arrival (in time order) is at least i intervals after
/// `first`, however late the timers fire. A send that skipped its slot or left before it,
/// or sends that went out together, come too early.
fn assert_each_waited_for_its_slot(
    arrivals: Vec<DateTime<Utc>>,
    first: DateTime<Utc>,
    interval: Duration,
) {
    let mut arrivals = arrivals;
    arrivals.sort();
    for (i, at) in arrivals.iter().enumerate() {
        let earliest = first + chrono::Duration::from_std(interval * i as u32).unwrap();
        assert!(
            *at >= earliest,
            "send {i} arrived {} ms after the first slot, before its own ({} ms): {arrivals:?}",
            (*at - first).num_milliseconds(),
            (earliest - first).num_milliseconds(),
        );
    }
}

/// Sends `count` SMS at once and waits until every one is sent.
async fn burst(app: &TestApp, count: usize) -> Vec<Value> {
    let ids = join_all((0..count).map(|i| async move {
        let body = sms(&format!("burst {i}"));
        app.send(&body).await
    }))
    .await;
    join_all(ids.iter().map(|id| app.wait_for_status(id, "sent", WITHIN))).await
}

/// A fresh app whose tenant has its own Twilio account limited to 2 sends a second.
async fn app_limited_to_two_per_second() -> (TestApp, Value) {
    let app = spawn_app().await;
    let (code, account) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&twilio_account(&app, json!({"per_second": 2}))),
        )
        .await;
    assert_eq!(code, 201, "{account}");
    (app, account)
}

/// Six sends at 2/s reached the provider, each no earlier than its slot allows. (Not the
/// span from the first arrival to the last: on a loaded machine the first timer can fire
/// late while the others fire on time, and that is no breach of the limit.)
fn assert_six_spread_at_two_per_second(app: &TestApp, what: &str, first: DateTime<Utc>) {
    let received = app.fakes.requests("twilio");
    assert_eq!(received.len(), 6, "{what}: each once");
    let arrivals: Vec<_> = received.iter().map(|r| r.at).collect();
    assert_each_waited_for_its_slot(arrivals, first, HALF_SECOND);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_to_a_rate_limited_account_queues_and_is_all_sent() {
    let (app, account) = app_limited_to_two_per_second().await;
    assert_eq!(account["rate_limit"], json!({"per_second": 2.0}));

    let key = account["id"].as_str().unwrap();
    let first = hold_slots(&app, key, HALF_SECOND, Duration::from_secs(3)).await;
    let sent = burst(&app, 6).await;
    for n in &sent {
        assert_eq!(n["provider"], "twilio-limited", "{n}");
        assert_eq!(n["attempts"], 1, "none failed: {n}");
    }
    assert_six_spread_at_two_per_second(&app, "sends", first);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_to_a_rate_limited_account_keeps_to_its_rate() {
    let (app, account) = app_limited_to_two_per_second().await;
    let key = account["id"].as_str().unwrap();

    // One chunk sends its recipients a group at a time, the group's calls at once: each
    // call must still wait for its own slot.
    let recipients: Vec<Value> = (0..6)
        .map(|i| json!({"to": format!("+55119876{i:05}")}))
        .collect();
    let first = hold_slots(&app, key, HALF_SECOND, Duration::from_secs(3)).await;
    let (code, batch) = app
        .call(
            "POST",
            "/v1/notifications/batch",
            Some(
                &json!({"channel": "sms", "content": {"text": "hello"}, "recipients": recipients}),
            ),
        )
        .await;
    assert_eq!(code, 202, "{batch}");
    let path = format!("/v1/batches/{}", batch["id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + WITHIN;
    let batch = loop {
        let (_, batch) = app.call("GET", &path, None).await;
        if batch["status"] == "completed" {
            break batch;
        }
        assert!(tokio::time::Instant::now() < deadline, "{batch}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(batch["counts"]["sent"], 6, "{batch}");
    assert_six_spread_at_two_per_second(&app, "batch sends", first);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_account_retries_through_its_slots() {
    let app = spawn_app().await;
    let (code, account) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&twilio_account(&app, json!({"per_second": 5}))),
        )
        .await;
    assert_eq!(code, 201, "{account}");

    // A refusal worth retrying: the workflow retries by the notification's rule, each
    // attempt with a slot of its own, numbered in the attempt log.
    app.fakes.fail_next("twilio", 1, Fault::status(503));
    let id = app
        .send(
            &json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "again"},
                      "retry": {"max_attempts": 3, "interval_secs": 1}}),
        )
        .await;
    let n = app.wait_for_status(&id, "sent", WITHIN).await;
    // The retry took a slot of its own, reserved after the refused attempt, and waited
    // for it (the first slot was at or before that attempt).
    let received: Vec<_> = app.fakes.requests("twilio").iter().map(|r| r.at).collect();
    assert_eq!(received.len(), 2);
    let last = last_slot(
        &app,
        account["id"].as_str().unwrap(),
        Duration::from_millis(200),
    )
    .await;
    assert!(
        received[0] < last && last <= received[1],
        "retry slot {last} against arrivals {received:?}"
    );
    let log: Vec<(i64, String)> = n["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64().unwrap(),
                a["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        log,
        [(1, "retryable_error".to_owned()), (2, "sent".to_owned())],
        "{n}"
    );
    app.record_history("rate_limited_retried_then_sent", &id)
        .await;

    // A permanent refusal (Twilio 21211, invalid number) is not retried.
    let id = app
        .send(
            &json!({"channel": "sms", "to": "+15005550001", "content": {"text": "no"},
                      "retry": {"max_attempts": 3, "interval_secs": 1}}),
        )
        .await;
    let n = app.wait_for_status(&id, "failed", WITHIN).await;
    assert_eq!(n["attempts"], 1, "{n}");
    assert_eq!(n["attempt_log"][0]["error_code"], "21211", "{n}");
    app.wait_for_workflow(&id, "ExecutionStatus = 'Failed'")
        .await;
}

fn limited_twilio(fakes: &Fakes) -> Vec<ProviderAccountConfig> {
    let mut accounts = providers::only(fakes, &["twilio"]);
    accounts[0].rate_limit = Some(SendRateLimit { per_second: 2.0 });
    accounts
}

/// Two API processes with their own workers, on one database and task queue (a scaled-out
/// deployment): a server-wide account's limit holds for both together.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_account_limit_holds_across_processes() {
    let first = spawn_app_with(AppOptions {
        providers: Some(limited_twilio),
        ..Default::default()
    })
    .await;
    let second = spawn_app_with(AppOptions {
        providers: Some(limited_twilio),
        database_url: Some(first.config.database_url.clone()),
        task_queue: Some(first.config.temporal.task_queue.clone()),
        ..Default::default()
    })
    .await;

    let first_slot = hold_slots(&first, "server:twilio", HALF_SECOND, Duration::from_secs(3)).await;
    let (a, b) = tokio::join!(burst(&first, 3), burst(&second, 3));
    for n in a.iter().chain(&b) {
        assert_eq!(n["attempts"], 1, "none failed: {n}");
    }
    // Each worker sends to its own app's fakes; together they received six, at 2/s.
    let received: Vec<_> = first
        .fakes
        .requests("twilio")
        .into_iter()
        .chain(second.fakes.requests("twilio"))
        .map(|r| r.at)
        .collect();
    assert_eq!(received.len(), 6);
    assert_each_waited_for_its_slot(received, first_slot, HALF_SECOND);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_checked_changed_and_removed() {
    let app = spawn_app().await;
    for (bad, field) in [
        (json!({"per_second": 0}), "rate_limit.per_second"),
        (json!({"per_second": -1}), "rate_limit.per_second"),
        (json!({"per_second": 1e9}), "rate_limit.per_second"),
        (json!({"per_second": "fast"}), "rate_limit.per_second"),
        (json!({"per_minute": 2}), "rate_limit"),
    ] {
        let (code, problem) = app
            .call(
                "POST",
                "/v1/providers",
                Some(&twilio_account(&app, bad.clone())),
            )
            .await;
        assert_eq!(code, 422, "{bad}: {problem}");
        let named = problem["errors"][0]["field"].as_str().unwrap_or_default();
        assert!(named.starts_with(field), "{bad}: {problem}");
    }
    let (_, list) = app.call("GET", "/v1/providers", None).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        0,
        "nothing stored: {list}"
    );

    let (code, account) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&twilio_account(&app, json!({"per_second": 0.5}))),
        )
        .await;
    assert_eq!(code, 201, "{account}");
    let path = format!("/v1/providers/{}", account["id"].as_str().unwrap());

    let (code, problem) = app
        .call(
            "PATCH",
            &path,
            Some(&json!({"rate_limit": {"per_second": 0}})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "rate_limit.per_second");

    // Other changes keep it; a new one replaces it; null removes it.
    let (code, account) = app
        .call("PATCH", &path, Some(&json!({"priority": 3})))
        .await;
    assert_eq!(code, 200, "{account}");
    assert_eq!(account["rate_limit"], json!({"per_second": 0.5}));
    let (_, account) = app
        .call(
            "PATCH",
            &path,
            Some(&json!({"rate_limit": {"per_second": 20}})),
        )
        .await;
    assert_eq!(account["rate_limit"], json!({"per_second": 20.0}));
    let (_, account) = app
        .call("PATCH", &path, Some(&json!({"rate_limit": null})))
        .await;
    assert!(account.get("rate_limit").is_none(), "{account}");
    let (_, account) = app.call("GET", &path, None).await;
    assert!(account.get("rate_limit").is_none(), "{account}");

    // Documented, with the scheduled sends' field.
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["SendRateLimit"]["properties"]["per_second"].is_object());
    assert!(schemas["CreateProvider"]["properties"]["rate_limit"].is_object());
    assert!(schemas["CreateNotification"]["properties"]["send_at"].is_object());
}

/// The reservation itself, on the test's database (SQLite or PostgreSQL): concurrent
/// reservations of one account get distinct slots exactly one interval apart; another
/// account is independent; an idle account earns no burst.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_reservations_get_distinct_evenly_spaced_slots() {
    use pombo_store::send_slots;

    let test_db = database::fresh_database().await;
    let db = pombo_store::open(&test_db.url).await.unwrap();
    let interval = Duration::from_millis(250);
    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();

    let mut slots = join_all((0..24).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { send_slots::reserve(&db, "acct", interval, now).await })
    }))
    .await
    .into_iter()
    .map(|r| r.unwrap().unwrap())
    .collect::<Vec<_>>();
    slots.sort();
    let expected: Vec<_> = (0..24)
        .map(|i| now + chrono::Duration::from_std(interval * i).unwrap())
        .collect();
    assert_eq!(slots, expected);

    let other = send_slots::reserve(&db, "server:other", interval, now)
        .await
        .unwrap();
    assert_eq!(other, now, "another account has its own slots");

    // Long after the queue drained: the slot is now, and the next one an interval later.
    let later = now + chrono::Duration::hours(1);
    let first = send_slots::reserve(&db, "acct", interval, later)
        .await
        .unwrap();
    let second = send_slots::reserve(&db, "acct", interval, later)
        .await
        .unwrap();
    assert_eq!(first, later);
    assert_eq!(
        second,
        later + chrono::Duration::from_std(interval).unwrap()
    );
}
