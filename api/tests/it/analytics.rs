//! Delivery analytics (`GET /v1/analytics`) over real sends: counts per bucket and group,
//! rates, time to send; bad parameters named; another tenant's notifications not counted;
//! hours that are over answered by roll-ups that follow later reports.

use std::time::Duration;

use chrono::Utc;
use pombo_contract::NotificationStatus;
use pombo_store::{
    analytics,
    entities::{analytics_hour, notification},
    event_log, notifications,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::Expr,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    AppOptions, email_request, expect, problem_fields, providers, spawn_app_with, unique_email,
};

const WITHIN: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn figures_count_each_channels_notifications_by_how_far_they_got() {
    let app = spawn_app_with(AppOptions {
        // One SMS account: a refused SMS fails rather than failing over.
        providers: Some(|fakes| providers::only(fakes, &["twilio"])),
        ..Default::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let sms =
            json!({"channel": "sms", "to": format!("+551198765432{i}"), "content": {"text": "hi"}});
        ids.push((app.send(&sms).await, "sent"));
    }
    // Twilio's test number for an invalid `To`: refused for good.
    let refused = json!({"channel": "sms", "to": "+15005550001", "content": {"text": "hi"}});
    ids.push((app.send(&refused).await, "failed"));
    ids.push((
        app.send(&email_request(&unique_email("analytics"))).await,
        "sent",
    ));
    for (id, status) in &ids {
        app.wait_for_status(id, status, WITHIN).await;
    }
    // Another tenant's notification is not counted.
    let other = app.other_tenant_key().await;
    let (code, _) = app
        .call_as(
            &other,
            "POST",
            "/v1/notifications",
            Some(&json!({"channel": "sms", "to": "+5511987654329", "content": {"text": "x"}})),
        )
        .await;
    assert_eq!(code, 202);

    let report = expect(&app, "GET", "/v1/analytics?group_by=channel", None, 200).await;
    assert_eq!(report["interval"], "hour");
    let series: Vec<&Value> = report["series"].as_array().unwrap().iter().collect();
    let of = |channel: &str| {
        *series
            .iter()
            .find(|s| s["group"] == channel)
            .unwrap_or_else(|| panic!("no {channel} series: {report}"))
    };
    let sms = of("sms");
    assert_eq!(
        sms["totals"],
        json!({"accepted": 4, "sent": 3, "delivered": 0, "read": 0, "failed": 1,
               "opened": 0, "clicked": 0, "skipped": 0, "tracked": 0}),
        "{sms}"
    );
    assert_eq!(sms["rates"]["failure"], 0.25);
    assert_eq!(sms["rates"]["delivery"], 0.0);
    assert_eq!(sms["time_to_send_ms"]["count"], 3);
    let p99 = sms["time_to_send_ms"]["p99"].as_f64().unwrap();
    assert!((0.0..60_000.0).contains(&p99), "{sms}");
    // The buckets add up to the totals.
    let bucketed: u64 = sms["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["accepted"].as_u64().unwrap())
        .sum();
    assert_eq!(bucketed, 4);
    assert_eq!(of("email")["totals"]["sent"], 1);

    // Every grouping is a valid query on this database.
    let providers = expect(&app, "GET", "/v1/analytics?group_by=provider", None, 200).await;
    let twilio = providers["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["group"] == "twilio")
        .unwrap_or_else(|| panic!("{providers}"));
    assert_eq!(twilio["totals"]["sent"], 3, "{providers}");
    // Failure reasons: the refused SMS's, as recorded on it; the rest have no reason.
    let (_, refused_view) = app.get_notification(&ids[3].0).await;
    let reason = refused_view["last_error"].as_str().unwrap().to_owned();
    let failures = expect(&app, "GET", "/v1/analytics?group_by=failure", None, 200).await;
    let groups: Vec<(Value, Value)> = failures["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["group"].clone(), s["totals"]["failed"].clone()))
        .collect();
    assert!(
        groups.contains(&(json!(reason), json!(1))),
        "{reason}: {failures}"
    );
    assert!(groups.contains(&(Value::Null, json!(0))), "{failures}");
    assert!(!reason.contains("15005550001"), "{reason}");
    for group in ["priority", "type", "template"] {
        expect(
            &app,
            "GET",
            &format!("/v1/analytics?group_by={group}&interval=day"),
            None,
            200,
        )
        .await;
    }

    // Not grouped: one series of everything, by the day.
    let report = expect(&app, "GET", "/v1/analytics?interval=day", None, 200).await;
    assert_eq!(report["series"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["series"][0]["totals"]["accepted"], 5);
    assert!(
        report["series"][0]["buckets"][0]["start"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );

    // A range with nothing in it.
    let empty = expect(
        &app,
        "GET",
        "/v1/analytics?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
        None,
        200,
    )
    .await;
    assert_eq!(empty["series"], json!([]));

    let problem = expect(
        &app,
        "GET",
        "/v1/analytics?interval=week&group_by=colour&from=yesterday",
        None,
        422,
    )
    .await;
    assert_eq!(
        problem_fields(&problem),
        ["interval", "group_by", "from"],
        "{problem}"
    );
    let problem = expect(
        &app,
        "GET",
        "/v1/analytics?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z",
        None,
        422,
    )
    .await;
    assert_eq!(problem_fields(&problem), ["from"], "{problem}");
}

/// Moves a sent notification `hours` into the past, its times to send kept.
async fn age(app: &crate::support::TestApp, id: Uuid, hours: i64) {
    let row = notification::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let back = |t: chrono::DateTime<Utc>| t - chrono::Duration::hours(hours);
    notification::Entity::update_many()
        .col_expr(
            notification::Column::CreatedAt,
            Expr::value(back(row.created_at)),
        )
        .col_expr(
            notification::Column::UpdatedAt,
            Expr::value(back(row.updated_at)),
        )
        .col_expr(
            notification::Column::SentAt,
            Expr::value(row.sent_at.map(back)),
        )
        .filter(notification::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn hours_that_are_over_come_from_roll_ups_that_follow_later_reports() {
    let app = spawn_app_with(AppOptions {
        providers: Some(|fakes| providers::only(fakes, &["twilio"])),
        ..Default::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let sms =
            json!({"channel": "sms", "to": format!("+551198765431{i}"), "content": {"text": "hi"}});
        let id = app.send(&sms).await;
        app.wait_for_status(&id, "sent", WITHIN).await;
        // Nothing of its workflow writes after this: the row can be aged.
        app.wait_for_workflow(&id, "ExecutionStatus = 'Completed'")
            .await;
        ids.push(id.parse::<Uuid>().unwrap());
    }
    // One sent three hours ago, two five hours ago: whole hours, answered by roll-ups.
    age(&app, ids[0], 3).await;
    age(&app, ids[1], 5).await;
    age(&app, ids[2], 5).await;
    let hour_of = |id: Uuid| {
        let app = &app;
        async move {
            let row = notification::Entity::find_by_id(id)
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            row.created_at.format("%Y-%m-%dT%H:00:00Z").to_string()
        }
    };
    let (three_ago, five_ago) = (hour_of(ids[0]).await, hour_of(ids[1]).await);

    let report = || async {
        let report = expect(&app, "GET", "/v1/analytics?group_by=channel", None, 200).await;
        let sms = report["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["group"] == "sms")
            .cloned()
            .unwrap_or_else(|| panic!("no sms series: {report}"));
        let bucket = |start: &str| {
            sms["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["start"] == start)
                .cloned()
                .unwrap_or_else(|| panic!("no bucket {start}: {sms}"))
        };
        (sms.clone(), bucket(&three_ago), bucket(&five_ago))
    };
    let (sms, three, five) = report().await;
    assert_eq!(sms["totals"]["accepted"], 3, "{sms}");
    assert_eq!(
        (three["sent"].clone(), five["sent"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(sms["time_to_send_ms"]["count"], 3, "{sms}");
    let rolled_up = analytics_hour::Entity::find()
        .filter(analytics_hour::Column::Grouping.eq("channel"))
        .all(&app.db)
        .await
        .unwrap();
    let hours: Vec<&str> = rolled_up.iter().map(|r| r.hour.as_str()).collect();
    assert!(
        hours.contains(&five_ago.as_str()) && hours.contains(&three_ago.as_str()),
        "the hours that are over are rolled up: {hours:?}"
    );

    // A delivery report for a message of five hours ago: its hour is counted again, at once,
    // even while (on PostgreSQL) a transaction left open elsewhere holds the event log's
    // settled end back.
    let open = if app.db.get_database_backend() == DbBackend::Postgres {
        let txn = app.db.begin().await.unwrap();
        txn.execute_unprepared("SELECT pg_current_xact_id()")
            .await
            .unwrap();
        Some(txn)
    } else {
        None
    };
    let delivered =
        notifications::transition(&app.db, ids[1], NotificationStatus::Delivered, |_| {})
            .await
            .unwrap();
    assert!(matches!(delivered, notifications::Transition::Applied(_)));
    let (sms, _, five) = report().await;
    assert_eq!(five["delivered"], 1, "{five}");
    assert_eq!(sms["totals"]["delivered"], 1, "{sms}");
    assert_eq!(sms["time_to_deliver_ms"]["count"], 1, "{sms}");
    if let Some(txn) = open {
        txn.rollback().await.unwrap();
    }

    // Read, and the events saying so deleted by retention before anyone asked: the roll-ups
    // cannot follow the log past its horizon and are counted again.
    notifications::transition(&app.db, ids[1], NotificationStatus::Read, |_| {})
        .await
        .unwrap();
    event_log::purge(&app.db, Utc::now() + chrono::Duration::minutes(1))
        .await
        .unwrap();
    let (sms, _, five) = report().await;
    assert_eq!(five["read"], 1, "{five}");

    // Roll-ups kept up to date answer what roll-ups counted afresh answer.
    let followed = expect(&app, "GET", "/v1/analytics?group_by=channel", None, 200).await;
    let tenant_id = notification::Entity::find_by_id(ids[0])
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .tenant_id;
    analytics::forget(&app.db, tenant_id).await.unwrap();
    let afresh = expect(&app, "GET", "/v1/analytics?group_by=channel", None, 200).await;
    assert_eq!(followed["series"], afresh["series"], "{sms}");
}
