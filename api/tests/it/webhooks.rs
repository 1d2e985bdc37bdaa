//! Webhook subscriptions end to end: a tenant's endpoint on loopback (allowed as a private
//! target, like a receiver inside the tenant's network would be) receives the tenant's
//! events, each verified with the Standard Webhooks reference implementation
//! (`standardwebhooks`), not Pombo's own signing code. Retries follow the (scaled-down)
//! schedule and stop on success; `Retry-After` stretches a wait; an ordered endpoint gets
//! its events in log order behind a failing head; a rotated secret signs beside the new one;
//! a failing endpoint is disabled with an `endpoint.disabled` event; recover sends exactly the
//! failed ones again; a worker killed mid-delivery loses none; tenants see only their own.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use serde_json::{Value, json};

use crate::support::{
    AppOptions, TestApp, WorkerProcess, email_request, expect, problem_fields, spawn_app_with,
    unique_email,
};

/// What the receiver answers one request: a status, a `Retry-After`, after a delay.
#[derive(Clone, Copy)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    delay: Duration,
}

const OK: Answer = Answer {
    status: 200,
    retry_after: None,
    delay: Duration::ZERO,
};

fn status(status: u16) -> Answer {
    Answer { status, ..OK }
}

/// Decides the answer from the body and how many times this `webhook-id` came before.
type Script = Arc<dyn Fn(&Value, usize) -> Answer + Send + Sync>;

#[derive(Clone)]
struct Received {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }

    fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap().to_owned()
    }

    /// Checked with the Standard Webhooks reference implementation.
    fn verifies_with(&self, secret: &str) -> bool {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &self.headers)
            .is_ok()
    }
}

/// A tenant's receiver on loopback: records every request, answers by its script.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Mutex<Script>> = Arc::new(Mutex::new(Arc::new(|_, _| OK)));
        let (recorded, scripted) = (got.clone(), script.clone());
        let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let (recorded, scripted) = (recorded.clone(), scripted.clone());
            async move {
                let received = Received {
                    at: Instant::now(),
                    headers,
                    body,
                };
                let id = received.id();
                let seen = {
                    let mut all = recorded.lock().unwrap();
                    let seen = all.iter().filter(|r| r.id() == id).count();
                    all.push(received.clone());
                    seen
                };
                let script = scripted.lock().unwrap().clone();
                let answer = script(&received.json(), seen);
                tokio::time::sleep(answer.delay).await;
                let mut response =
                    (StatusCode::from_u16(answer.status).unwrap(), "answer").into_response();
                if let Some(secs) = answer.retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", secs.to_string().parse().unwrap());
                }
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, got, script }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn answer(&self, script: impl Fn(&Value, usize) -> Answer + Send + Sync + 'static) {
        *self.script.lock().unwrap() = Arc::new(script);
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what came, or fails naming what came.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.got();
            if done(&got) {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{what}: the receiver got {:?}",
                got.iter().map(|r| (r.id(), r.kind())).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn app_for(receivers: &[&Receiver], tune: impl FnOnce(&mut AppOptions)) -> TestApp {
    let mut options = AppOptions {
        allowed_private_targets: receivers.iter().map(|r| r.addr.to_string()).collect(),
        ..Default::default()
    };
    tune(&mut options);
    spawn_app_with(options).await
}

/// The endpoint's view once its health satisfies `done` (waits up to 30 s).
async fn health_until(app: &TestApp, endpoint_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/v1/webhook-endpoints/{endpoint_id}");
    let start = Instant::now();
    loop {
        let shown = expect(app, "GET", &path, None, 200).await;
        if done(&shown["health"]) {
            return shown;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{shown}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new endpoint: its id and secret.
async fn endpoint(app: &TestApp, body: Value) -> (String, String) {
    let created = expect(app, "POST", "/v1/webhook-endpoints", Some(body), 201).await;
    (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// Records the delivery's workflow as the replay fixture `webhook_delivery/<case>.json`
/// when `POMBO_RECORD_HISTORIES` asks for it.
async fn record_history(app: &TestApp, case: &str, delivery_id: &Value) {
    let id = delivery_id.as_str().unwrap().parse().unwrap();
    let workflow_id = pombo_contract::webhooks::workflow_id(id);
    crate::support::histories::record(&app.config, "webhook_delivery", case, &workflow_id).await;
}

const ACCEPTED_AND_SENT: [&str; 2] = ["notification.accepted", "notification.sent"];

#[tokio::test(flavor = "multi_thread")]
async fn events_reach_an_endpoint_signed_and_verified_by_the_reference_implementation() {
    let receiver = Receiver::start().await;
    let app = app_for(&[&receiver], |_| {}).await;
    let (endpoint_id, secret) = endpoint(
        &app,
        json!({"url": receiver.url(), "description": "orders", "event_types": ACCEPTED_AND_SENT}),
    )
    .await;
    let notification = app.send(&email_request(&unique_email("wh"))).await;

    let got = receiver
        .wait_for("accepted and sent", |got| got.len() >= 2)
        .await;
    // An unordered endpoint gets its events side by side: in any order.
    let mut got = got;
    got.sort_by_key(|r| {
        r.json()["id"].as_str().unwrap()[4..]
            .parse::<i64>()
            .unwrap()
    });
    let kinds: Vec<String> = got.iter().map(Received::kind).collect();
    assert_eq!(kinds, ACCEPTED_AND_SENT, "these and nothing else");
    for r in &got {
        assert!(r.verifies_with(&secret), "signature of {}", r.id());
        let body = r.json();
        assert_eq!(body["id"], r.id(), "the body's id is the webhook-id");
        assert_eq!(body["data"]["notification_id"], notification.as_str());
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(!r.verifies_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    }
    // The receiver has the POSTs before the worker has recorded them (an attempt is
    // recorded after its answer): wait for both records.
    health_until(&app, &endpoint_id, |h| h["succeeded"] == 2).await;
    // The event's id is the log's: listed there and in its attempts.
    let log = expect(&app, "GET", "/v1/events?types=notification.sent", None, 200).await;
    let sent_id = log["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(sent_id, got[1].id());
    let attempts = expect(
        &app,
        "GET",
        &format!("/v1/events/{sent_id}/attempts"),
        None,
        200,
    )
    .await;
    let attempt = &attempts["data"][0];
    assert_eq!(attempt["endpoint_id"], endpoint_id.as_str());
    assert_eq!(attempt["status_code"], 200);
    assert_eq!(attempt["succeeded"], true);
    assert_eq!(attempt["response"], "answer");

    let path = format!("/v1/webhook-endpoints/{endpoint_id}");
    let shown = expect(&app, "GET", &path, None, 200).await;
    assert_eq!(shown["health"]["succeeded"], 2, "{shown}");
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown on creation only"
    );
    let kept = expect(&app, "GET", &format!("{path}/secret"), None, 200).await;
    assert_eq!(kept["secret"], secret.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_retried_on_the_schedule_until_one_succeeds() {
    let receiver = Receiver::start().await;
    // Two 500s, then a 200: three attempts, the retries a scheduled second apart (±20%).
    receiver.answer(|_, seen| if seen < 2 { status(500) } else { OK });
    let app = app_for(&[&receiver], |o| {
        o.webhooks = Some(pombo_contract::config::WebhooksConfig {
            retry_schedule_secs: vec![1, 1, 1, 1, 1],
            attempt_timeout_secs: 5,
            ..Default::default()
        })
    })
    .await;
    let (endpoint_id, secret) = endpoint(
        &app,
        json!({"url": receiver.url(), "event_types": ["notification.accepted"]}),
    )
    .await;
    app.send(&email_request(&unique_email("wh"))).await;
    let got = receiver.wait_for("three attempts", |g| g.len() >= 3).await;
    for pair in got.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(750), "retried after {gap:?}");
        assert_eq!(pair[0].id(), pair[1].id(), "one webhook-id across retries");
        assert_eq!(pair[0].body, pair[1].body, "the same body");
    }
    assert!(got.iter().all(|r| r.verifies_with(&secret)));
    // Success ends it: no fourth attempt after a schedule step.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.got().len(), 3);
    let attempts = expect(
        &app,
        "GET",
        &format!("/v1/webhook-endpoints/{endpoint_id}/attempts"),
        None,
        200,
    )
    .await;
    let codes: Vec<i64> = attempts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [200, 500, 500], "newest first");
    let failed = expect(
        &app,
        "GET",
        &format!("/v1/webhook-endpoints/{endpoint_id}/attempts?status=failed"),
        None,
        200,
    )
    .await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 2);
    record_history(
        &app,
        "first_attempt_by_the_worker_then_delivered",
        &attempts["data"][0]["delivery_id"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receivers_retry_after_is_honoured() {
    let receiver = Receiver::start().await;
    receiver.answer(|_, seen| {
        if seen == 0 {
            Answer {
                status: 429,
                retry_after: Some(3),
                ..OK
            }
        } else {
            OK
        }
    });
    let app = app_for(&[&receiver], |o| {
        o.webhooks = Some(pombo_contract::config::WebhooksConfig {
            // The step is 2 s (±20%); Retry-After asks 3, within [step, 2 × step].
            retry_schedule_secs: vec![2],
            attempt_timeout_secs: 5,
            ..Default::default()
        })
    })
    .await;
    endpoint(
        &app,
        json!({"url": receiver.url(), "event_types": ["notification.accepted"]}),
    )
    .await;
    app.send(&email_request(&unique_email("wh"))).await;
    let got = receiver.wait_for("the retry", |g| g.len() >= 2).await;
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(2900),
        "waited {gap:?}, not 3 s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ordered_endpoint_gets_events_in_log_order_behind_a_failing_head() {
    let receiver = Receiver::start().await;
    // The first event fails twice: the others wait for it.
    receiver.answer(|body, seen| {
        let first = body["type"] == "notification.accepted";
        if first && seen < 2 { status(503) } else { OK }
    });
    let app = app_for(&[&receiver], |_| {}).await;
    endpoint(
        &app,
        json!({"url": receiver.url(), "ordered": true, "event_types": ACCEPTED_AND_SENT}),
    )
    .await;
    app.send(&email_request(&unique_email("wh"))).await;
    let got = receiver.wait_for("all four", |g| g.len() >= 4).await;
    let kinds: Vec<String> = got.iter().map(Received::kind).collect();
    assert_eq!(
        kinds,
        [
            "notification.accepted",
            "notification.accepted",
            "notification.accepted",
            "notification.sent"
        ],
        "the sent event waited for the accepted one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ordered_endpoints_failed_head_lets_the_next_go_once_its_retries_are_spent() {
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| status(500));
    let app = app_for(&[&receiver], |o| {
        o.webhooks = Some(pombo_contract::config::WebhooksConfig {
            retry_schedule_secs: vec![1],
            attempt_timeout_secs: 5,
            ..Default::default()
        })
    })
    .await;
    let (endpoint_id, _) = endpoint(
        &app,
        json!({"url": receiver.url(), "ordered": true, "event_types": ACCEPTED_AND_SENT}),
    )
    .await;
    app.send(&email_request(&unique_email("wh"))).await;
    let got = receiver
        .wait_for("two attempts each", |g| g.len() >= 4)
        .await;
    let kinds: Vec<String> = got.iter().map(Received::kind).collect();
    assert_eq!(
        kinds,
        [
            "notification.accepted",
            "notification.accepted",
            "notification.sent",
            "notification.sent"
        ]
    );
    let shown = health_until(&app, &endpoint_id, |h| h["failed"] == 2).await;
    assert_eq!(shown["health"]["consecutive_failures"], 4, "{shown}");
    assert_eq!(receiver.got().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_secret_signs_beside_the_new_one_during_the_overlap() {
    let receiver = Receiver::start().await;
    let app = app_for(&[&receiver], |_| {}).await;
    let (endpoint_id, old) = endpoint(
        &app,
        json!({"url": receiver.url(), "event_types": ["notification.accepted"]}),
    )
    .await;
    let rotated = expect(
        &app,
        "POST",
        &format!("/v1/webhook-endpoints/{endpoint_id}/secret/rotate"),
        Some(json!({})),
        200,
    )
    .await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_until"].is_string());
    app.send(&email_request(&unique_email("wh"))).await;
    let got = receiver.wait_for("a delivery", |g| !g.is_empty()).await;
    let signatures = got[0].headers["webhook-signature"].to_str().unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(got[0].verifies_with(&new), "the new secret verifies");
    assert!(got[0].verifies_with(&old), "the old secret still verifies");
    // A secret of the tenant's choosing, checked.
    let (code, problem) = app
        .call(
            "POST",
            &format!("/v1/webhook-endpoints/{endpoint_id}/secret/rotate"),
            Some(&json!({"secret": "not-a-secret"})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem_fields(&problem), ["secret"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_endpoint_pauses_then_is_disabled_and_its_tenant_is_told() {
    let failing = Receiver::start().await;
    failing.answer(|_, _| status(500));
    let watcher = Receiver::start().await;
    let app = app_for(&[&failing, &watcher], |o| {
        o.webhooks = Some(pombo_contract::config::WebhooksConfig {
            retry_schedule_secs: vec![1; 10],
            attempt_timeout_secs: 5,
            failures_before_pause: 2,
            pause_secs: 2,
            disable_after_secs: 4,
            ..Default::default()
        })
    })
    .await;
    let (failing_id, _) = endpoint(
        &app,
        json!({"url": failing.url(), "event_types": ["notification.accepted"]}),
    )
    .await;
    let (_, watcher_secret) = endpoint(
        &app,
        json!({"url": watcher.url(), "event_types": ["endpoint.disabled"]}),
    )
    .await;
    app.send(&email_request(&unique_email("wh"))).await;

    let told = watcher
        .wait_for("endpoint.disabled", |g| !g.is_empty())
        .await;
    assert_eq!(told[0].kind(), "endpoint.disabled");
    assert_eq!(told[0].json()["data"]["endpoint_id"], failing_id.as_str());
    assert!(told[0].verifies_with(&watcher_secret));
    let shown = expect(
        &app,
        "GET",
        &format!("/v1/webhook-endpoints/{failing_id}"),
        None,
        200,
    )
    .await;
    assert_eq!(shown["enabled"], false, "{shown}");
    assert!(shown["disabled_reason"].is_string());
    // Pauses held attempts back: after two failures in a row, one probe per 2 s pause.
    let got = failing.got();
    let after_pause = got
        .windows(2)
        .skip(1)
        .map(|p| p[1].at - p[0].at)
        .collect::<Vec<_>>();
    assert!(
        after_pause
            .iter()
            .all(|gap| *gap >= Duration::from_millis(1900)),
        "gaps after the pause began: {after_pause:?}"
    );
    // A disabled endpoint gets nothing more.
    let before = failing.got().len();
    app.send(&email_request(&unique_email("wh"))).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(failing.got().len(), before);
    let log = expect(&app, "GET", "/v1/events?types=endpoint.disabled", None, 200).await;
    assert_eq!(log["data"].as_array().unwrap().len(), 1);
    // Enabled again (the receiver fixed): what it missed meanwhile comes, once.
    failing.answer(|_, _| OK);
    let seen: std::collections::HashSet<String> = failing.got().iter().map(Received::id).collect();
    let enabled = expect(
        &app,
        "PATCH",
        &format!("/v1/webhook-endpoints/{failing_id}"),
        Some(json!({"enabled": true})),
        200,
    )
    .await;
    assert_eq!(enabled["health"]["consecutive_failures"], 0, "{enabled}");
    let got = failing
        .wait_for("the missed event", |g| g.len() > before)
        .await;
    assert!(
        !seen.contains(&got[before].id()),
        "a new event, not a retry"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(failing.got().len(), before + 1, "once");
    let attempts = expect(
        &app,
        "GET",
        &format!("/v1/webhook-endpoints/{failing_id}/attempts"),
        None,
        200,
    )
    .await;
    record_history(
        &app,
        "first_attempt_by_the_worker_paused_then_abandoned",
        &attempts["data"][0]["delivery_id"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_sends_exactly_the_failed_deliveries_again() {
    let receiver = Receiver::start().await;
    // Everything fails while the receiver is "broken".
    receiver.answer(|_, _| status(500));
    let app = app_for(&[&receiver], |o| {
        o.webhooks = Some(pombo_contract::config::WebhooksConfig {
            retry_schedule_secs: vec![1],
            attempt_timeout_secs: 5,
            ..Default::default()
        })
    })
    .await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    let (endpoint_id, secret) = endpoint(
        &app,
        json!({"url": receiver.url(), "event_types": ["notification.accepted"]}),
    )
    .await;
    for _ in 0..3 {
        app.send(&email_request(&unique_email("wh"))).await;
    }
    // Two attempts per event, then each delivery fails for good.
    let got = receiver.wait_for("six attempts", |g| g.len() >= 6).await;
    let failed_ids: std::collections::BTreeSet<String> = got.iter().map(Received::id).collect();
    assert_eq!(failed_ids.len(), 3);
    let path = format!("/v1/webhook-endpoints/{endpoint_id}");
    health_until(&app, &endpoint_id, |h| h["failed"] == 3).await;
    // A fourth event that succeeds is not recovered.
    receiver.answer(|_, _| OK);
    app.send(&email_request(&unique_email("wh"))).await;
    receiver.wait_for("the fourth", |g| g.len() >= 7).await;

    let recovered = expect(
        &app,
        "POST",
        &format!("{path}/recover"),
        Some(json!({"since": since})),
        202,
    )
    .await;
    assert_eq!(recovered["deliveries"], 3);
    let failed = expect(
        &app,
        "GET",
        &format!("{path}/attempts?status=failed"),
        None,
        200,
    )
    .await;
    record_history(
        &app,
        "first_attempt_by_the_worker_failed_for_good",
        &failed["data"][0]["delivery_id"],
    )
    .await;
    let got = receiver
        .wait_for("the three again", |g| g.len() >= 10)
        .await;
    let again: std::collections::BTreeSet<String> = got[7..].iter().map(Received::id).collect();
    assert_eq!(
        again, failed_ids,
        "the failed events, with their webhook-ids"
    );
    assert!(got[7..].iter().all(|r| r.verifies_with(&secret)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.got().len(), 10, "each once");
    // A second recover finds nothing failed any more.
    let again = expect(
        &app,
        "POST",
        &format!("{path}/recover"),
        Some(json!({"since": since})),
        202,
    )
    .await;
    assert_eq!(again["deliveries"], 0);
    // Too far back.
    let (code, problem) = app
        .call(
            "POST",
            &format!("{path}/recover"),
            Some(&json!({"since": chrono::Utc::now() - chrono::Duration::days(30)})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem_fields(&problem), ["since"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn resend_and_test_deliveries_reach_the_endpoint_signed() {
    let receiver = Receiver::start().await;
    let app = app_for(&[&receiver], |_| {}).await;
    let (endpoint_id, secret) = endpoint(
        &app,
        json!({"url": receiver.url(), "event_types": ["notification.accepted"]}),
    )
    .await;
    app.send(&email_request(&unique_email("wh"))).await;
    let got = receiver.wait_for("the event", |g| !g.is_empty()).await;
    let event_id = got[0].id();
    let resent = expect(
        &app,
        "POST",
        &format!("/v1/events/{event_id}/resend"),
        Some(json!({})),
        202,
    )
    .await;
    assert_eq!(resent["deliveries"].as_array().unwrap().len(), 1);
    let got = receiver.wait_for("the resend", |g| g.len() >= 2).await;
    assert_eq!(got[1].id(), event_id);
    assert_eq!(got[1].body, got[0].body);

    let made = expect(
        &app,
        "POST",
        &format!("/v1/webhook-endpoints/{endpoint_id}/test"),
        Some(json!({"event_type": "message.received"})),
        202,
    )
    .await;
    assert!(made["delivery_id"].is_string());
    let got = receiver.wait_for("the test", |g| g.len() >= 3).await;
    let test = &got[2];
    assert!(test.id().starts_with("evt_test_"), "{}", test.id());
    assert_eq!(test.json()["test"], true);
    assert_eq!(test.json()["type"], "message.received");
    assert!(test.verifies_with(&secret));
    let (code, problem) = app
        .call(
            "POST",
            &format!("/v1/webhook-endpoints/{endpoint_id}/test"),
            Some(&json!({"event_type": "nope.never"})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem_fields(&problem), ["event_type"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_delivery_loses_no_event() {
    let receiver = Receiver::start().await;
    // Slow answers: the kill lands while requests are in flight.
    receiver.answer(|_, _| Answer {
        delay: Duration::from_millis(1500),
        ..OK
    });
    let app = app_for(&[&receiver], |o| o.worker = false).await;
    endpoint(
        &app,
        json!({"url": receiver.url(), "event_types": ["notification.accepted"]}),
    )
    .await;
    let worker = WorkerProcess::spawn(&app.config);
    for _ in 0..5 {
        app.send(&email_request(&unique_email("wh"))).await;
    }
    receiver
        .wait_for("requests in flight", |g| !g.is_empty())
        .await;
    worker.kill();
    let _worker = WorkerProcess::spawn(&app.config);
    for _ in 0..5 {
        app.send(&email_request(&unique_email("wh"))).await;
    }
    let got = receiver
        .wait_for("ten distinct events", |g| {
            g.iter()
                .map(Received::id)
                .collect::<std::collections::HashSet<_>>()
                .len()
                >= 10
        })
        .await;
    // Duplicates are whole repeats: same id, same body.
    let mut by_id: HashMap<String, Bytes> = HashMap::new();
    for r in &got {
        if let Some(body) = by_id.insert(r.id(), r.body.clone()) {
            assert_eq!(body, r.body, "a repeat of {} differs", r.id());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_filter_lets_through_only_matching_events() {
    let receiver = Receiver::start().await;
    let app = app_for(&[&receiver], |_| {}).await;
    endpoint(
        &app,
        json!({
            "url": receiver.url(),
            "filter": [
                {"path": "type", "in": ["notification.sent", "notification.failed"]},
                {"path": "data.status", "equals": "sent"},
            ],
        }),
    )
    .await;
    app.send(&email_request(&unique_email("wh"))).await;
    let got = receiver.wait_for("the sent event", |g| !g.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kinds: Vec<String> = receiver.got().iter().map(Received::kind).collect();
    assert_eq!(kinds, ["notification.sent"], "{:?}", got.len());
    let (code, problem) = app
        .call(
            "POST",
            "/v1/webhook-endpoints",
            Some(&json!({
                "url": receiver.url(),
                "filter": [{"path": "data..status", "equals": 1}, {"path": "type"}],
            })),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem_fields(&problem), ["filter[0]", "filter[1]"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoints_rate_limit_spaces_its_deliveries() {
    let receiver = Receiver::start().await;
    let app = app_for(&[&receiver], |_| {}).await;
    endpoint(
        &app,
        json!({"url": receiver.url(), "event_types": ["notification.accepted"], "rate_limit": 2}),
    )
    .await;
    for _ in 0..4 {
        app.send(&email_request(&unique_email("wh"))).await;
    }
    let got = receiver.wait_for("four events", |g| g.len() >= 4).await;
    // Two a second: the fourth slot is 1.5 s after the first (unlimited, all four come
    // within a few hundred milliseconds).
    let span = got[3].at - got[0].at;
    assert!(
        span >= Duration::from_millis(1200),
        "four deliveries in {span:?}"
    );
    let (code, problem) = app
        .call(
            "POST",
            "/v1/webhook-endpoints",
            Some(&json!({"url": receiver.url(), "rate_limit": 0})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem_fields(&problem), ["rate_limit"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_deletes_settled_deliveries_and_their_attempts() {
    let receiver = Receiver::start().await;
    let app = app_for(&[&receiver], |_| {}).await;
    let (endpoint_id, _) = endpoint(
        &app,
        json!({"url": receiver.url(), "event_types": ["notification.accepted"]}),
    )
    .await;
    app.send(&email_request(&unique_email("wh"))).await;
    receiver.wait_for("the event", |g| !g.is_empty()).await;
    let path = format!("/v1/webhook-endpoints/{endpoint_id}");
    health_until(&app, &endpoint_id, |h| h["succeeded"] == 1).await;
    // Older than nothing: kept.
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let purged = pombo_store::webhooks::deliveries::purge(&app.db, an_hour_ago)
        .await
        .unwrap();
    assert_eq!(purged, 0);
    let in_an_hour = chrono::Utc::now() + chrono::Duration::hours(1);
    let purged = pombo_store::webhooks::deliveries::purge(&app.db, in_an_hour)
        .await
        .unwrap();
    assert_eq!(purged, 2, "the attempt and its delivery");
    let attempts = expect(&app, "GET", &format!("{path}/attempts"), None, 200).await;
    assert_eq!(attempts["data"], json!([]));
    assert_eq!(
        expect(&app, "GET", &path, None, 200).await["health"]["succeeded"],
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_endpoints_are_refused_naming_each_field() {
    let app = app_for(&[], |_| {}).await;
    let (code, problem) = app
        .call(
            "POST",
            "/v1/webhook-endpoints",
            Some(&json!({
                "url": "http://169.254.169.254/latest/meta-data",
                "event_types": ["notification.sent", "nope.never"],
                "channels": ["pigeon"],
                "headers": {"Content-Type": "text/plain", "X-Token": "ok"},
                "secret": "whsec_short",
                "retry_schedule_secs": [1, 999999999],
            })),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(
        problem_fields(&problem),
        [
            "url",
            "event_types",
            "channels",
            "headers.Content-Type",
            "secret",
            "retry_schedule_secs"
        ]
    );
    for url in [
        "http://127.0.0.1:9/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "ftp://example.com/hook",
        "https://user:pw@example.com/hook",
    ] {
        let (code, problem) = app
            .call("POST", "/v1/webhook-endpoints", Some(&json!({"url": url})))
            .await;
        assert_eq!(code, 422, "{url}: {problem}");
        assert_eq!(problem_fields(&problem), ["url"], "{url}");
    }
    let listed = expect(&app, "GET", "/v1/webhook-endpoints", None, 200).await;
    assert_eq!(listed["data"], json!([]), "nothing was kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_sees_and_touches_only_its_own_endpoints_and_events() {
    let receiver = Receiver::start().await;
    let app = app_for(&[&receiver], |_| {}).await;
    let (endpoint_id, _) = endpoint(&app, json!({"url": receiver.url()})).await;
    app.send(&email_request(&unique_email("wh"))).await;
    let got = receiver.wait_for("an event", |g| !g.is_empty()).await;
    let event_id = got[0].id();
    let other = app.other_tenant_key().await;
    let path = format!("/v1/webhook-endpoints/{endpoint_id}");
    for (method, path, body) in [
        ("GET", path.clone(), None),
        ("GET", format!("{path}/secret"), None),
        ("GET", format!("{path}/attempts"), None),
        ("PATCH", path.clone(), Some(json!({"enabled": false}))),
        ("POST", format!("{path}/secret/rotate"), Some(json!({}))),
        (
            "POST",
            format!("{path}/recover"),
            Some(json!({"since": chrono::Utc::now() - chrono::Duration::hours(1)})),
        ),
        (
            "POST",
            format!("/v1/events/{event_id}/resend"),
            Some(json!({})),
        ),
        ("DELETE", path.clone(), None),
    ] {
        let (code, answer) = app.call_as(&other, method, &path, body.as_ref()).await;
        assert_eq!(code, 404, "{method} {path}: {answer}");
    }
    let (code, listed) = app
        .call_as(&other, "GET", "/v1/webhook-endpoints", None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(listed["data"], json!([]));
    let (code, attempts) = app
        .call_as(
            &other,
            "GET",
            &format!("/v1/events/{event_id}/attempts"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(attempts["data"], json!([]));
    // The owner still has it all.
    expect(&app, "GET", &path, None, 200).await;
    expect(&app, "DELETE", &path, None, 204).await;
    expect(&app, "GET", &path, None, 404).await;
}

/// Attempts that finish together are recorded in one transaction: each once (a repeat of
/// an attempt already recorded adds nothing), every delivery settled by its own outcome,
/// and the endpoint's health following the outcomes in the order they happened.
#[tokio::test(flavor = "multi_thread")]
async fn attempts_recorded_together_count_once_each_and_in_their_order() {
    use pombo_store::webhooks::{
        deliveries::{self, AttemptRecord},
        endpoints,
    };
    // No worker: nothing attempts the deliveries but this test.
    let receiver = Receiver::start().await;
    let app = app_for(&[&receiver], |options| options.worker = false).await;
    let (endpoint_id, _) = endpoint(&app, json!({"url": receiver.url()})).await;
    let endpoint_id: uuid::Uuid = endpoint_id.parse().unwrap();
    let row = endpoints::rows_by_id(&app.db, [endpoint_id])
        .await
        .unwrap()
        .remove(&endpoint_id)
        .unwrap();
    let mut made = Vec::new();
    for _ in 0..3 {
        let id = deliveries::test(&app.db, row.tenant_id, endpoint_id, "ping", json!({}))
            .await
            .unwrap();
        made.push(
            deliveries::with_endpoint(&app.db, id)
                .await
                .unwrap()
                .unwrap()
                .0,
        );
    }
    // To the millisecond: what both databases keep.
    let t0 = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
    let record = |at: i64, succeeded: bool, last: bool| AttemptRecord {
        attempt: 1,
        attempted_at: t0 + chrono::Duration::milliseconds(at),
        succeeded,
        status_code: Some(if succeeded { 204 } else { 500 }),
        duration: Duration::from_millis(3),
        response_excerpt: None,
        error: (!succeeded).then(|| format!("failed at {at}")),
        last,
    };
    let rules = endpoints::HealthRules {
        failures_before_pause: 10,
        pause: chrono::Duration::minutes(5),
        disable_after: chrono::Duration::days(5),
    };
    // Given out of order: a failure, a success after it, a failure after that (the last of
    // its delivery), and the first failure again.
    let batch = [
        (made[2].clone(), record(20, false, true)),
        (made[0].clone(), record(0, false, false)),
        (made[1].clone(), record(10, true, false)),
        (made[0].clone(), record(0, false, false)),
    ];
    deliveries::record_attempts(&app.db, &batch, rules)
        .await
        .unwrap();
    // And once more, as a retried activity would.
    deliveries::record_attempt(&app.db, &made[1], record(10, true, false), rules)
        .await
        .unwrap();

    let attempts = deliveries::attempts(&app.db, row.tenant_id, Default::default(), 100)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    let status = |i: usize| {
        let shown = attempts
            .iter()
            .find(|a| a.delivery_id == made[i].id)
            .unwrap();
        (shown.succeeded, shown.status_code)
    };
    assert_eq!(
        [status(0), status(1), status(2)],
        [(false, Some(500)), (true, Some(204)), (false, Some(500))]
    );
    let now = deliveries::of_event(&app.db, row.tenant_id, 0)
        .await
        .unwrap();
    let settled = |i: usize| {
        let d = now.iter().find(|d| d.id == made[i].id).unwrap();
        (
            d.status.as_str().to_owned(),
            d.attempts,
            d.finished_at.is_some(),
        )
    };
    assert_eq!(settled(0), ("pending".to_owned(), 1, false));
    assert_eq!(settled(1), ("succeeded".to_owned(), 1, true));
    assert_eq!(settled(2), ("failed".to_owned(), 1, true));
    // Health in time order: the success cleared the first failure, the last one counts.
    let after = endpoints::rows_by_id(&app.db, [endpoint_id])
        .await
        .unwrap()
        .remove(&endpoint_id)
        .unwrap();
    assert_eq!(after.consecutive_failures, 1);
    assert_eq!(after.last_error.as_deref(), Some("failed at 20"));
    assert_eq!(
        after.last_success_at,
        Some(t0 + chrono::Duration::milliseconds(10))
    );
}
