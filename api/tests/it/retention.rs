//! Retention: the worker keeps the Temporal Schedule in step with `[retention]`, and a run
//! of the retention workflow purges the personal data of old finished notifications (raw
//! row and API view), keeps their statuses and attempts, leaves recent ones alone, and
//! deletes old uploaded files from object storage.
//!
//! Each test starts its own worker with its own schedule id: the schedule lives in the
//! Temporal namespace every test shares.

use std::time::{Duration, Instant};

use chrono::Utc;
use pombo_config::Config;
use pombo_contract::{
    Priority,
    retention::{RetentionInput, RetentionOutcome},
    workflow::task_queue,
};
use pombo_fakes::Fault;
use pombo_store::entities::{
    file, notification, notification_attempt, notification_event, parked_callback,
};
use pombo_workflows::RetentionWorkflow;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::{Value, json};
use temporalio_client::{
    WorkflowGetResultOptions, WorkflowStartOptions,
    schedules::{ScheduleDescriptionAction, ScheduleOverlapPolicy},
};
use uuid::Uuid;

use crate::support::{
    AppOptions, InProcessWorker, TestApp, providers,
    s3::{LocalS3, png_bytes, upload},
    spawn_app_with, unique_email,
};

const WITHIN: Duration = Duration::from_secs(60);

/// An app with object storage and no worker of its own, and the config for one with a
/// schedule id of this test's own.
async fn app(s3: &LocalS3) -> (TestApp, Config) {
    let app = spawn_app_with(AppOptions {
        storage: Some(s3.storage()),
        // One SMS account, so a refused SMS fails rather than failing over.
        providers: Some(|fakes| providers::only(fakes, &["twilio", "telegram"])),
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let mut config = app.config.clone();
    config.retention.schedule_id = format!("pombo-retention-test-{}", Uuid::new_v4().simple());
    // `spawn_app` turns retention off for the other tests' workers.
    config.retention.days = 30;
    (app, config)
}

/// Sends an email and waits for it to be sent; its id and recipient.
async fn sent_email(app: &TestApp) -> (Uuid, String) {
    let to = unique_email("retention");
    let id = app
        .send(&json!({"channel": "email", "to": to,
            "content": {"subject": "Hi {{ name }}", "text": "Secret code {{ code }}"},
            "data": {"name": "Ana", "code": 4242}}))
        .await;
    app.wait_for_status(&id, "sent", WITHIN).await;
    // Its workflow still records the send in the timeline after the status shows it: aging
    // the row before that ends would be undone.
    app.wait_for_workflow(&id, "ExecutionStatus = 'Completed'")
        .await;
    (id.parse().unwrap(), to)
}

/// Moves a notification's times `days` into the past.
async fn age_notification(app: &TestApp, id: Uuid, days: i64) {
    let past = Utc::now() - chrono::Duration::days(days);
    notification::Entity::update_many()
        .col_expr(notification::Column::CreatedAt, Expr::value(past))
        .col_expr(notification::Column::UpdatedAt, Expr::value(past))
        .filter(notification::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
}

async fn age_file(app: &TestApp, id: Uuid, days: i64) {
    let past = Utc::now() - chrono::Duration::days(days);
    file::Entity::update_many()
        .col_expr(file::Column::CreatedAt, Expr::value(past))
        .filter(file::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
}

async fn raw(app: &TestApp, id: Uuid) -> notification::Model {
    notification::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

/// A connector's report with free text, as personal as reports get.
async fn report_delivered(app: &TestApp, id: Uuid, to: &str) {
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/v1/notifications/{id}/status"),
            Some(&json!({"status": "delivered", "reason": format!("handset of {to}")})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn upload_png(app: &TestApp) -> (Uuid, String) {
    let f = upload(app, "old.png", "image/png", png_bytes(500)).await;
    let id: Uuid = f["id"].as_str().unwrap().parse().unwrap();
    let key = file::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .object_key;
    (id, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_purges_old_finished_notifications_once_and_keeps_the_rest() {
    let s3 = LocalS3::start().await;
    let (app, config) = app(&s3).await;
    let _worker = InProcessWorker::start(config.clone());
    let (old_a, to_a) = sent_email(&app).await;
    let (old_b, _) = sent_email(&app).await;
    let (recent, to_recent) = sent_email(&app).await;
    report_delivered(&app, old_a, &to_a).await;
    age_notification(&app, old_a, 40).await;
    age_notification(&app, old_b, 31).await;
    let (old_file, old_key) = upload_png(&app).await;
    let (new_file, new_key) = upload_png(&app).await;
    age_file(&app, old_file, 40).await;
    let before = app.get_notification(&old_a.to_string()).await.1;

    // Batches of one: the workflow has to loop until a batch comes back short.
    let input = RetentionInput {
        days: 30,
        batch_size: 1,
    };
    let outcome = run_retention(&config, input.clone(), "purged_in_batches_concurrently").await;
    assert_eq!(
        outcome,
        RetentionOutcome {
            notifications: 2,
            files: 1,
            complete: true,
        }
    );

    // The raw row: personal columns blank, metadata and statuses kept.
    let row = raw(&app, old_a).await;
    assert!(row.purged_at.is_some());
    assert_eq!(row.recipient, "");
    assert_eq!(row.content, Value::Null);
    assert_eq!(
        (&row.data, &row.rendered, &row.fallback),
        (&None, &None, &None)
    );
    assert_eq!(row.status, "delivered");
    assert_eq!(row.attempts, 1);
    assert!(row.sent_at.is_some() && row.delivered_at.is_some());
    assert!(row.provider_message_id.is_some());
    let dump = format!("{row:?}");
    assert!(
        !dump.contains(&to_a) && !dump.contains("Secret code"),
        "{dump}"
    );
    let events = notification_event::Entity::find()
        .filter(notification_event::Column::NotificationId.eq(old_a))
        .all(&app.db)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.raw_status.is_some()));
    assert!(events.iter().all(|e| e.reason.is_none()), "{events:?}");
    let attempts = notification_attempt::Entity::find()
        .filter(notification_attempt::Column::NotificationId.eq(old_a))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "sent");

    // The API shows it purged, with its statuses, attempts and timeline.
    let (status, after) = app.get_notification(&old_a.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(after["to"], Value::Null, "{after}");
    assert!(after["purged_at"].is_string(), "{after}");
    for kept in ["status", "attempts", "timestamps", "provider_message_id"] {
        assert_eq!(after[kept], before[kept], "{kept}");
    }
    assert_eq!(after["attempt_log"].as_array().unwrap().len(), 1);
    assert_eq!(
        after["events"].as_array().unwrap().len(),
        before["events"].as_array().unwrap().len()
    );
    // Nothing left to send it again with.
    let (status, _) = app
        .call("POST", &format!("/v1/notifications/{old_a}/retry"), None)
        .await;
    assert_eq!(status, 409);
    assert!(raw(&app, old_b).await.purged_at.is_some());

    // The recent one is untouched.
    let row = raw(&app, recent).await;
    assert!(row.purged_at.is_none());
    assert!(row.rendered.is_some() && !row.recipient.is_empty());
    let (_, n) = app.get_notification(&recent.to_string()).await;
    assert_eq!(n["to"], to_recent.as_str());
    assert!(n.get("purged_at").is_none(), "{n}");

    // The old file's object is deleted and the file reads as gone; the new one stays.
    assert!(!s3.object_path(&old_key).exists());
    let (status, _) = app
        .call("GET", &format!("/v1/files/{old_file}"), None)
        .await;
    assert_eq!(status, 404);
    assert!(s3.object_path(&new_key).exists());
    let (status, _) = app
        .call("GET", &format!("/v1/files/{new_file}"), None)
        .await;
    assert_eq!(status, 200);

    // Idempotent: a second run finds nothing.
    let again = run_retention(&config, input, "nothing_left_concurrently").await;
    assert_eq!(
        (again.notifications, again.files, again.complete),
        (0, 0, true)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_keeps_the_schedule_in_step_with_its_configuration() {
    let s3 = LocalS3::start().await;
    let (app, mut config) = app(&s3).await;
    config.retention.every_secs = 7200;
    let worker = InProcessWorker::start(config.clone());
    let client = app.temporal().await;
    let handle = client.get_schedule_handle(config.retention.schedule_id.clone());

    let description = {
        let start = Instant::now();
        loop {
            match handle.describe(Default::default()).await {
                Ok(d) => break d,
                Err(e) => {
                    assert!(start.elapsed() < WITHIN, "no schedule: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    };
    let ScheduleDescriptionAction::StartWorkflow(action) = description.action() else {
        panic!("the schedule starts a workflow")
    };
    assert_eq!(action.workflow_type(), "RetentionWorkflow");
    assert_eq!(
        action.task_queue(),
        task_queue(&config.temporal.task_queue, Priority::Low),
        "purges run on the low-priority queue"
    );
    let schedule = description.raw().schedule.clone().unwrap();
    let every = schedule.spec.unwrap().interval[0].interval.unwrap();
    assert_eq!(every.seconds, 7200);
    // Skip: a run still going when the next is due is not overlapped.
    assert_eq!(schedule.policies.unwrap().overlap_policy, 1);

    // Triggered, the schedule's run purges on this worker's task queue.
    let (old, _) = sent_email(&app).await;
    age_notification(&app, old, 31).await;
    handle
        .trigger(ScheduleOverlapPolicy::AllowAll, Default::default())
        .await
        .unwrap();
    let start = Instant::now();
    while raw(&app, old).await.purged_at.is_none() {
        assert!(start.elapsed() < WITHIN, "the scheduled run purged nothing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // `[retention]` changed: the next worker to start updates the schedule in place.
    drop(worker);
    config.retention.every_secs = 3600;
    config.retention.days = 45;
    config.retention.batch_size = 77;
    let worker = InProcessWorker::start(config.clone());
    let start = Instant::now();
    let description = loop {
        let d = handle.describe(Default::default()).await.unwrap();
        let spec = d.raw().schedule.clone().unwrap().spec.unwrap();
        if spec.interval[0].interval.unwrap().seconds == 3600 {
            break d;
        }
        assert!(start.elapsed() < WITHIN, "the schedule was not updated");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ScheduleDescriptionAction::StartWorkflow(action) = description.action() else {
        panic!("the schedule starts a workflow")
    };
    assert_eq!(
        action.args::<RetentionInput>().await.unwrap(),
        Some(RetentionInput {
            days: 45,
            batch_size: 77,
        }),
        "the runs it starts purge by the new settings"
    );
    let schedule = description.raw().schedule.clone().unwrap();
    assert_eq!(
        schedule.spec.unwrap().interval.len(),
        1,
        "replaced, not added"
    );
    assert_eq!(schedule.policies.unwrap().overlap_policy, 1);

    // `days = 0`: keep forever, and the next worker to start deletes the schedule.
    drop(worker);
    config.retention.days = 0;
    let _keeper = InProcessWorker::start(config.clone());
    let start = Instant::now();
    while handle.describe(Default::default()).await.is_ok() {
        assert!(start.elapsed() < WITHIN, "the schedule is still there");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The rows a purge must get right besides a plain sent one: a failed notification (its
/// status alone would allow a redrive) with an attempt error and a fallback; rows still
/// pending (scheduled) or sending, however old; reports parked for a message never recorded.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_blanks_errors_and_fallbacks_spares_in_flight_rows_and_drops_old_parked_reports() {
    let s3 = LocalS3::start().await;
    let (app, config) = app(&s3).await;
    let _worker = InProcessWorker::start(config.clone());
    let phone = "+5511987654321";

    // Refused for good by the only SMS account: failed, with an error and a fallback.
    app.fakes.fail_next(
        "twilio",
        1,
        Fault {
            message: "The 'To' number is not a valid phone number.".into(),
            ..Fault::status(400)
        },
    );
    let failed = app
        .send(&json!({"channel": "sms", "to": phone,
            "content": {"text": "Code {{ code }}"}, "data": {"code": 4242},
            "retry": {"max_attempts": 1, "interval_secs": 1},
            "fallback": {"channel": "telegram", "to": "123456789",
                         "content": {"text": "Code {{ code }}"}}}))
        .await;
    app.wait_for_workflow(&failed, "ExecutionStatus = 'Failed'")
        .await;
    let failed: Uuid = failed.parse().unwrap();
    let before = raw(&app, failed).await;
    assert_eq!(before.status, "failed");
    assert!(before.last_error.is_some() && before.fallback.is_some());
    let attempt_errors = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            notification_attempt::Entity::find()
                .filter(notification_attempt::Column::NotificationId.eq(failed))
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.error)
                .collect::<Vec<_>>()
        }
    };
    assert!(
        attempt_errors(&app).await.iter().all(Option::is_some),
        "the fixture has attempt errors"
    );

    // In flight: one scheduled for tomorrow (pending), one sent and put back to `sending`.
    let tomorrow = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let pending = app
        .send(
            &json!({"channel": "sms", "to": phone, "content": {"text": "later"},
                      "send_at": tomorrow}),
        )
        .await;
    // Started (and dispatched) before it is aged, so nothing touches the row afterwards.
    app.wait_for_workflow(&pending, "ExecutionStatus = 'Running'")
        .await;
    let pending: Uuid = pending.parse().unwrap();
    let (sending, _) = sent_email(&app).await;
    notification::Entity::update_many()
        .col_expr(notification::Column::Status, Expr::value("sending"))
        .filter(notification::Column::Id.eq(sending))
        .exec(&app.db)
        .await
        .unwrap();
    for id in [failed, pending, sending] {
        age_notification(&app, id, 40).await;
    }

    // Reports parked for a message never recorded: one old, one recent.
    let park = |days_ago: i64| parked_callback::ActiveModel {
        id: Set(Uuid::now_v7()),
        provider: Set("twilio".into()),
        account_id: Set(None),
        tenant_id: Set(None),
        provider_message_id: Set(format!("SM{}", Uuid::new_v4().simple())),
        event: Set(json!({"status": "delivered", "to": phone})),
        received_at: Set(Utc::now() - chrono::Duration::days(days_ago)),
    };
    let old_parked = park(40).insert(&app.db).await.unwrap().id;
    let new_parked = park(1).insert(&app.db).await.unwrap().id;

    // Conversations: Ana wrote 40 days ago and yesterday; Bia only 40 days ago.
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let through = pombo_store::conversations::Through {
        tenant_id: tenant.id,
        channel: pombo_contract::Channel::Whatsapp,
        account: "whatsapp-cloud",
        account_id: None,
    };
    let write = |from: &str, id: &str, days_ago: i64| {
        let message = pombo_contract::conversation::InboundMessage {
            provider_message_id: id.to_owned(),
            from: from.to_owned(),
            from_name: None,
            kind: pombo_contract::conversation::MessageKind::Text,
            text: Some(format!("message {id}")),
            media: None,
            reply_to: None,
            occurred_at: None,
            change: None,
        };
        let db = app.db.clone();
        async move {
            let at = Utc::now() - chrono::Duration::days(days_ago);
            pombo_store::conversations::receive(&db, through, &message, at)
                .await
                .unwrap()
        }
    };
    let ana_old = write("+5511900000001", "wamid.ana-old", 40).await;
    let ana_new = write("+5511900000001", "wamid.ana-new", 1).await;
    let bia_old = write("+5511900000002", "wamid.bia-old", 40).await;

    let outcome = run_retention(
        &config,
        RetentionInput {
            days: 30,
            batch_size: 10,
        },
        "purged_failed_and_parked",
    )
    .await;
    assert_eq!(outcome.notifications, 1, "only the failed one: {outcome:?}");

    // The failed one: error texts and fallback gone, still `failed`.
    let row = raw(&app, failed).await;
    assert!(row.purged_at.is_some());
    assert_eq!(row.status, "failed");
    assert_eq!(row.last_error, None, "the last error is blanked");
    assert_eq!(row.fallback, None, "the fallback is blanked");
    assert!(
        attempt_errors(&app).await.iter().all(Option::is_none),
        "attempt errors are blanked"
    );
    // Failed, so only the purge refuses the redrive: nothing is left to send.
    let (status, body) = app
        .call("POST", &format!("/v1/notifications/{failed}/retry"), None)
        .await;
    assert_eq!(status, 409, "a purged notification was redriven: {body}");
    let (status, body) = app
        .call(
            "POST",
            "/v1/notifications/retry",
            Some(&json!({"channel": "sms"})),
        )
        .await;
    assert_eq!((status, &body["retried"]), (200, &json!(0)), "{body}");
    assert_eq!(raw(&app, failed).await.status, "failed");

    // In flight: whole, whatever their age.
    for (id, status) in [(pending, "pending"), (sending, "sending")] {
        let row = raw(&app, id).await;
        assert_eq!(row.status, status);
        assert!(row.purged_at.is_none(), "{status} was purged");
        assert!(
            !row.recipient.is_empty() && row.content != Value::Null,
            "{row:?}"
        );
    }

    // Only the old parked report is deleted.
    let parked = |id: Uuid| {
        let db = app.db.clone();
        async move {
            parked_callback::Entity::find_by_id(id)
                .one(&db)
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(!parked(old_parked).await, "the old parked report is kept");
    assert!(
        parked(new_parked).await,
        "the recent parked report is deleted"
    );

    // The old messages are gone, the recent one stays in Ana's conversation; Bia's
    // conversation is gone with her. (The telegram fallback's sent message stays too.)
    use pombo_store::entities::{contact, conversation, conversation_message};
    let messages: Vec<Uuid> = conversation_message::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert!(messages.contains(&ana_new.message_id), "{messages:?}");
    assert!(!messages.contains(&ana_old.message_id), "{messages:?}");
    assert!(!messages.contains(&bia_old.message_id), "{messages:?}");
    let conversations: Vec<Uuid> = conversation::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert!(
        conversations.contains(&ana_new.conversation_id),
        "{conversations:?}"
    );
    assert!(
        !conversations.contains(&bia_old.conversation_id),
        "{conversations:?}"
    );
    let contacts = contact::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(
        contacts.len(),
        conversations.len(),
        "no contact without a conversation"
    );
}

/// Starts a retention run on the test's task queue and waits for its outcome; its history is
/// the replay fixture `retention/<case>.json` when `POMBO_RECORD_HISTORIES` asks for it.
async fn run_retention(config: &Config, input: RetentionInput, case: &str) -> RetentionOutcome {
    let client = pombo_worker::connect_temporal(&config.temporal)
        .await
        .unwrap();
    let workflow_id = format!("retention-test-{}", Uuid::new_v4());
    let handle = client
        .start_workflow(
            RetentionWorkflow::run,
            input,
            WorkflowStartOptions::new(
                task_queue(&config.temporal.task_queue, Priority::Low),
                workflow_id.clone(),
            )
            .build(),
        )
        .await
        .unwrap();
    let outcome = tokio::time::timeout(
        WITHIN,
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await
    .expect("the run ends")
    .unwrap();
    crate::support::histories::record(config, "retention", case, &workflow_id).await;
    outcome
}
