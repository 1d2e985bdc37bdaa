//! Bounded rendering (`pombo_contract::render`, in `pombo-renderer`'s children): a template
//! that works too long, renders too much or builds values past the render processes' memory
//! limit is a 422 naming its field, answered fast, from inline content, a stored template
//! (preview and notification) and a batch; and while one renders, the API keeps answering
//! other requests. These tests host the API in their own process: a memory bomb rendered
//! in it would end the test binary, not fail one test.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, spawn_app_with};

/// The security review's template: 10^8 loop iterations, 29.6 s of CPU before the limits.
const NESTED: &str =
    "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}";

/// Doubles a string 40 times: about 240 instructions, so fuel never notices; a terabyte.
const DOUBLING: &str = "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}";

/// What a refused render may take, end to end (the fuel runs out in about 100 ms in a debug
/// build; the deadline backstop is 2 s, so a missing fuel limit shows here too).
const ANSWERED_WITHIN: Duration = Duration::from_secs(2);

/// An app whose first request has been answered: a fresh process pays for its first phone
/// number check and connection setup (over a second on a busy machine), which is not what
/// the timings here measure.
async fn app() -> TestApp {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let response = app.post_notification(&sms("Hi {{ name }}")).await;
    assert_eq!(response.status(), 422);
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app
}

fn sms(text: &str) -> Value {
    json!({"channel": "sms", "to": "+5511987654321", "content": {"text": text}})
}

fn errors(problem: &Value) -> Vec<(&str, &str)> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect()
}

/// The only error of `problem`, for `field`; returns its reason.
fn only_error<'a>(problem: &'a Value, field: &str) -> &'a str {
    let found = errors(problem);
    assert_eq!(found.len(), 1, "{problem}");
    assert_eq!(found[0].0, field, "{problem}");
    found[0].1
}

/// Saves a template whose only variant is an English SMS of `text`: its syntax is fine,
/// so it is saved, and it only fails when rendered.
async fn save_sms_template(app: &TestApp, name: &str, text: &str) {
    let (code, created) = app
        .call(
            "POST",
            "/v1/templates",
            Some(&json!({"name": name, "default_locale": "en",
                         "variants": {"en": {"sms": {"text": text}}}})),
        )
        .await;
    assert_eq!(code, 201, "{created}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_that_works_too_long_is_refused_fast_and_the_api_keeps_answering() {
    let app = app().await;
    // Two at once: without rendering off the runtime, they would hold both of a 2-core
    // machine's runtime threads.
    let bad = (0..2)
        .map(|_| {
            let (http, url, key) = (
                app.http.clone(),
                app.url("/v1/notifications"),
                app.api_key.clone(),
            );
            tokio::spawn(async move {
                let started = Instant::now();
                let response = http
                    .post(url)
                    .bearer_auth(key)
                    .json(&sms(NESTED))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (status, body, started.elapsed())
            })
        })
        .collect::<Vec<_>>();
    // While they render, a cheap request is answered as if nothing else ran.
    let mut answered = 0;
    while !bad.iter().all(|t| t.is_finished()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        let health = app.http.get(app.url("/healthz")).send().await.unwrap();
        let took = started.elapsed();
        assert_eq!(health.status(), 200);
        assert!(
            took < Duration::from_millis(100),
            "GET /healthz took {took:?}"
        );
        answered += 1;
    }
    assert!(
        answered > 1,
        "the bad requests were answered before GET /healthz was asked"
    );
    for task in bad {
        let (status, problem, took) = task.await.unwrap();
        assert_eq!(status, 422, "{problem}");
        let reason = only_error(&problem, "content.text");
        assert!(reason.contains("fuel exhausted"), "{reason}");
        assert!(took < ANSWERED_WITHIN, "answered after {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_that_outgrows_the_memory_limit_is_refused_everywhere_and_the_api_lives_on() {
    let app = app().await;
    let memory = |reason: &str| {
        assert!(
            reason.contains("more memory than a render may use"),
            "{reason}"
        )
    };
    // Inline content, twice at once: each ends its own render process.
    let bombs: Vec<_> = (0..2)
        .map(|_| {
            let (http, url, key) = (
                app.http.clone(),
                app.url("/v1/notifications"),
                app.api_key.clone(),
            );
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .bearer_auth(key)
                    .json(&sms(DOUBLING))
                    .send()
                    .await
                    .unwrap();
                (
                    response.status().as_u16(),
                    response.json::<Value>().await.unwrap(),
                )
            })
        })
        .collect();
    for bomb in bombs {
        let (status, problem) = bomb.await.unwrap();
        assert_eq!(status, 422, "{problem}");
        memory(only_error(&problem, "content"));
    }
    // The same API still renders, and accepts.
    let response = app
        .post_notification(&json!({"channel": "sms", "to": "+5511987654321",
            "content": {"text": "Hi {{ name }}"}, "data": {"name": "Ana"}}))
        .await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());

    // A batch: refused as a whole, on its content.
    let recipients: Vec<Value> = (0..3)
        .map(|i| json!({"to": format!("+55119876543{i:02}")}))
        .collect();
    let (code, problem) = app
        .call(
            "POST",
            "/v1/notifications/batch",
            Some(
                &json!({"channel": "sms", "content": {"text": DOUBLING}, "recipients": recipients}),
            ),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    memory(only_error(&problem, "content"));

    // A stored template: saved (its syntax is fine), refused at preview, under its variant.
    save_sms_template(&app, "bomb", DOUBLING).await;
    let (code, problem) = app
        .call(
            "POST",
            "/v1/templates/bomb/render",
            Some(&json!({"data": {}})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    memory(only_error(&problem, "variants.en.sms"));
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn output_past_the_cap_is_refused() {
    let app = app().await;
    let cap = pombo_contract::render::MAX_OUTPUT_BYTES;
    // One instruction making 2 MiB, and a cheap loop making 2 MB: fuel sees neither.
    for text in [
        "{{ 'x' * 2097152 }}",
        "{% for i in range(20000) %}{{ 'y' * 100 }}{% endfor %}",
    ] {
        let started = Instant::now();
        let response = app.post_notification(&sms(text)).await;
        assert_eq!(response.status(), 422, "{text}");
        let problem: Value = response.json().await.unwrap();
        let reason = only_error(&problem, "content.text");
        assert!(
            reason.contains(&format!("more than {cap} bytes")),
            "{reason}"
        );
        assert!(started.elapsed() < ANSWERED_WITHIN);
    }
    // An email body up to the limit is still fine (100 KB, rendered by a loop).
    let body = json!({"channel": "email", "to": "render-limits@example.com",
        "content": {"subject": "Report", "text": "{% for i in range(1000) %}{{ 'z' * 100 }}\n{% endfor %}"}});
    let response = app.post_notification(&body).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_template_that_works_too_long_is_refused_at_preview_and_acceptance() {
    let app = app().await;
    // Its syntax is fine, so it is saved: it only fails when rendered.
    save_sms_template(&app, "spin", NESTED).await;

    let started = Instant::now();
    let (code, problem) = app
        .call(
            "POST",
            "/v1/templates/spin/render",
            Some(&json!({"data": {}})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    let reason = only_error(&problem, "variants.en.sms.text");
    assert!(reason.contains("fuel exhausted"), "{reason}");
    assert!(started.elapsed() < ANSWERED_WITHIN);

    let started = Instant::now();
    let response = app
        .post_notification(
            &json!({"channel": "sms", "to": "+5511987654321", "template": {"id": "spin"}}),
        )
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let reason = only_error(&problem, "content.text");
    assert!(reason.contains("fuel exhausted"), "{reason}");
    assert!(started.elapsed() < ANSWERED_WITHIN);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_with_a_template_that_works_too_long_is_refused_once() {
    let app = app().await;
    let recipients: Vec<Value> = (0..50)
        .map(|i| json!({"to": format!("+55119876543{i:02}"), "data": {"n": i}}))
        .collect();
    let started = Instant::now();
    let (code, problem) = app
        .call(
            "POST",
            "/v1/notifications/batch",
            Some(&json!({"channel": "sms", "content": {"text": NESTED}, "recipients": recipients})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    // The first recipient's render runs out; the others share the template and are not
    // rendered (each would spend a message's fuel to say the same).
    let reason = only_error(&problem, "recipients[0].data");
    assert!(reason.starts_with("content.text: "), "{reason}");
    assert!(reason.contains("fuel exhausted"), "{reason}");
    assert!(started.elapsed() < ANSWERED_WITHIN);
}

/// The worker renders what the API accepted; should content over the limits reach it anyway
/// (a row written before the limits, or by hand), the notification fails for good at its
/// render step, with the reason, and is not sent.
#[tokio::test(flavor = "multi_thread")]
async fn the_worker_fails_content_over_the_limits_for_good() {
    worker_fails_for_good(NESTED, "content.text", "fuel exhausted").await;
}

/// As above, for content that outgrows the render processes' memory: the worker (hosted in
/// this test's process) lives on and fails the notification.
#[tokio::test(flavor = "multi_thread")]
async fn the_worker_fails_content_over_the_memory_limit_for_good() {
    worker_fails_for_good(DOUBLING, "content", "more memory than a render may use").await;
}

async fn worker_fails_for_good(text: &str, field: &str, reason: &str) {
    use pombo_store::entities::notification;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    // Accepted while Temporal is down, so nothing renders it before it is changed below.
    let down = spawn_app_with(AppOptions {
        api_temporal: Some("http://127.0.0.1:1".into()),
        worker: false,
        dispatch_grace_secs: 0,
        ..Default::default()
    })
    .await;
    let id = down.send(&sms("Hi")).await;
    notification::Entity::update_many()
        .col_expr(
            notification::Column::Content,
            Expr::value(json!({ "text": text })),
        )
        .filter(notification::Column::Id.eq(id.parse::<uuid::Uuid>().unwrap()))
        .exec(&down.db)
        .await
        .unwrap();

    let up = spawn_app_with(AppOptions {
        database_url: Some(down.config.database_url.clone()),
        dispatch_grace_secs: 0,
        ..Default::default()
    })
    .await;
    let n = up
        .wait_for_status(&id, "failed", Duration::from_secs(60))
        .await;
    let error = n["last_error"].as_str().unwrap();
    assert!(
        error.contains(&format!("{field}: ")) && error.contains(reason),
        "{error}"
    );
    assert_eq!(n["attempts"], 0, "never sent: {n}");
    assert!(up.fakes.requests("twilio").is_empty());
    up.wait_for_workflow(&id, "PomboStatus = 'failed' AND ExecutionStatus = 'Failed'")
        .await;
}
