//! An accepted notification is never lost nor sent twice: not when a worker is killed
//! mid-flight, not when Temporal is unreachable at the moment the API accepts it.

use std::{collections::HashSet, sync::atomic::Ordering, time::Duration};

use serde_json::Value;

use pombo_contract::config::WorkflowStarts;
use pombo_store::notifications::claim_unstarted;

use crate::support::{
    AppOptions, InProcessWorker, WorkerProcess, email_request,
    maildev::mails_to,
    smtp::{self, Fault},
    spawn_app_with, unique_email,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_loses_nothing_and_sends_nothing_twice() {
    // SMTP connections are held open a while before they reach the mail server, so the
    // worker dies with sends in flight (connected, not yet accepted by the server).
    let slow = smtp::start(Fault::Delay(Duration::from_millis(1500))).await;
    let app = spawn_app_with(AppOptions {
        smtp_port: Some(slow.port),
        worker: false,
        // The worker process starts the workflows (and dies holding some of its claims).
        starts: Some(WorkflowStarts::Worker),
        // How long Temporal waits for a silent (dead) worker's attempt before retrying it.
        heartbeat_timeout_secs: 2,
        ..Default::default()
    })
    .await;
    let worker = WorkerProcess::spawn(&app.config);

    let recipients: Vec<String> = (0..10).map(|i| unique_email(&format!("kill{i}"))).collect();
    let mut ids = Vec::new();
    for to in &recipients {
        ids.push(app.send(&email_request(to)).await);
    }

    // SIGKILL (no graceful shutdown) once sends are under way.
    for _ in 0..600 {
        if slow.connections.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill();
    assert!(
        slow.connections.load(Ordering::SeqCst) > 0,
        "no send started before the kill"
    );
    let at_kill = statuses(&app, &ids).await;
    assert!(
        at_kill.iter().any(|s| s == "sending"),
        "no notification was in flight at the kill: {at_kill:?}"
    );
    assert!(at_kill.iter().all(|s| s != "sent"), "{at_kill:?}");

    let _restarted = WorkerProcess::spawn(&app.config);
    for id in &ids {
        let n = app
            .wait_for_status(id, "sent", Duration::from_secs(120))
            .await;
        let log = n["attempt_log"].as_array().unwrap();
        assert_eq!(log.last().unwrap()["outcome"], "sent", "{n}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (to, id) in recipients.iter().zip(&ids) {
        let (_, n) = app.get_notification(id).await;
        let mails = mails_to(to).await;
        let received: Vec<_> = mails
            .iter()
            .map(|m| (m["time"].clone(), m["headers"]["message-id"].clone()))
            .collect();
        assert_eq!(
            mails.len(),
            1,
            "{to} must get exactly one email; got {received:?}: {n}"
        );
    }
    // Attempts the dead worker left open are closed as `lost`, not left dangling.
    for id in &ids {
        let (_, n) = app.get_notification(id).await;
        for attempt in n["attempt_log"].as_array().unwrap() {
            assert_ne!(attempt["outcome"], "in_progress", "{n}");
        }
    }
}

async fn statuses(app: &crate::support::TestApp, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let (_, n) = app.get_notification(id).await;
        out.push(n["status"].as_str().unwrap().to_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_accepted_while_temporal_is_down_is_started_by_the_sweep() {
    // This API cannot reach Temporal: it still accepts, and stores the promise.
    let down = spawn_app_with(AppOptions {
        api_temporal: Some("http://127.0.0.1:1".into()),
        worker: false,
        dispatch_grace_secs: 0,
        ..Default::default()
    })
    .await;
    let to = unique_email("sweep");
    let id = down.send(&email_request(&to)).await;
    let (_, n) = down.get_notification(&id).await;
    assert_eq!(n["status"], "pending");
    assert_eq!(n["workflow"]["started"], false);
    let ready = down.http.get(down.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(
        ready.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("temporal")
    );

    // An API process that can reach Temporal (a restart, or another replica) sweeps it.
    let up = spawn_app_with(AppOptions {
        database_url: Some(down.config.database_url.clone()),
        dispatch_grace_secs: 0,
        ..Default::default()
    })
    .await;
    let n = up
        .wait_for_status(&id, "sent", Duration::from_secs(60))
        .await;
    assert_eq!(n["workflow"]["started"], true);
    let ready = up.http.get(up.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = mails_to(&to).await;
    assert_eq!(mails.len(), 1);
    let subjects: HashSet<_> = mails
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, HashSet::from(["Hello Ana"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_and_two_apis_share_the_work_and_one_worker_dying_loses_nothing() {
    // Every send is held at the SMTP server a while, so both workers hold sends in flight
    // when one of them is killed.
    let slow = smtp::start(Fault::Delay(Duration::from_millis(1000))).await;
    let options = || AppOptions {
        smtp_port: Some(slow.port),
        worker: false,
        // Both worker processes claim and start workflows; one dies holding claims.
        starts: Some(WorkflowStarts::Worker),
        heartbeat_timeout_secs: 2,
        ..Default::default()
    };
    let first = spawn_app_with(options()).await;
    // A second API process of the same deployment: same database, same task queue.
    let second = spawn_app_with(AppOptions {
        database_url: Some(first.config.database_url.clone()),
        task_queue: Some(first.config.temporal.task_queue.clone()),
        ..options()
    })
    .await;
    let survivor = WorkerProcess::spawn(&first.config);
    let doomed = WorkerProcess::spawn(&first.config);

    let recipients: Vec<String> = (0..24).map(|i| unique_email(&format!("two{i}"))).collect();
    let mut ids = Vec::new();
    for (i, to) in recipients.iter().enumerate() {
        // Half through each API process (each has its own key of the same tenant).
        let app = if i % 2 == 0 { &first } else { &second };
        ids.push(app.send(&email_request(to)).await);
    }
    for _ in 0..600 {
        if slow.connections.load(Ordering::SeqCst) >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill();
    let at_kill = statuses(&first, &ids).await;
    assert!(
        at_kill.iter().any(|s| s != "sent"),
        "everything was sent before the kill: {at_kill:?}"
    );

    // The surviving worker alone finishes the rest, with no restart of the other.
    for id in &ids {
        first
            .wait_for_status(id, "sent", Duration::from_secs(120))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (to, id) in recipients.iter().zip(&ids) {
        let mails = mails_to(to).await;
        let (_, n) = first.get_notification(id).await;
        let log = n["attempt_log"].as_array().unwrap();
        for attempt in log {
            assert_ne!(attempt["outcome"], "in_progress", "{n}");
        }
        // The kill lands at any moment of a send here (unlike the test above, which kills
        // before any server accepted a message), so it can fall in the one window SMTP
        // cannot close (README, "Crashes"): the server accepted, the worker died before its
        // commit, and the next attempt sends again. Only an attempt recorded as lost may
        // leave a second copy, and that copy carries the same Message-ID.
        let lost = log.iter().any(|a| a["outcome"] == "lost");
        let message_ids: HashSet<_> = mails
            .iter()
            .map(|m| m["headers"]["message-id"].to_string())
            .collect();
        match mails.len() {
            1 => {}
            2 if lost && message_ids.len() == 1 => {}
            _ => panic!(
                "{to} must get exactly one email, or two after a lost attempt: got {}: {n}",
                mails.len()
            ),
        }
    }
    drop(survivor);
}

/// `api.sweeps = false`: an API replica that leaves the sweeps to others never starts what
/// another process accepted; one with them on does.
#[tokio::test(flavor = "multi_thread")]
async fn only_api_processes_configured_for_sweeps_run_them() {
    let down = spawn_app_with(AppOptions {
        api_temporal: Some("http://127.0.0.1:1".into()),
        worker: false,
        dispatch_grace_secs: 0,
        ..Default::default()
    })
    .await;
    let id = down.send(&email_request(&unique_email("no-sweep"))).await;
    // A replica that reaches Temporal, with the sweeps off and no worker to start it.
    let quiet = spawn_app_with(AppOptions {
        database_url: Some(down.config.database_url.clone()),
        dispatch_grace_secs: 0,
        sweeps: false,
        worker: false,
        starts: Some(WorkflowStarts::Api),
        ..Default::default()
    })
    .await;
    // Several sweep intervals (1 s in tests).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, n) = quiet.get_notification(&id).await;
    assert_eq!(
        (n["status"].as_str(), &n["workflow"]["started"]),
        (Some("pending"), &Value::Bool(false)),
        "{n}"
    );

    let sweeping = spawn_app_with(AppOptions {
        database_url: Some(down.config.database_url.clone()),
        dispatch_grace_secs: 0,
        ..Default::default()
    })
    .await;
    let n = sweeping
        .wait_for_status(&id, "sent", Duration::from_secs(60))
        .await;
    assert_eq!(n["workflow"]["started"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_claim_unstarted_notifications_most_urgent_first_and_a_lapsed_claim_is_taken_again()
{
    let app = app_that_starts_nothing().await;
    let request = |to: &str, priority: &str| {
        let mut request = email_request(to);
        request["priority"] = priority.into();
        request
    };
    let (low_to, high_to) = (unique_email("claim-low"), unique_email("claim-high"));
    let low = app.send(&request(&low_to, "low")).await;
    let high = app.send(&request(&high_to, "high")).await;
    let ids = |claimed: Vec<pombo_store::notifications::Notification>| -> Vec<String> {
        claimed.iter().map(|n| n.id.to_string()).collect()
    };

    // The most urgent first; a claimed notification is nobody else's while the claim holds.
    let lease = Duration::from_secs(1);
    let first = claim_unstarted(&app.db, 1, lease, None).await.unwrap();
    assert_eq!(ids(first), vec![high.clone()]);
    let second = claim_unstarted(&app.db, 10, lease, None).await.unwrap();
    assert_eq!(ids(second), vec![low.clone()]);
    assert!(
        claim_unstarted(&app.db, 10, lease, None)
            .await
            .unwrap()
            .is_empty()
    );

    // The claimer never starts them (it died): once its claims run out, a worker's starter
    // takes them, and each is sent once.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let _worker = InProcessWorker::start(app.config.clone());
    for (id, to) in [(&high, &high_to), (&low, &low_to)] {
        let n = app
            .wait_for_status(id, "sent", Duration::from_secs(60))
            .await;
        assert_eq!(n["workflow"]["started"], true);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(mails_to(to).await.len(), 1, "{to}");
    }
    assert!(
        claim_unstarted(&app.db, 10, lease, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_records_the_start_of_a_notification_waiting_for_its_time() {
    // Its workflow waits on a timer and writes nothing until then, so only the starter
    // records the start: were it not recorded, the row would be claimed and started again
    // each time the claim ran out.
    let app = spawn_app_with(AppOptions {
        starts: Some(WorkflowStarts::Worker),
        ..Default::default()
    })
    .await;
    let mut request = email_request(&unique_email("later"));
    request["send_at"] = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339()
        .into();
    let id = app.send(&request).await;
    let mut n = Value::Null;
    for _ in 0..300 {
        n = app.get_notification(&id).await.1;
        if n["workflow"]["started"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(n["workflow"]["started"], true, "{n}");
    assert_eq!(n["status"], "pending", "{n}");
    let (status, _) = app
        .call("POST", &format!("/v1/notifications/{id}/cancel"), None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_left_open_by_a_dead_worker_is_closed_as_lost_by_the_next_one() {
    use pombo_store::notifications::{self, NewAttempt};

    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id: uuid::Uuid = app
            .send(&email_request(&unique_email("lost")))
            .await
            .parse()
            .unwrap();
        ids.push(id);
    }
    // Workers that died mid-send: each notification has an attempt still in progress.
    for &id in &ids {
        notifications::start_attempt(&app.db, id, 1, "email-smtp", "smtp")
            .await
            .unwrap();
    }
    // The next attempt of one alone, then of the other two as one batch group.
    notifications::start_attempt(&app.db, ids[0], 2, "email-smtp", "smtp")
        .await
        .unwrap();
    let group: Vec<NewAttempt> = ids[1..]
        .iter()
        .map(|&id| NewAttempt {
            id: uuid::Uuid::now_v7(),
            notification_id: id,
            attempt: 2,
            provider: "email-smtp",
            provider_kind: "smtp",
        })
        .collect();
    notifications::start_attempts(&app.db, &group)
        .await
        .unwrap();

    for &id in &ids {
        let attempts = notifications::attempts(&app.db, id).await.unwrap();
        let outcomes: Vec<(i32, &str)> = attempts
            .iter()
            .map(|a| (a.attempt, a.outcome.as_str()))
            .collect();
        assert_eq!(outcomes, [(1, "lost"), (2, "in_progress")], "{id}");
        assert!(attempts[0].finished_at.is_some());
        assert_eq!(notifications::get(&app.db, id).await.unwrap().attempts, 2);
    }
}

/// The Twilio fake as the only server-wide account, limited to `MILLI / 1000` sends a second.
fn twilio_limited<const MILLI: u32>(
    fakes: &pombo_fakes::Fakes,
) -> Vec<pombo_config::ProviderAccountConfig> {
    let mut accounts = crate::support::providers::only(fakes, &["twilio"]);
    accounts[0].rate_limit = Some(pombo_contract::providers::SendRateLimit {
        per_second: f64::from(MILLI) / 1000.0,
    });
    accounts
}

/// An app whose workflows a worker process runs and starts (and may be killed), on these
/// server-wide accounts.
async fn with_worker_process(
    providers: fn(&pombo_fakes::Fakes) -> Vec<pombo_config::ProviderAccountConfig>,
) -> (crate::support::TestApp, WorkerProcess) {
    let app = spawn_app_with(AppOptions {
        providers: Some(providers),
        worker: false,
        starts: Some(WorkflowStarts::Worker),
        heartbeat_timeout_secs: 2,
        ..Default::default()
    })
    .await;
    let worker = WorkerProcess::spawn(&app.config);
    (app, worker)
}

/// A send waiting for its rate-limit slot waits on a durable Temporal timer, not in a
/// worker: the worker killed meanwhile, the next one sends it once its slot comes, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_send_waiting_for_its_rate_limit_slot_survives_a_worker_restart() {
    let (app, worker) = with_worker_process(twilio_limited::<200>).await;
    let sms = |text: &str| serde_json::json!({"channel": "sms", "to": "+5511987654321", "content": {"text": text}});
    let first = app.send(&sms("first")).await;
    let second = app.send(&sms("second")).await;
    // One is sent at once; the other waits about 5 s for its slot.
    let ids = [first.clone(), second.clone()];
    for _ in 0..300 {
        if statuses(&app, &ids).await.iter().any(|s| s == "sent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at_kill = statuses(&app, &ids).await;
    assert_eq!(
        at_kill.iter().filter(|s| *s == "sent").count(),
        1,
        "{at_kill:?}"
    );
    worker.kill();
    assert_eq!(app.fakes.requests("twilio").len(), 1);

    let _next = WorkerProcess::spawn(&app.config);
    let mut sent_at = Vec::new();
    for id in &ids {
        let n = app
            .wait_for_status(id, "sent", Duration::from_secs(60))
            .await;
        sent_at.push(
            chrono::DateTime::parse_from_rfc3339(n["timestamps"]["sent"].as_str().unwrap())
                .unwrap(),
        );
    }
    sent_at.sort();
    assert!(
        sent_at[1] - sent_at[0] >= chrono::Duration::milliseconds(4500),
        "the second send kept to its slot across the restart: {sent_at:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.fakes.requests("twilio").len(), 2, "each sent once");
}

/// A batch chunk whose worker dies mid-way is run again by the next worker: the recipients
/// it had sent are left alone, the rest are sent, each exactly once. (A rate-limited
/// account spaces the sends, so the kill comes with some sent and some not.)
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_chunk_cut_off_by_a_killed_worker_is_finished_by_the_next_once() {
    let (app, worker) = with_worker_process(twilio_limited::<2000>).await;
    let phones: Vec<String> = (0..8).map(|i| format!("+55119876{i:05}")).collect();
    let body = serde_json::json!({
        "channel": "sms",
        "content": {"text": "Hi {{ name }}"},
        "recipients": phones.iter().enumerate()
            .map(|(i, to)| serde_json::json!({"to": to, "data": {"name": format!("R{i}")}}))
            .collect::<Vec<_>>(),
    });
    let (code, batch) = app
        .call("POST", "/v1/notifications/batch", Some(&body))
        .await;
    assert_eq!(code, 202, "{batch}");
    let id = batch["id"].as_str().unwrap().to_owned();

    // Killed once two sends are recorded: between two slots (500 ms apart), so no call is
    // in flight, and the ones recorded must not go again.
    for _ in 0..600 {
        let (_, batch) = app.call("GET", &format!("/v1/batches/{id}"), None).await;
        if batch["counts"]["sent"].as_i64() >= Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill();
    let before = app.fakes.requests("twilio").len();
    assert!(
        (2..8).contains(&before),
        "the kill came with {before} of 8 sent"
    );

    let _next = WorkerProcess::spawn(&app.config);
    let started = std::time::Instant::now();
    loop {
        let (_, batch) = app.call("GET", &format!("/v1/batches/{id}"), None).await;
        if batch["status"] == "completed" {
            assert_eq!(batch["counts"]["sent"], 8, "{batch}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "batch not completed: {batch}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let requests = app.fakes.requests("twilio");
    for to in &phones {
        let encoded = format!("To={}", to.replace('+', "%2B"));
        let sends = requests
            .iter()
            .filter(|r| r.body.contains(&encoded))
            .count();
        assert_eq!(
            sends, 1,
            "{to} must be sent exactly once (killed after {before})"
        );
    }
}

/// An app whose API cannot reach Temporal and leaves every start to the workers, of which
/// none runs: what it accepts stays unstarted, for a test to claim.
async fn app_that_starts_nothing() -> crate::support::TestApp {
    spawn_app_with(AppOptions {
        api_temporal: Some("http://127.0.0.1:1".into()),
        worker: false,
        starts: Some(WorkflowStarts::Worker),
        ..Default::default()
    })
    .await
}

/// Within a priority, stored notifications are claimed round-robin across tenants: a
/// tenant's backlog does not hold back another tenant's notifications accepted after it.
#[tokio::test(flavor = "multi_thread")]
async fn claims_take_tenants_in_turn_within_a_priority() {
    let app = app_that_starts_nothing().await;
    let other = app.other_tenant_key().await;
    // The big tenant's backlog first, then the small tenant's few, all of one priority.
    for i in 0..30 {
        app.send(&email_request(&unique_email(&format!("big{i}"))))
            .await;
    }
    let mut small = Vec::new();
    for i in 0..5 {
        let (code, n) = app
            .call_as(
                &other,
                "POST",
                "/v1/notifications",
                Some(&email_request(&unique_email(&format!("small{i}")))),
            )
            .await;
        assert_eq!(code, 202, "{n}");
        small.push(n["id"].as_str().unwrap().to_owned());
    }
    // A high-priority one still goes first.
    let mut urgent = email_request(&unique_email("urgent"));
    urgent["priority"] = "high".into();
    let urgent = app.send(&urgent).await;

    let claimed = claim_unstarted(&app.db, 11, Duration::from_secs(30), None)
        .await
        .unwrap();
    assert_eq!(claimed[0].id.to_string(), urgent);
    let big_tenant = claimed[0].tenant_id;
    let turns: Vec<&str> = claimed[1..]
        .iter()
        .map(|n| {
            if n.tenant_id == big_tenant {
                "big"
            } else {
                "small"
            }
        })
        .collect();
    assert_eq!(
        turns,
        [
            "big", "small", "big", "small", "big", "small", "big", "small", "big", "small"
        ],
        "the small tenant's are interleaved from its first"
    );
    let mut claimed_small: Vec<String> = claimed
        .iter()
        .filter(|n| n.tenant_id != big_tenant)
        .map(|n| n.id.to_string())
        .collect();
    claimed_small.sort();
    small.sort();
    assert_eq!(
        claimed_small, small,
        "all five of the small tenant's in the first ten"
    );
}

/// A tenant's weight is its share of the turns: weight 2 gets two starts to every one of a
/// weight-1 tenant within a priority, from its first.
#[tokio::test(flavor = "multi_thread")]
async fn a_heavier_tenant_gets_its_share_of_the_turns() {
    let app = app_that_starts_nothing().await;
    let other = app.other_tenant_key().await;
    let mut light_tenant = None;
    for i in 0..10 {
        let (code, n) = app
            .call_as(
                &other,
                "POST",
                "/v1/notifications",
                Some(&email_request(&unique_email(&format!("light{i}")))),
            )
            .await;
        assert_eq!(code, 202, "{n}");
        let id: uuid::Uuid = n["id"].as_str().unwrap().parse().unwrap();
        light_tenant = Some(
            pombo_store::notifications::get(&app.db, id)
                .await
                .unwrap()
                .tenant_id,
        );
    }
    let mut heavy_tenant = None;
    for i in 0..10 {
        let id = app
            .send(&email_request(&unique_email(&format!("heavy{i}"))))
            .await;
        let id: uuid::Uuid = id.parse().unwrap();
        heavy_tenant = Some(
            pombo_store::notifications::get(&app.db, id)
                .await
                .unwrap()
                .tenant_id,
        );
    }
    let heavy = heavy_tenant.unwrap();
    assert_ne!(Some(heavy), light_tenant);
    pombo_store::tenants::set_weight(&app.db, heavy, 2)
        .await
        .unwrap();

    let claimed = claim_unstarted(&app.db, 9, Duration::from_secs(30), None)
        .await
        .unwrap();
    let turns: Vec<&str> = claimed
        .iter()
        .map(|n| {
            if n.tenant_id == heavy {
                "heavy"
            } else {
                "light"
            }
        })
        .collect();
    // Each turn: the light tenant's one (it came first), then the heavy tenant's two.
    assert_eq!(
        turns,
        [
            "light", "heavy", "heavy", "light", "heavy", "heavy", "light", "heavy", "heavy"
        ],
        "two turns of the weight-2 tenant to each of the other's"
    );
}
