//! The event log: what happens to a tenant's notifications, conversations and messages is
//! read back from `GET /v1/events` in order, from a cursor, none twice and none missed;
//! only the tenant's own; a cursor older than retention is told so (410), never a silent
//! gap; `GET /v1/event-types` lists every type with a schema and an example.

use std::time::Duration;

use pombo_fakes::whatsapp_cloud;
use serde_json::{Value, json};

use crate::support::{
    TestApp, email_request, providers::fakes_tenant_account, spawn_app, unique_email,
};

/// Every event of the tenant after `after`, page by page (`limit` each): the events, and
/// the cursor to read on from.
async fn read_all(app: &TestApp, key: &str, after: &str, limit: u64) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    let mut cursor = after.to_owned();
    loop {
        let (code, page) = app
            .call_as(
                key,
                "GET",
                &format!("/v1/events?after={cursor}&limit={limit}"),
                None,
            )
            .await;
        assert_eq!(code, 200, "{page}");
        let data = page["data"].as_array().unwrap().clone();
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        if data.is_empty() {
            assert_eq!(next, cursor, "an empty page keeps the cursor");
            return (events, cursor);
        }
        assert_eq!(next, data.last().unwrap()["cursor"].as_str().unwrap());
        events.extend(data);
        cursor = next;
    }
}

/// [`read_all`] until `done` holds of what was read (within ten seconds). On PostgreSQL an
/// event is readable once every transaction that began before it has ended, anywhere on the
/// server (other tests' included): a reader sees it a moment later, never out of order.
async fn read_until(
    app: &TestApp,
    after: &str,
    done: impl Fn(&[Value]) -> bool,
) -> (Vec<Value>, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut events = Vec::new();
    let mut cursor = after.to_owned();
    loop {
        let (more, next) = read_all(app, &app.api_key, &cursor, 50).await;
        events.extend(more);
        cursor = next;
        if done(&events) || std::time::Instant::now() > deadline {
            return (events, cursor);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The event types about `subject` (`data`'s id field `field`), in log order.
fn types_of(events: &[Value], field: &str, subject: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["data"][field] == subject)
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_is_an_event_read_in_order_from_a_cursor() {
    let app = spawn_app().await;
    let id = app.send(&email_request(&unique_email("events"))).await;
    app.wait_for_status(&id, "sent", Duration::from_secs(30))
        .await;

    // Once both are readable: page by page, one event at a time, in order, each once.
    read_until(&app, "0", |events| {
        types_of(events, "notification_id", &id).len() == 2
    })
    .await;
    let (events, cursor) = read_all(&app, &app.api_key, "0", 1).await;
    let cursors: Vec<pombo_store::event_log::Cursor> = events
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    assert_eq!(
        types_of(&events, "notification_id", &id),
        ["notification.accepted", "notification.sent"]
    );
    let sent = events
        .iter()
        .find(|e| e["type"] == "notification.sent")
        .unwrap();
    assert_eq!(sent["data"]["status"], "sent");
    assert!(sent["occurred_at"].is_string());

    // A person writes in: a conversation opens and a message arrives; closing it is an event.
    let path = fakes_tenant_account(&app, "whatsapp-cloud").await;
    let written = whatsapp_cloud::inbound_webhook(
        Some(pombo_fakes::accounts::WHATSAPP_APP_SECRET),
        pombo_fakes::accounts::WHATSAPP_PHONE_NUMBER_ID,
        ("5511987650001", "Ana"),
        "wamid.EVENTS1",
        chrono::Utc::now().timestamp(),
        ("text", json!({"body": "Oi"})),
    );
    let (code, _) = app.post_callback(&path, &written).await;
    assert_eq!(code, 200);
    let (more, cursor) = read_until(&app, &cursor, |events| events.len() >= 2).await;
    let kinds: Vec<&str> = more.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["conversation.opened", "message.received"],
        "{more:?}"
    );
    let conversation = more[0]["data"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(more[1]["data"]["conversation_id"], conversation.as_str());
    let (code, _) = app
        .call(
            "PATCH",
            &format!("/v1/conversations/{conversation}"),
            Some(&json!({"status": "closed"})),
        )
        .await;
    assert_eq!(code, 200);
    let (more, cursor) = read_until(&app, &cursor, |events| !events.is_empty()).await;
    assert_eq!(
        types_of(&more, "conversation_id", &conversation),
        ["conversation.closed"]
    );

    // Filtered by type.
    let (code, page) = app
        .call(
            "GET",
            "/v1/events?types=notification.sent,message.received",
            None,
        )
        .await;
    assert_eq!(code, 200, "{page}");
    let kinds: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["notification.sent", "message.received"]);

    // Another tenant reads none of them.
    let other = app.other_tenant_key().await;
    let (theirs, _) = read_all(&app, &other, "0", 50).await;
    assert!(theirs.is_empty(), "{theirs:?}");

    // Bad parameters are named.
    let (code, problem) = app
        .call(
            "GET",
            "/v1/events?after=-1&types=notification.teleported&limit=0",
            None,
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    let fields = crate::support::problem_fields(&problem);
    assert_eq!(fields, ["after", "types", "limit"]);

    // Retention deletes old events and says so to a cursor that fell behind it.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let purged = pombo_store::event_log::purge(&app.db, later).await.unwrap();
    assert!(purged >= 5, "{purged}");
    let (code, problem) = app.call("GET", "/v1/events?after=1", None).await;
    assert_eq!(code, 410, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no longer kept"),
        "{problem}"
    );
    // A reader that had read everything reads on, with nothing missed.
    let (code, page) = app
        .call("GET", &format!("/v1/events?after={cursor}"), None)
        .await;
    assert_eq!(
        (code, page["data"].as_array().unwrap().len()),
        (200, 0),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_type_has_a_schema_and_an_example() {
    let app = spawn_app().await;
    let (code, types) = app.call("GET", "/v1/event-types", None).await;
    assert_eq!(code, 200, "{types}");
    let types = types.as_array().unwrap();
    let names: Vec<&str> = types.iter().map(|t| t["type"].as_str().unwrap()).collect();
    for expected in [
        "notification.accepted",
        "notification.sent",
        "notification.delivered",
        "notification.read",
        "notification.failed",
        "notification.cancelled",
        "notification.fallback",
        "message.received",
        "message.updated",
        "conversation.opened",
        "conversation.closed",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    for t in types {
        assert_eq!(t["schema"]["type"], "object", "{t}");
        let required = t["schema"]["required"].as_array().unwrap();
        for field in required {
            let field = field.as_str().unwrap();
            assert!(t["example"]["data"].get(field).is_some(), "{field} in {t}");
        }
        assert_eq!(t["example"]["type"], t["type"]);
    }
}

/// On PostgreSQL ids are taken at insert and transactions commit in any order. A transaction
/// that began first (the older transaction id) but wrote its event last commits first,
/// while a younger one that wrote before it is still open: a reader must not move past the
/// younger one's event before it can see it. PostgreSQL only, whatever `POMBO_TEST_DB`.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_that_commits_after_a_later_one_was_read_is_still_read() {
    use pombo_store::{
        entities::event_log as row,
        event_log::{self, Cursor, Listed},
    };
    use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, TransactionTrait};

    let database = crate::support::database::fresh_postgres().await;
    let db = pombo_store::connect(&database.url).await.unwrap();
    pombo_store::migrate(&db).await.unwrap();
    let tenant = uuid::Uuid::now_v7();
    let event = |subject: uuid::Uuid| row::ActiveModel {
        tenant_id: Set(tenant),
        event_type: Set("notification.accepted".into()),
        subject_id: Set(subject),
        related_id: Set(None),
        status: Set(Some("pending".into())),
        occurred_at: Set(chrono::Utc::now()),
        ..Default::default()
    };
    let (older, younger) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());

    let first = db.begin().await.unwrap();
    first
        .execute_unprepared("SELECT pg_current_xact_id()")
        .await
        .unwrap();
    let second = db.begin().await.unwrap();
    event(younger).insert(&second).await.unwrap();
    event(older).insert(&first).await.unwrap();
    first.commit().await.unwrap();

    let read = |after| {
        let db = db.clone();
        async move {
            match event_log::list(&db, tenant, after, &[], 10).await.unwrap() {
                Listed::Events(events) => events,
                expired => panic!("{expired:?}"),
            }
        }
    };
    // What a follower sees waits for every older transaction of the cluster (the
    // snapshot's xmin), other tests' in other databases too: it polls, as followers do.
    let read_some = |after| async move {
        let start = std::time::Instant::now();
        loop {
            let events = read(after).await;
            if !events.is_empty() || start.elapsed() > std::time::Duration::from_secs(20) {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let seen = read_some(Cursor::START).await;
    assert_eq!(
        seen.iter().map(|e| e.subject_id).collect::<Vec<_>>(),
        [older]
    );
    second.commit().await.unwrap();
    let next = read_some(Cursor::of(seen.last().unwrap())).await;
    assert_eq!(
        next.iter().map(|e| e.subject_id).collect::<Vec<_>>(),
        [younger],
        "the event committed late was skipped"
    );
}
