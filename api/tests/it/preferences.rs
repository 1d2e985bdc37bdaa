//! Recipients in control: their preferences are read as each notification is about to go
//! (opt-outs end it `skipped` with the reason, quiet hours hold it on a durable timer in
//! their time zone, a change made while it waits is honoured), and the suppression list
//! fed by bounce reports skips later sends to the address until an operator lifts it.
//! (Daylight-saving nights are unit tests of `pombo_contract::preferences`; here the
//! windows are seconds long, read in a real zone.)

use std::time::Duration;

use chrono::{Timelike, Utc};
use pombo_contract::config::Secret;
use pombo_providers::{ProviderSettings, SendgridSettings};
use serde_json::{Value, json};

use crate::support::{
    AppOptions, TestApp, expect, problem_fields, providers, spawn_app_with, unique_email,
};

const WITHIN: Duration = Duration::from_secs(60);

async fn sms_app() -> TestApp {
    spawn_app_with(AppOptions {
        providers: Some(|fakes| providers::only(fakes, &["twilio"])),
        ..Default::default()
    })
    .await
}

/// A profile with a phone number in `zone`; its id.
async fn profile(app: &TestApp, zone: &str) -> String {
    let created = expect(
        app,
        "POST",
        "/v1/recipients",
        Some(json!({"phone": "+5511987654321", "time_zone": zone})),
        201,
    )
    .await;
    created["id"].as_str().unwrap().to_owned()
}

async fn set_preferences(app: &TestApp, recipient: &str, preferences: Value) {
    let path = format!("/v1/recipients/{recipient}/preferences");
    expect(app, "PUT", &path, Some(preferences), 200).await;
}

fn sms_to(recipient: &str, text: &str, kind: &str) -> Value {
    json!({"channel": "sms", "recipient": {"id": recipient}, "content": {"text": text},
           "type": kind})
}

/// The notification's timeline entries from the preferences: (status, raw status, reason).
fn from_preferences(n: &Value) -> Vec<(String, String, String)> {
    n["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "preferences")
        .map(|e| {
            let text = |field: &str| e[field].as_str().unwrap_or_default().to_owned();
            (text("status"), text("raw_status"), text("reason"))
        })
        .collect()
}

/// Twilio requests whose body carries `text`.
fn sms_with(app: &TestApp, text: &str) -> usize {
    app.fakes
        .requests("twilio")
        .iter()
        .filter(|r| r.body.contains(text))
        .count()
}

/// A quiet window around now in `zone`: began a minute ago, ends `secs` from now (the
/// wall clock of the zone, to the second).
fn quiet_for(zone: &str, secs: i64) -> (Value, chrono::DateTime<Utc>) {
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let now = Utc::now();
    let end = now + chrono::Duration::seconds(secs);
    let end = end.with_nanosecond(0).unwrap() + chrono::Duration::seconds(1);
    let local = |at: chrono::DateTime<Utc>| at.with_timezone(&tz).format("%H:%M:%S").to_string();
    let start = local(now - chrono::Duration::minutes(1));
    (
        json!({"categories": {"promo": {"quiet_hours": {"start": start, "end": local(end)}}}}),
        end,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn preferences_are_kept_per_recipient_and_tenant_and_bad_fields_are_named() {
    let app = sms_app().await;
    let id = profile(&app, "America/Sao_Paulo").await;
    let path = format!("/v1/recipients/{id}/preferences");
    assert_eq!(expect(&app, "GET", &path, None, 200).await, json!({}));
    let choice = json!({
        "channels": {"sms": {"enabled": true, "categories": {"promo": false}}},
        "categories": {"promo": {"quiet_hours": {"start": "22:00", "end": "08:00"}},
                       "newsletter": {"max_per_day": 1, "over_cap": "defer"}},
        "unsubscribed": false,
    });
    set_preferences(&app, &id, choice.clone()).await;
    assert_eq!(expect(&app, "GET", &path, None, 200).await, choice);
    let shown = expect(&app, "GET", &format!("/v1/recipients/{id}"), None, 200).await;
    assert_eq!(shown["time_zone"], "America/Sao_Paulo");

    // Every bad field named, in the document's own paths.
    let bad = expect(
        &app,
        "PUT",
        &path,
        Some(json!({"categories": {"Promo!": {"max_per_day": 0}, "ok": {"max_per_day": 0}}})),
        422,
    )
    .await;
    assert_eq!(
        problem_fields(&bad),
        [
            "categories.Promo!",
            "categories.Promo!.max_per_day",
            "categories.ok.max_per_day"
        ]
    );
    let bad = expect(
        &app,
        "PUT",
        &path,
        Some(json!({"categories": {"promo": {"quiet_hours": {"start": "25:00", "end": "08:00"}}}})),
        422,
    )
    .await;
    assert!(
        problem_fields(&bad)[0].starts_with("categories.promo.quiet_hours"),
        "{bad}"
    );
    let bad = expect(
        &app,
        "PUT",
        &path,
        Some(json!({"channels": {"fax": {}}})),
        422,
    )
    .await;
    assert!(problem_fields(&bad)[0].starts_with("channels"), "{bad}");
    let bad = expect(
        &app,
        "PATCH",
        &format!("/v1/recipients/{id}"),
        Some(json!({"time_zone": "Mars/Olympus"})),
        422,
    )
    .await;
    assert_eq!(problem_fields(&bad), ["time_zone"]);
    let bad = expect(
        &app,
        "POST",
        "/v1/notifications",
        Some(
            json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "x"},
                    "category": "Not A Category"}),
        ),
        422,
    )
    .await;
    assert_eq!(problem_fields(&bad), ["category"]);
    // Unchanged by the refusals.
    assert_eq!(expect(&app, "GET", &path, None, 200).await, choice);

    // The tenant's defaults.
    let defaults =
        json!({"categories": {"promo": {"delivery_window": {"start": "09:00", "end": "20:00"}}}});
    assert_eq!(
        expect(&app, "GET", "/v1/preferences", None, 200).await,
        json!({})
    );
    expect(&app, "PUT", "/v1/preferences", Some(defaults.clone()), 200).await;
    assert_eq!(
        expect(&app, "GET", "/v1/preferences", None, 200).await,
        defaults
    );

    // Another tenant sees neither.
    let other = app.other_tenant_key().await;
    let (code, _) = app.call_as(&other, "GET", &path, None).await;
    assert_eq!(code, 404);
    let (code, theirs) = app.call_as(&other, "GET", "/v1/preferences", None).await;
    assert_eq!((code, theirs), (200, json!({})));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_opted_out_channel_or_category_is_skipped_with_its_reason_and_others_go_out() {
    let app = sms_app().await;
    let id = profile(&app, "UTC").await;
    set_preferences(
        &app,
        &id,
        json!({"channels": {"sms": {"categories": {"promo": false}}},
               "categories": {"newsletter": {"enabled": false}}}),
    )
    .await;

    let promo = app.send(&sms_to(&id, "promo-out", "promo")).await;
    let n = app.wait_for_status(&promo, "skipped", WITHIN).await;
    let entries = from_preferences(&n);
    assert_eq!(entries.len(), 1, "{n}");
    assert_eq!(entries[0].0, "skipped");
    assert_eq!(entries[0].1, "opted_out");
    assert!(entries[0].2.contains("`promo` on `sms`"), "{n}");
    assert_eq!(n["attempts"], 0);
    app.wait_for_workflow(&promo, "ExecutionStatus = 'Completed'")
        .await;
    app.record_history("skipped_by_preferences", &promo).await;

    let mut newsletter = sms_to(&id, "newsletter-out", "promo");
    newsletter["category"] = json!("newsletter");
    let newsletter = app.send(&newsletter).await;
    let n = app.wait_for_status(&newsletter, "skipped", WITHIN).await;
    assert!(
        from_preferences(&n)[0]
            .2
            .contains("opted out of `newsletter`"),
        "{n}"
    );

    // A confirmation is another category: it goes.
    let confirmation = app
        .send(&sms_to(&id, "confirmation-in", "confirmation"))
        .await;
    app.wait_for_status(&confirmation, "sent", WITHIN).await;
    assert_eq!(sms_with(&app, "confirmation-in"), 1);
    assert_eq!(
        sms_with(&app, "promo-out") + sms_with(&app, "newsletter-out"),
        0
    );

    // `skipped` is on the event log, and is not a failure to redrive.
    let (code, failed) = app
        .call("GET", "/v1/notifications?status=failed", None)
        .await;
    assert_eq!(code, 200, "{failed}");
    assert_eq!(failed["data"].as_array().unwrap().len(), 0, "{failed}");
    let events = expect(
        &app,
        "GET",
        "/v1/events?types=notification.skipped",
        None,
        200,
    )
    .await;
    let subjects: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["data"]["notification_id"].as_str())
        .collect();
    assert!(subjects.contains(&promo.as_str()), "{events}");
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_hours_hold_a_notification_until_they_end_in_the_recipients_zone_and_alerts_pass() {
    let app = sms_app().await;
    let zone = "Europe/Lisbon";
    let id = profile(&app, zone).await;
    let (mut quiet, end) = quiet_for(zone, 4);
    // Alerts would bypass quiet hours anyway; give them the same to show they do.
    quiet["categories"]["alert"] = quiet["categories"]["promo"].clone();
    set_preferences(&app, &id, quiet).await;

    let promo = app.send(&sms_to(&id, "quiet-promo", "promo")).await;
    let alert = app.send(&sms_to(&id, "quiet-alert", "alert")).await;
    app.wait_for_status(&alert, "sent", WITHIN).await;

    let n = app.wait_for_status(&promo, "sent", WITHIN).await;
    let received = app
        .fakes
        .requests("twilio")
        .into_iter()
        .find(|r| r.body.contains("quiet-promo"))
        .expect("the promotion went out after the quiet hours");
    assert!(received.at >= end, "sent at {} before {end}", received.at);
    let deferred: Vec<_> = from_preferences(&n)
        .into_iter()
        .filter(|(_, raw, _)| raw == "deferred")
        .collect();
    assert_eq!(deferred.len(), 1, "{n}");
    assert!(deferred[0].2.contains("quiet hours"), "{n}");
    assert!(deferred[0].2.contains(zone), "{n}");
    assert!(
        deferred[0].2.contains(&end.to_rfc3339()),
        "waits until the end of the quiet hours, {end}: {n}"
    );
    app.wait_for_workflow(&promo, "ExecutionStatus = 'Completed'")
        .await;
    app.record_history("deferred_by_quiet_hours", &promo).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn preferences_changed_while_a_notification_waits_are_honoured_when_it_wakes() {
    let app = sms_app().await;
    let zone = "America/Sao_Paulo";
    let id = profile(&app, zone).await;
    let (quiet, _) = quiet_for(zone, 5);
    set_preferences(&app, &id, quiet.clone()).await;
    let promo = app.send(&sms_to(&id, "changed-mind", "promo")).await;
    // Waiting: its deferral is on the timeline.
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let (_, n) = app.get_notification(&promo).await;
        if from_preferences(&n)
            .iter()
            .any(|(_, raw, _)| raw == "deferred")
        {
            assert_eq!(n["status"], "pending", "{n}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never deferred: {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Meanwhile the person turns promotions off.
    let mut off = quiet;
    off["categories"]["promo"]["enabled"] = json!(false);
    set_preferences(&app, &id, off).await;

    let n = app.wait_for_status(&promo, "skipped", WITHIN).await;
    assert!(
        from_preferences(&n)
            .iter()
            .any(|(status, raw, _)| status == "skipped" && raw == "opted_out"),
        "{n}"
    );
    assert_eq!(sms_with(&app, "changed-mind"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daily_cap_skips_what_is_over_it() {
    let app = sms_app().await;
    let id = profile(&app, "UTC").await;
    set_preferences(
        &app,
        &id,
        json!({"categories": {"promo": {"max_per_day": 2}}}),
    )
    .await;
    for i in 0..2 {
        let sent = app
            .send(&sms_to(&id, &format!("capped-{i}"), "promo"))
            .await;
        app.wait_for_status(&sent, "sent", WITHIN).await;
    }
    let third = app.send(&sms_to(&id, "capped-2", "promo")).await;
    let n = app.wait_for_status(&third, "skipped", WITHIN).await;
    assert_eq!(from_preferences(&n)[0].1, "frequency_cap", "{n}");
    assert_eq!(sms_with(&app, "capped-2"), 0);
}

/// A notification its digest cannot take (the digest template has no variant for its
/// channel) goes out on its own, but still under the recipient's daily cap.
#[tokio::test(flavor = "multi_thread")]
async fn one_that_cannot_be_digested_still_counts_against_the_cap() {
    let app = sms_app().await;
    let id = profile(&app, "UTC").await;
    expect(
        &app,
        "POST",
        "/v1/templates",
        Some(json!({
            "name": "email-only-digest",
            "default_locale": "en",
            "variants": {"en": {"email": {"subject": "{{ count }} offers", "text": "x"}}}
        })),
        201,
    )
    .await;
    set_preferences(
        &app,
        &id,
        json!({"categories": {"promo": {
            "max_per_day": 1,
            "digest": {"template": "email-only-digest", "window_secs": 60}
        }}}),
    )
    .await;
    let first = app.send(&sms_to(&id, "undigested-0", "promo")).await;
    app.wait_for_status(&first, "sent", WITHIN).await;
    let second = app.send(&sms_to(&id, "undigested-1", "promo")).await;
    let n = app.wait_for_status(&second, "skipped", WITHIN).await;
    assert_eq!(from_preferences(&n)[0].1, "frequency_cap", "{n}");
    assert_eq!(sms_with(&app, "undigested-1"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bounce_report_suppresses_the_address_until_an_operator_lifts_it() {
    let app = spawn_app_with(AppOptions {
        providers: Some(|_| Vec::new()),
        smtp_port: Some(9),
        ..Default::default()
    })
    .await;
    let settings = ProviderSettings::Sendgrid(SendgridSettings {
        api_key: Secret::new("SG.test"),
        from: "noreply@pombo.test".into(),
        webhook_public_key: Some(pombo_fakes::sendgrid::TEST_EVENT_WEBHOOK_PUBLIC_KEY_B64.into()),
        base_url: app.fakes.base_url("sendgrid"),
    });
    let callback = providers::tenant_account(&app, "sendgrid-own", &settings).await;
    let to = unique_email("bounced");
    let email = json!({"channel": "email", "to": to, "content": {"subject": "Hi", "text": "x"}});

    let first = app.send(&email).await;
    let n = app.wait_for_status(&first, "sent", WITHIN).await;
    let message_id = n["provider_message_id"].as_str().unwrap().to_owned();
    let now = Utc::now().timestamp();
    let bounce = pombo_fakes::sendgrid::event_webhook(
        Some(pombo_fakes::sendgrid::TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM),
        &[pombo_fakes::sendgrid::event(&message_id, "bounce", now)],
    );
    let (code, answer) = app.post_callback(&callback, &bounce).await;
    assert_eq!(code, 200, "{answer}");
    app.wait_for_status(&first, "failed", WITHIN).await;

    let list = expect(&app, "GET", "/v1/suppressions?channel=email", None, 200).await;
    let entries = list["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{list}");
    assert_eq!(entries[0]["address"], to.as_str());
    assert_eq!(entries[0]["reason"], "hard_bounce");
    assert_eq!(entries[0]["notification_id"], first.as_str());
    let entry = entries[0]["id"].as_str().unwrap().to_owned();
    // The same address written otherwise is the same address.
    let mut shouted = email.clone();
    shouted["to"] = json!(to.to_uppercase());
    let second = app.send(&shouted).await;
    let n = app.wait_for_status(&second, "skipped", WITHIN).await;
    let entries = from_preferences(&n);
    assert_eq!(entries[0].1, "suppressed", "{n}");
    assert!(entries[0].2.contains("hard_bounce"), "{n}");
    let sends = |app: &TestApp| app.fakes.requests("sendgrid").len();
    assert_eq!(sends(&app), 1);
    // Another tenant's list is its own.
    let other = app.other_tenant_key().await;
    let (_, theirs) = app.call_as(&other, "GET", "/v1/suppressions", None).await;
    assert_eq!(theirs["data"], json!([]));
    let (code, _) = app
        .call_as(&other, "DELETE", &format!("/v1/suppressions/{entry}"), None)
        .await;
    assert_eq!(code, 404);

    expect(
        &app,
        "DELETE",
        &format!("/v1/suppressions/{entry}"),
        None,
        204,
    )
    .await;
    let third = app.send(&email).await;
    app.wait_for_status(&third, "sent", WITHIN).await;
    assert_eq!(sends(&app), 2);

    // By hand, with every bad field named.
    let bad = expect(
        &app,
        "POST",
        "/v1/suppressions",
        Some(json!({"channel": "sms", "address": "not a number"})),
        422,
    )
    .await;
    assert_eq!(problem_fields(&bad), ["address"]);
    expect(
        &app,
        "POST",
        "/v1/suppressions",
        Some(json!({"channel": "email", "address": to, "detail": "mailbox closed"})),
        201,
    )
    .await;
    expect(
        &app,
        "POST",
        "/v1/suppressions",
        Some(json!({"channel": "email", "address": to})),
        200,
    )
    .await;
}

/// The one-click link of an email as maildev received it, and its `List-Unsubscribe-Post`.
async fn unsubscribe_headers(to: &str) -> (Option<String>, Option<String>) {
    use crate::support::maildev::{header, wait_for_mails};
    let mails = wait_for_mails(to, 1, WITHIN).await;
    let mail = mails.last().unwrap();
    let link = header(mail, "List-Unsubscribe").await.map(|v| {
        v.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned()
    });
    (link, header(mail, "List-Unsubscribe-Post").await)
}

/// A profile with only `to` as its email address; its id.
async fn email_profile(app: &TestApp, to: &str) -> String {
    let created = expect(
        app,
        "POST",
        "/v1/recipients",
        Some(json!({"email": to})),
        201,
    )
    .await;
    created["id"].as_str().unwrap().to_owned()
}

fn promo_email(recipient: Value) -> Value {
    let mut email = json!({"channel": "email", "type": "promo",
                           "content": {"subject": "Sale", "text": "50% off"}});
    email
        .as_object_mut()
        .unwrap()
        .extend(recipient.as_object().unwrap().clone());
    email
}

#[tokio::test(flavor = "multi_thread")]
async fn one_click_unsubscribe_turns_off_the_emails_category_and_alerts_carry_no_link() {
    let app = crate::support::spawn_app().await;
    let to = unique_email("one-click");
    let id = email_profile(&app, &to).await;

    let promo = app
        .send(&promo_email(json!({"recipient": {"id": id}})))
        .await;
    app.wait_for_status(&promo, "sent", WITHIN).await;
    let (link, post) = unsubscribe_headers(&to).await;
    let link = link.expect("a promotion carries List-Unsubscribe");
    assert_eq!(post.as_deref(), Some("List-Unsubscribe=One-Click"));
    assert!(link.starts_with(&app.url("/v1/unsubscribe/")), "{link}");

    // A forged or altered link is refused, and changes nothing.
    for bad in [
        format!("{link}x"),
        link.replace("~promo~", "~alert~"),
        app.url("/v1/unsubscribe/nothing"),
    ] {
        let response = app
            .http
            .post(&bad)
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{bad}");
    }
    let prefs_path = format!("/v1/recipients/{id}/preferences");
    assert_eq!(expect(&app, "GET", &prefs_path, None, 200).await, json!({}));

    // What a mailbox provider's button sends (RFC 8058).
    let response = app
        .http
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("no longer get `promo`")
    );
    assert_eq!(
        expect(&app, "GET", &prefs_path, None, 200).await,
        json!({"categories": {"promo": {"enabled": false}}})
    );
    let n = app.get_notification(&promo).await.1;
    assert!(
        crate::support::timeline(&n).contains(&("sent".into(), "recipient".into())),
        "the unsubscription is on the timeline: {n}"
    );

    let next = app
        .send(&promo_email(json!({"recipient": {"id": id}})))
        .await;
    app.wait_for_status(&next, "skipped", WITHIN).await;
    // An alert still goes, without a link.
    let mut alert = promo_email(json!({"recipient": {"id": id}}));
    alert["type"] = json!("alert");
    alert["content"]["subject"] = json!("Your code");
    let alert = app.send(&alert).await;
    app.wait_for_status(&alert, "sent", WITHIN).await;
    let mails = crate::support::maildev::wait_for_mails(&to, 2, WITHIN).await;
    let code = mails
        .iter()
        .find(|m| m["subject"] == "Your code")
        .expect("the alert arrived");
    assert_eq!(
        crate::support::maildev::header(code, "List-Unsubscribe").await,
        None,
        "an alert carries no unsubscribe link"
    );

    // A bare address has no profile: it goes on the suppression list.
    let bare = unique_email("bare");
    let promo = app.send(&promo_email(json!({"to": bare}))).await;
    app.wait_for_status(&promo, "sent", WITHIN).await;
    let (link, _) = unsubscribe_headers(&bare).await;
    let response = app
        .http
        .post(link.unwrap())
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let list = expect(&app, "GET", "/v1/suppressions", None, 200).await;
    assert_eq!(list["data"][0]["address"], bare.as_str(), "{list}");
    assert_eq!(list["data"][0]["reason"], "unsubscribed");
    let again = app.send(&promo_email(json!({"to": bare}))).await;
    app.wait_for_status(&again, "skipped", WITHIN).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_unsubscribe_page_works_in_a_browser_without_an_account() {
    use crate::support::webdriver::{self, Browser};
    let Some((chromium, driver)) = webdriver::browser() else {
        return;
    };
    let app = crate::support::spawn_app().await;
    let to = unique_email("page");
    let id = email_profile(&app, &to).await;
    let mut newsletter = promo_email(json!({"recipient": {"id": id}}));
    newsletter["category"] = json!("newsletter");
    let sent = app.send(&newsletter).await;
    app.wait_for_status(&sent, "sent", WITHIN).await;
    let (link, _) = unsubscribe_headers(&to).await;
    let link = link.unwrap();
    let prefs_path = format!("/v1/recipients/{id}/preferences");

    let browser = Browser::start(&chromium, &driver).await;
    browser.goto(&link).await;
    browser
        .wait_until("the person's standing", |dom| {
            dom.contains("You get <b>newsletter</b> messages")
        })
        .await;
    browser.click("#everything").await;
    browser
        .wait_until("the confirmation", |dom| dom.contains("id=\"done\""))
        .await;
    assert!(
        browser
            .text("#standing")
            .await
            .contains("everything but alerts")
    );
    assert_eq!(
        expect(&app, "GET", &prefs_path, None, 200).await,
        json!({"unsubscribed": true})
    );
    let shot = crate::support::servers::repo_root().join("target/test-output/unsubscribe-page.png");
    browser.screenshot(&shot).await;

    browser.click("#resubscribe").await;
    browser
        .wait_until("the way back", |dom| {
            dom.contains("You will get `newsletter` messages again")
        })
        .await;
    assert_eq!(expect(&app, "GET", &prefs_path, None, 200).await, json!({}));
    let next = app.send(&newsletter).await;
    app.wait_for_status(&next, "sent", WITHIN).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_who_texts_stop_gets_nothing_more_on_that_channel_until_start() {
    let app = sms_app().await;
    let base = format!("http://{}/twilio", app.fakes.addr);
    let path = providers::tenant_account(&app, "tw", &providers::fake_twilio(&base)).await;
    let person = "+5511987650009";
    let text = |sid: &str, body: &str| {
        pombo_fakes::twilio::inbound_message(
            &"fedcba9876543210".repeat(2),
            &app.url(&path),
            &format!("AC{}", "0123456789abcdef".repeat(2)),
            sid,
            (person, "+15005550006"),
            body,
            &[],
        )
    };
    let (code, answer) = app
        .post_callback(&path, &text("SM00000000000000000000000000000001", "Parar"))
        .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["messages"], 1, "stored like any message: {answer}");
    let list = expect(&app, "GET", "/v1/suppressions?channel=sms", None, 200).await;
    assert_eq!(list["data"][0]["address"], person, "{list}");
    assert_eq!(list["data"][0]["reason"], "unsubscribed");

    let sms =
        json!({"channel": "sms", "to": person, "type": "alert", "content": {"text": "after-stop"}});
    let id = app.send(&sms).await;
    let n = app.wait_for_status(&id, "skipped", WITHIN).await;
    assert_eq!(from_preferences(&n)[0].1, "suppressed", "{n}");

    // Words that are not alone in a message do nothing; START lifts the opt-out.
    app.post_callback(
        &path,
        &text("SM00000000000000000000000000000002", "please don't stop"),
    )
    .await;
    assert_eq!(
        expect(&app, "GET", "/v1/suppressions", None, 200).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (code, _) = app
        .post_callback(&path, &text("SM00000000000000000000000000000003", "START"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        expect(&app, "GET", "/v1/suppressions", None, 200).await["data"],
        json!([])
    );
    let mut again = sms;
    again["content"]["text"] = json!("after-start");
    let id = app.send(&again).await;
    app.wait_for_status(&id, "sent", WITHIN).await;

    // A tenant's own words replace the defaults; they live in its defaults only.
    expect(
        &app,
        "PUT",
        "/v1/preferences",
        Some(json!({"keywords": {"stop": ["chega"]}})),
        200,
    )
    .await;
    app.post_callback(&path, &text("SM00000000000000000000000000000004", "STOP"))
        .await;
    assert_eq!(
        expect(&app, "GET", "/v1/suppressions", None, 200).await["data"],
        json!([])
    );
    app.post_callback(&path, &text("SM00000000000000000000000000000005", "Chega!"))
        .await;
    assert_eq!(
        expect(&app, "GET", "/v1/suppressions", None, 200).await["data"][0]["reason"],
        "unsubscribed"
    );
    let recipient = profile(&app, "UTC").await;
    let bad = expect(
        &app,
        "PUT",
        &format!("/v1/recipients/{recipient}/preferences"),
        Some(json!({"keywords": {"stop": ["x"]}})),
        422,
    )
    .await;
    assert_eq!(problem_fields(&bad), ["keywords"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn promotions_within_the_window_go_out_as_one_digest_email() {
    let app = crate::support::spawn_app().await;
    let to = unique_email("digest");
    let id = email_profile(&app, &to).await;
    expect(
        &app,
        "POST",
        "/v1/templates",
        Some(json!({
            "name": "promo-digest",
            "default_locale": "en",
            "variants": {"en": {"email": {
                "subject": "{{ count }} offers for you",
                "text": "{% for item in items %}* {{ item.content.subject }} ({{ item.data.code }})\n{% endfor %}"
            }}}
        })),
        201,
    )
    .await;
    set_preferences(
        &app,
        &id,
        json!({"categories": {"promo": {"digest": {"template": "promo-digest", "window_secs": 3}}}}),
    )
    .await;

    let offer = |name: &str, code: u32| {
        json!({"channel": "email", "type": "promo", "recipient": {"id": id},
               "content": {"subject": format!("Offer {name}"), "text": "x"},
               "data": {"code": code}})
    };
    let mut members = Vec::new();
    for (name, code) in [("A", 1), ("B", 2), ("C", 3)] {
        members.push(app.send(&offer(name, code)).await);
    }
    let mut digest = None;
    for member in &members {
        let n = app.wait_for_status(member, "skipped", WITHIN).await;
        let into = n["digested_into"]
            .as_str()
            .expect("digested_into")
            .to_owned();
        assert_eq!(
            *digest.get_or_insert(into.clone()),
            into,
            "one digest for all: {n}"
        );
        assert_eq!(from_preferences(&n)[0].1, "digested", "{n}");
    }
    let digest = digest.unwrap();
    // A confirmation is not digested.
    let mut alone = offer("alone", 9);
    alone["type"] = json!("confirmation");
    let alone = app.send(&alone).await;
    app.wait_for_status(&alone, "sent", WITHIN).await;

    let n = app.wait_for_status(&digest, "sent", WITHIN).await;
    assert_eq!(n["category"], "promo");
    let mails = crate::support::maildev::wait_for_mails(&to, 2, WITHIN).await;
    let digests: Vec<&Value> = mails
        .iter()
        .filter(|m| m["subject"] == "3 offers for you")
        .collect();
    assert_eq!(digests.len(), 1, "{mails:?}");
    let text = digests[0]["text"].as_str().unwrap();
    assert!(
        text.contains("* Offer A (1)")
            && text.contains("* Offer B (2)")
            && text.contains("* Offer C (3)"),
        "{text}"
    );
    assert_eq!(
        mails.len(),
        2,
        "the three offers went in the digest only: {mails:?}"
    );

    // After it closed, the next promotion opens the next digest.
    let later = app.send(&offer("D", 4)).await;
    let n = app.wait_for_status(&later, "skipped", WITHIN).await;
    assert_ne!(n["digested_into"].as_str().unwrap(), digest);
}
