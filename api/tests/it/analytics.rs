//! Delivery analytics (`GET /v1/analytics`) over real sends: counts per bucket and group,
//! rates, time to send; bad parameters named; another tenant's notifications not counted.

use std::time::Duration;

use serde_json::{Value, json};

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
