//! Bulk sends: one request for many recipients, each a notification of its own, sent by
//! one batch workflow in chunks (not a workflow per recipient); idempotent as a whole and
//! per recipient; permanent refusals fail one recipient, transient ones retry it alone.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use pombo_contract::workflow::task_queue;
use pombo_fakes::{Fault, twilio};
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, providers, spawn_app, spawn_app_with};

const WITHIN: Duration = Duration::from_secs(120);

/// A distinct, valid Brazilian mobile number per index.
fn phone(i: usize) -> String {
    format!("+55119876{i:05}")
}

fn sms_batch(n: usize) -> Value {
    let recipients: Vec<Value> = (0..n)
        .map(|i| json!({"to": phone(i), "data": {"name": format!("R{i}"), "code": i}}))
        .collect();
    json!({
        "channel": "sms",
        "content": {"text": "Hi {{ name }}, your code is {{ code }}"},
        "recipients": recipients,
    })
}

async fn post_batch(app: &TestApp, body: &Value) -> (u16, Value) {
    app.call("POST", "/v1/notifications/batch", Some(body))
        .await
}

/// POSTs and expects 202; returns the batch id.
async fn send_batch(app: &TestApp, body: &Value) -> String {
    let (code, batch) = post_batch(app, body).await;
    assert_eq!(code, 202, "{batch}");
    batch["id"].as_str().unwrap().to_owned()
}

/// An app whose only server-wide account is the Twilio fake.
async fn twilio_only() -> TestApp {
    spawn_app_with(AppOptions {
        providers: Some(|fakes| providers::only(fakes, &["twilio"])),
        ..Default::default()
    })
    .await
}

/// Records the batch's workflow history (every run) as the replay fixture
/// `batch/<case>*.json` when `POMBO_RECORD_HISTORIES` asks for it.
async fn record(app: &TestApp, case: &str, id: &str) {
    let workflow_id = pombo_contract::batch::workflow_id(id.parse().unwrap());
    crate::support::histories::record(&app.config, "batch", case, &workflow_id).await;
}

/// Polls until the batch is `completed`, and returns it.
async fn wait_for_batch(app: &TestApp, id: &str, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let (code, batch) = app.call("GET", &format!("/v1/batches/{id}"), None).await;
        assert_eq!(code, 200, "{batch}");
        if batch["status"] == "completed" {
            return batch;
        }
        assert!(
            start.elapsed() < limit,
            "batch {id} not completed after {limit:?}: {batch}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every notification of the batch, through its paged listing.
async fn members(app: &TestApp, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=200&cursor={c}"),
            None => "?limit=200".to_owned(),
        };
        let (code, page) = app
            .call(
                "GET",
                &format!("/v1/batches/{id}/notifications{query}"),
                None,
            )
            .await;
        assert_eq!(code, 200, "{page}");
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
}

fn count(batch: &Value, status: &str) -> i64 {
    batch["counts"][status].as_i64().unwrap()
}

/// How many workflow executions (runs) on the app's task queues match `query` (all of
/// them with `None`), once Temporal's visibility store has caught up to at least
/// `at_least` of them.
async fn workflow_count(app: &TestApp, query: Option<&str>, at_least: usize) -> usize {
    let client = app.temporal().await;
    let queues = pombo_contract::Priority::ALL
        .map(|p| format!("'{}'", task_queue(&app.config.temporal.task_queue, p)))
        .join(", ");
    let mut full = format!("TaskQueue IN ({queues})");
    if let Some(query) = query {
        full = format!("{full} AND {query}");
    }
    let mut seen = 0;
    for _ in 0..100 {
        seen = client
            .count_workflows(
                full.clone(),
                temporalio_client::WorkflowCountOptions::default(),
            )
            .await
            .unwrap()
            .count();
        if seen >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_sends_every_recipient_once_with_its_own_data_from_one_workflow() {
    let app = spawn_app().await;
    let n = 250;
    let mut body = sms_batch(n);
    body["idempotency_key"] = json!("newsletter-42");
    let (code, accepted) = post_batch(&app, &body).await;
    assert_eq!(code, 202, "{accepted}");
    assert_eq!(accepted["total"], n);
    assert_eq!(accepted["skipped"], 0);
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["links"]["self"], format!("/v1/batches/{id}"));
    assert_eq!(accepted["workflow"]["workflow_id"], format!("batch-{id}"));

    let batch = wait_for_batch(&app, &id, WITHIN).await;
    assert_eq!(count(&batch, "sent"), n as i64, "{batch}");
    assert_eq!(count(&batch, "pending") + count(&batch, "failed"), 0);
    assert!(batch["finished_at"].is_string(), "{batch}");
    // Its completion is an event of the log (readable once earlier transactions ended).
    let deadline = Instant::now() + Duration::from_secs(10);
    let completed = loop {
        let (code, page) = app
            .call("GET", "/v1/events?types=batch.completed", None)
            .await;
        assert_eq!(code, 200, "{page}");
        if let Some(event) = page["data"].as_array().unwrap().first() {
            break event.clone();
        }
        assert!(Instant::now() < deadline, "no batch.completed: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        completed["data"],
        json!({"batch_id": id, "status": "completed"})
    );

    // Exactly one message per recipient, rendered with that recipient's own data.
    let requests = app.fakes.requests("twilio");
    assert_eq!(requests.len(), n, "one request per recipient");
    let bodies: HashMap<String, String> = requests
        .iter()
        .map(|r| (r.form_value("To").unwrap(), r.form_value("Body").unwrap()))
        .collect();
    assert_eq!(bodies.len(), n, "no recipient got two messages");
    for i in 0..n {
        assert_eq!(
            bodies[&phone(i)],
            format!("Hi R{i}, your code is {i}"),
            "recipient {i}"
        );
    }

    // Each recipient is a notification of its own, sent with the message id the provider
    // answered for it (a group's acceptances are recorded in one statement).
    let sids: HashMap<String, String> = requests
        .iter()
        .map(|r| (r.form_value("To").unwrap(), twilio::sid_for(&r.body)))
        .collect();
    let listed = members(&app, &id).await;
    assert_eq!(listed.len(), n);
    for m in &listed {
        assert_eq!(m["status"], "sent", "{m}");
        assert_eq!(m["batch_id"], id.as_str(), "{m}");
        assert_eq!(m["provider"], "twilio", "{m}");
        let to = m["to"].as_str().unwrap();
        assert_eq!(m["provider_message_id"], sids[to].as_str(), "{m}");
    }
    let member = listed[17]["id"].as_str().unwrap();
    let (code, one) = app.get_notification(member).await;
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["status"], "sent");
    assert_eq!(one["workflow"]["workflow_id"], format!("batch-{id}"));
    let log = one["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 1, "{one}");
    assert_eq!(log[0]["outcome"], "sent");

    // One workflow for the whole batch, none per recipient.
    assert_eq!(workflow_count(&app, None, 1).await, 1);
    let member_workflow = format!("WorkflowId = 'notification-{member}'");
    assert_eq!(workflow_count(&app, Some(&member_workflow), 0).await, 0);

    // A delivery report for a recipient is recorded like any other (there is no
    // per-recipient workflow to signal, and that is no error).
    let (code, reported) = app
        .call(
            "PATCH",
            &format!("/v1/notifications/{member}/status"),
            Some(&json!({"status": "delivered"})),
        )
        .await;
    assert_eq!(code, 200, "{reported}");
    let (_, batch) = app.call("GET", &format!("/v1/batches/{id}"), None).await;
    assert_eq!(count(&batch, "delivered"), 1, "{batch}");
    assert_eq!(count(&batch, "sent"), n as i64 - 1, "{batch}");

    // The same request again: the same batch, nothing sent again.
    let response = app
        .http
        .post(app.url("/v1/notifications/batch"))
        .bearer_auth(&app.api_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        response
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let replay: Value = response.json().await.unwrap();
    assert_eq!(replay["id"], id.as_str());
    // The same key for another request is refused.
    body["recipients"][0]["data"]["code"] = json!("changed");
    let (code, refused) = post_batch(&app, &body).await;
    assert_eq!(code, 422, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "idempotency_key");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.fakes.requests("twilio").len(), n, "nothing sent again");
    assert_eq!(workflow_count(&app, None, 1).await, 1);

    // Another tenant sees no such batch.
    let other = app.other_tenant_key().await;
    let response = app
        .http
        .get(app.url(&format!("/v1/batches/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = app
        .http
        .get(app.url(&format!("/v1/batches/{id}/notifications")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn recipients_already_sent_by_their_own_key_are_left_out() {
    let app = spawn_app().await;
    let first = json!({
        "channel": "sms",
        "content": {"text": "Hi {{ name }}"},
        "recipients": [
            {"to": phone(1), "data": {"name": "A"}, "idempotency_key": "ana"},
            {"to": phone(2), "data": {"name": "B"}, "idempotency_key": "bia"},
        ],
    });
    let id = send_batch(&app, &first).await;
    wait_for_batch(&app, &id, WITHIN).await;

    // A new batch (no batch key) repeating one recipient's key: that recipient is skipped.
    let second = json!({
        "channel": "sms",
        "content": {"text": "Hi {{ name }}"},
        "recipients": [
            {"to": phone(2), "data": {"name": "B"}, "idempotency_key": "bia"},
            {"to": phone(3), "data": {"name": "C"}, "idempotency_key": "caio"},
        ],
    });
    let (code, accepted) = post_batch(&app, &second).await;
    assert_eq!(code, 202, "{accepted}");
    assert_eq!(
        (accepted["total"].as_i64(), accepted["skipped"].as_i64()),
        (Some(1), Some(1))
    );
    let batch = wait_for_batch(&app, accepted["id"].as_str().unwrap(), WITHIN).await;
    assert_eq!(count(&batch, "sent"), 1, "{batch}");
    let to: Vec<String> = app
        .fakes
        .requests("twilio")
        .iter()
        .map(|r| r.form_value("To").unwrap())
        .collect();
    assert_eq!(to.len(), 3, "{to:?}");
    assert_eq!(
        to.iter().collect::<HashSet<_>>(),
        HashSet::from([&phone(1), &phone(2), &phone(3)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_names_each_recipients_field_and_stores_nothing() {
    let app = spawn_app().await;
    let (code, problem) = post_batch(
        &app,
        &json!({
            "channel": "sms",
            "content": {"text": "Hi {{ name }}"},
            "retry": {"max_attempts": 11},
            "recipients": [
                {"to": phone(0), "data": {"name": "A"}, "idempotency_key": "k"},
                {"to": "not-a-number", "data": {"name": "B"}},
                {"to": phone(2), "data": {"other": "C"}},
                {"to": phone(3), "data": ["not", "an", "object"]},
                {"to": phone(4), "data": {"name": "E"}, "idempotency_key": "k"},
            ],
        }),
    )
    .await;
    assert_eq!(code, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "retry.max_attempts",
            "recipients[1].to",
            "recipients[2].data",
            "recipients[3].data",
            "recipients[4].idempotency_key",
        ],
        "{problem}"
    );
    let missing = &problem["errors"][2]["reason"];
    assert!(missing.as_str().unwrap().contains("name"), "{problem}");

    // A broken content is reported once, not per recipient.
    let (code, problem) = post_batch(
        &app,
        &json!({"channel": "sms", "content": {"body": "x"},
                "recipients": [{"to": phone(0)}, {"to": phone(1)}]}),
    )
    .await;
    assert_eq!(code, 422, "{problem}");
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["field"].as_str().unwrap().starts_with("recipients")),
        "{problem}"
    );

    // No recipients, or too many.
    for n in [0, 10_001] {
        let (code, problem) = post_batch(&app, &sms_batch(n)).await;
        assert_eq!(code, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "recipients", "{problem}");
    }

    // Many bad recipients: the list is capped, and says how many more there were.
    let mut body = sms_batch(300);
    for r in body["recipients"].as_array_mut().unwrap() {
        r["to"] = json!("nope");
    }
    let (code, problem) = post_batch(&app, &body).await;
    assert_eq!(code, 422);
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 101, "{problem}");
    assert_eq!(errors[99]["field"], "recipients[99].to");
    assert!(
        errors[100]["reason"].as_str().unwrap().contains("200 more"),
        "{problem}"
    );

    let (_, listed) = app.list_as(&app.api_key, "").await;
    assert_eq!(listed["data"], json!([]), "nothing stored");
    assert!(app.fakes.requests("twilio").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanently_refused_recipient_fails_while_the_others_are_sent() {
    let app = twilio_only().await;
    let mut body = sms_batch(5);
    // Twilio's magic test number for "invalid 'To' number".
    body["recipients"]
        .as_array_mut()
        .unwrap()
        .push(json!({"to": "+15005550001", "data": {"name": "X", "code": 0}}));
    body["retry"] = json!({"max_attempts": 3, "interval_secs": 1});
    let id = send_batch(&app, &body).await;
    let batch = wait_for_batch(&app, &id, WITHIN).await;
    assert_eq!(
        (count(&batch, "sent"), count(&batch, "failed")),
        (5, 1),
        "{batch}"
    );
    assert_eq!(
        app.fakes.requests("twilio").len(),
        6,
        "no retry of a refusal"
    );

    let (_, failed) = app
        .call(
            "GET",
            &format!("/v1/batches/{id}/notifications?status=failed"),
            None,
        )
        .await;
    let failed = &failed["data"][0];
    assert_eq!(failed["to"], "+15005550001", "{failed}");
    let (_, failed) = app.get_notification(failed["id"].as_str().unwrap()).await;
    let log = failed["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 1, "{failed}");
    assert_eq!(log[0]["outcome"], "permanent_error");
    assert_eq!(log[0]["error_code"], "21211");
    assert!(
        failed["last_error"].as_str().unwrap().contains("21211"),
        "{failed}"
    );
    assert_eq!(
        failed["events"].as_array().unwrap().last().unwrap()["status"],
        "failed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipient_refused_by_one_account_fails_over_to_the_next() {
    // SMS accounts: twilio, then vonage.
    let app = spawn_app().await;
    let body = json!({
        "channel": "sms",
        "content": {"text": "hi"},
        "recipients": [{"to": phone(1)}, {"to": "+15005550001"}],
    });
    let id = send_batch(&app, &body).await;
    let batch = wait_for_batch(&app, &id, WITHIN).await;
    assert_eq!(count(&batch, "sent"), 2, "{batch}");
    let listed = members(&app, &id).await;
    let moved = listed.iter().find(|m| m["to"] == "+15005550001").unwrap();
    assert_eq!(moved["provider"], "vonage", "{moved}");
    let (_, moved) = app.get_notification(moved["id"].as_str().unwrap()).await;
    let outcomes: Vec<(&str, &str)> = moved["attempt_log"]
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
        outcomes,
        [("twilio", "permanent_error"), ("vonage", "sent")],
        "{moved}"
    );
    assert_eq!(app.fakes.requests("vonage").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn recipients_failing_with_5xx_are_retried_alone_and_sent() {
    let app = twilio_only().await;
    app.fakes.fail_next("twilio", 3, Fault::status(503));
    let n = 10;
    let mut body = sms_batch(n);
    body["retry"] = json!({"max_attempts": 4, "interval_secs": 1});
    let id = send_batch(&app, &body).await;
    let batch = wait_for_batch(&app, &id, WITHIN).await;
    assert_eq!(count(&batch, "sent"), n as i64, "{batch}");
    // The three refused requests were retried, and nothing else was sent twice.
    let requests = app.fakes.requests("twilio");
    assert_eq!(requests.len(), n + 3);

    let mut retried = 0;
    for m in members(&app, &id).await {
        let (_, full) = app.get_notification(m["id"].as_str().unwrap()).await;
        let outcomes: Vec<&str> = full["attempt_log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["outcome"].as_str().unwrap())
            .collect();
        let (last, before) = outcomes.split_last().unwrap();
        assert_eq!(*last, "sent", "{full}");
        assert!(before.iter().all(|o| *o == "retryable_error"), "{full}");
        retried += before.len();
        // Its own retry counts its own attempts.
        assert_eq!(full["attempts"], outcomes.len(), "{full}");
    }
    assert_eq!(retried, 3);
    record(&app, "retried_then_sent", &id).await;
}

/// A scheduled batch cancelled in Temporal (the UI's Cancel, or `temporal workflow cancel`)
/// while it waits for its `send_at` ends as Canceled and sends to no one.
#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_batch_cancelled_while_waiting_sends_to_no_one() {
    let app = twilio_only().await;
    let send_at = chrono::Utc::now() + chrono::Duration::seconds(6);
    let mut body = sms_batch(3);
    body["send_at"] = json!(send_at.to_rfc3339());
    let id = send_batch(&app, &body).await;
    let workflow_id = pombo_contract::batch::workflow_id(id.parse().unwrap());
    let running = format!("WorkflowId = '{workflow_id}' AND ExecutionStatus = 'Running'");
    assert_eq!(workflow_count(&app, Some(&running), 1).await, 1);
    app.temporal()
        .await
        .get_workflow_handle::<pombo_workflows::BatchWorkflow>(workflow_id.clone())
        .cancel(Default::default())
        .await
        .unwrap();
    assert!(chrono::Utc::now() < send_at, "the test itself was too slow");

    let canceled = format!("WorkflowId = '{workflow_id}' AND ExecutionStatus = 'Canceled'");
    assert_eq!(workflow_count(&app, Some(&canceled), 1).await, 1);
    // Past its time, and still nothing sent.
    let past = (send_at - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(2);
    tokio::time::sleep(past).await;
    assert!(
        app.fakes.requests("twilio").is_empty(),
        "a cancelled scheduled batch sends nothing"
    );
    record(&app, "cancelled_waiting_for_send_at", &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_accepted_while_temporal_is_down_is_started_by_the_sweep() {
    let down = spawn_app_with(AppOptions {
        api_temporal: Some("http://127.0.0.1:1".into()),
        worker: false,
        dispatch_grace_secs: 0,
        ..Default::default()
    })
    .await;
    let (code, accepted) = post_batch(&down, &sms_batch(3)).await;
    assert_eq!(code, 202, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["workflow"]["started"], false);
    let id = accepted["id"].as_str().unwrap().to_owned();

    // Its recipients are the batch's to send: the notification sweep leaves them alone.
    let up = spawn_app_with(AppOptions {
        database_url: Some(down.config.database_url.clone()),
        dispatch_grace_secs: 0,
        ..Default::default()
    })
    .await;
    let batch = wait_for_batch(&up, &id, WITHIN).await;
    assert_eq!(count(&batch, "sent"), 3, "{batch}");
    assert_eq!(batch["workflow"]["started"], true);
    assert_eq!(up.fakes.requests("twilio").len(), 3);
    assert_eq!(workflow_count(&up, None, 1).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_batch_continues_as_new_and_loses_no_one() {
    // The API cannot reach Temporal, so the test starts the batch's workflow itself, with
    // tiny chunks and two chunks per run, as a 10,000-recipient batch runs in full size.
    let app = spawn_app_with(AppOptions {
        api_temporal: Some("http://127.0.0.1:1".into()),
        ..Default::default()
    })
    .await;
    let n = 23;
    let id = send_batch(&app, &sms_batch(n)).await;
    let batch = pombo_store::batches::get(&app.db, id.parse().unwrap())
        .await
        .unwrap();
    let mut input =
        pombo_api::batches::dispatch::workflow_input(&batch, &app.config.delivery).unwrap();
    input.chunk_size = 2;
    input.chunks_per_run = 2;
    let priority = input.priority;
    let client = app.temporal().await;
    client
        .start_workflow(
            pombo_workflows::BatchWorkflow::run,
            input,
            temporalio_client::WorkflowStartOptions::new(
                task_queue(&app.config.temporal.task_queue, priority),
                pombo_contract::batch::workflow_id(batch.id),
            )
            .build(),
        )
        .await
        .unwrap();

    let batch = wait_for_batch(&app, &id, WITHIN).await;
    assert_eq!(count(&batch, "sent"), n as i64, "{batch}");
    let to: HashSet<String> = app
        .fakes
        .requests("twilio")
        .iter()
        .map(|r| r.form_value("To").unwrap())
        .collect();
    assert_eq!(to.len(), n);
    assert_eq!(app.fakes.requests("twilio").len(), n);
    // 12 chunks, 4 at once, a new run after each round of them: 3 runs of one workflow.
    let runs = workflow_count(&app, Some(&format!("WorkflowId = 'batch-{id}'")), 3).await;
    assert_eq!(runs, 3);
    assert_eq!(workflow_count(&app, None, 3).await, 3);
    record(&app, "continued_as_new", &id).await;
}

/// The limit is inclusive: exactly 10,000 recipients are accepted (0 and 10,001 are refused
/// above). No worker: only the acceptance is checked; the ignored measurement below sends
/// them.
#[tokio::test(flavor = "multi_thread")]
async fn exactly_ten_thousand_recipients_are_accepted() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let (code, batch) = post_batch(&app, &sms_batch(10_000)).await;
    assert_eq!(code, 202, "{batch}");
    assert_eq!(
        (&batch["total"], &batch["skipped"]),
        (&json!(10_000), &json!(0))
    );
}

/// 10,000 recipients (`POMBO_BATCH_N`) through one batch against the Twilio fake, after
/// 200 single notifications on the same server for comparison; prints both rates.
/// `cargo nextest run -p pombo-api -E 'test(/ten_thousand/)' --run-ignored only --no-capture`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a check: minutes in a debug build"]
async fn ten_thousand_recipients_in_one_batch() {
    let app = twilio_only().await;

    let singles = 200;
    let single_cpu_before = cpu_seconds();
    let started = Instant::now();
    let ids: Vec<String> = futures::future::join_all((0..singles).map(|i| {
        let app = &app;
        async move {
            app.send(&json!({"channel": "sms", "to": phone(50_000 + i),
                             "content": {"text": "single {{ i }}"}, "data": {"i": i}}))
                .await
        }
    }))
    .await;
    for id in &ids {
        app.wait_for_status(id, "sent", Duration::from_secs(600))
            .await;
    }
    let single_rate = singles as f64 / started.elapsed().as_secs_f64();
    let single_cpu = (cpu_seconds() - single_cpu_before) * 1000.0 / singles as f64;

    let n: usize = std::env::var("POMBO_BATCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let body = sms_batch(n);
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let id = send_batch(&app, &body).await;
    let accepted = started.elapsed();
    let batch = wait_for_batch(&app, &id, Duration::from_secs(1800)).await;
    let total = started.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    assert_eq!(count(&batch, "sent"), n as i64, "{batch}");
    assert_eq!(app.fakes.requests("twilio").len(), n + singles);
    let runs = workflow_count(&app, Some(&format!("WorkflowId = 'batch-{id}'")), 1).await;
    let batch_rate = n as f64 / total.as_secs_f64();
    println!(
        "{singles} single notifications: {single_rate:.1}/s, {single_cpu:.1} ms of CPU each in \
         this process; {n} recipients in one batch: \
         accepted in {:.2}s, all sent in {:.1}s: {batch_rate:.0} recipients/s \
         ({runs} workflow runs), {:.1}x; this process used {:.1} ms of CPU per recipient",
        accepted.as_secs_f64(),
        total.as_secs_f64(),
        batch_rate / single_rate,
        cpu * 1000.0 / n as f64,
    );
}

/// CPU time this process has used (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `comm`.
    let ticks: f64 = fields
        .get(11..13)
        .map(|t| t.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / 100.0
}

/// A batch from a stored template, at high priority and scheduled: nothing goes before
/// `send_at`; then each recipient gets the template rendered with its own data, and each
/// member records the template and the priority.
#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_high_priority_batch_from_a_template_renders_each_recipient() {
    let app = twilio_only().await;
    let (code, template) = app
        .call(
            "POST",
            "/v1/templates",
            Some(&json!({"name": "promo", "default_locale": "en",
                         "variants": {"en": {"sms": {"text": "Hi {{ name }}, 20% off"}}}})),
        )
        .await;
    assert_eq!(code, 201, "{template}");
    let send_at = chrono::Utc::now() + chrono::Duration::seconds(4);
    let id = send_batch(
        &app,
        &json!({"channel": "sms", "template": {"id": "promo"}, "priority": "high",
                "send_at": send_at.to_rfc3339(),
                "recipients": [{"to": phone(1), "data": {"name": "Ana"}},
                               {"to": phone(2), "data": {"name": "Bia"}}]}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(chrono::Utc::now() < send_at, "the test itself was too slow");
    assert!(
        app.fakes.requests("twilio").is_empty(),
        "nothing before send_at"
    );

    wait_for_batch(&app, &id, WITHIN).await;
    let sent_at = chrono::Utc::now();
    assert!(sent_at >= send_at);
    let bodies: HashSet<String> = app
        .fakes
        .requests("twilio")
        .iter()
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(bodies.len(), 2);
    for name in ["Ana", "Bia"] {
        let text = format!("Body=Hi+{name}%2C+20%25+off");
        assert!(
            bodies.iter().any(|b| b.contains(&text)),
            "{text} in {bodies:?}"
        );
    }
    for member in members(&app, &id).await {
        let (_, n) = app.get_notification(member["id"].as_str().unwrap()).await;
        assert_eq!(n["status"], "sent", "{n}");
        assert_eq!(n["priority"], "high", "{n}");
        assert_eq!(n["template"]["id"], template["id"], "{n}");
        assert_eq!(n["template"]["version"], 1, "{n}");
        let sent = chrono::DateTime::parse_from_rfc3339(n["timestamps"]["sent"].as_str().unwrap())
            .unwrap();
        assert!(sent >= send_at, "sent {sent} before send_at {send_at}");
    }
}

/// A batch member is an ordinary notification for an operator: cancelled before the batch
/// reaches it, it is never sent; failed, it is redriven alone, through its own workflow.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_member_is_cancelled_and_redriven_like_any_notification() {
    let app = twilio_only().await;
    let mut body = sms_batch(3);
    body["send_at"] = json!((chrono::Utc::now() + chrono::Duration::seconds(4)).to_rfc3339());
    body["retry"] = json!({"max_attempts": 1});
    let id = send_batch(&app, &body).await;
    let listed = members(&app, &id).await;
    let cancelled = listed[0]["id"].as_str().unwrap().to_owned();
    let (code, n) = app
        .call(
            "POST",
            &format!("/v1/notifications/{cancelled}/cancel"),
            None,
        )
        .await;
    assert!(code < 300, "{code} {n}");
    assert_eq!(n["status"], "cancelled", "{n}");
    // One of the other two meets a 503 on its only attempt.
    app.fakes.fail_next("twilio", 1, Fault::status(503));

    let batch = wait_for_batch(&app, &id, WITHIN).await;
    assert_eq!(
        (
            count(&batch, "cancelled"),
            count(&batch, "failed"),
            count(&batch, "sent")
        ),
        (1, 1, 1),
        "{batch}"
    );
    let cancelled_to = listed[0]["to"].as_str().unwrap().replace('+', "%2B");
    assert!(
        app.fakes
            .requests("twilio")
            .iter()
            .all(|r| !r.body.contains(&cancelled_to)),
        "the cancelled member was sent"
    );

    let (_, failed) = app
        .call(
            "GET",
            &format!("/v1/batches/{id}/notifications?status=failed"),
            None,
        )
        .await;
    let failed = failed["data"][0]["id"].as_str().unwrap().to_owned();
    let (code, n) = app
        .call("POST", &format!("/v1/notifications/{failed}/retry"), None)
        .await;
    assert!(code < 300, "{code} {n}");
    let n = app.wait_for_status(&failed, "sent", WITHIN).await;
    assert_eq!(n["batch_id"], id.as_str(), "{n}");
    app.wait_for_workflow(&failed, "ExecutionStatus = 'Completed'")
        .await;
    let (_, n) = app.get_notification(&cancelled).await;
    assert_eq!(n["status"], "cancelled", "{n}");
}

/// A batch is a promotion's usual shape: an address on the suppression list (a bounce, a
/// STOP) is skipped, the rest go out.
#[tokio::test(flavor = "multi_thread")]
async fn suppressed_recipients_of_a_batch_are_skipped_and_the_rest_sent() {
    let app = twilio_only().await;
    let (code, _) = app
        .call(
            "POST",
            "/v1/suppressions",
            Some(&json!({"channel": "sms", "address": phone(1)})),
        )
        .await;
    assert_eq!(code, 201);
    let id = send_batch(&app, &sms_batch(3)).await;
    wait_for_batch(&app, &id, WITHIN).await;
    let mut statuses: Vec<(String, String)> = members(&app, &id)
        .await
        .iter()
        .map(|m| {
            (
                m["to"].as_str().unwrap_or_default().to_owned(),
                m["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            (phone(0), "sent".to_owned()),
            (phone(1), "skipped".to_owned()),
            (phone(2), "sent".to_owned()),
        ]
    );
    assert_eq!(app.fakes.requests("twilio").len(), 2);
}
