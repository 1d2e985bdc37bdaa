//! Prometheus metrics: `GET /metrics` shows what the API and the (in-process) worker
//! counted, with route templates as labels.

use std::time::Duration;

use pombo_contract::config::RateLimitConfig;
use pombo_fakes::{FakeCallback, whatsapp_cloud};
use serde_json::json;

use crate::support::{AppOptions, TestApp, spawn_app, spawn_app_with};

const APP_SECRET: &str = "pombo-test-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";
const WA_CALLBACKS: &str = "/v1/callbacks/whatsapp_cloud/whatsapp-cloud";

async fn scrape(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// The sum of the samples of `name` whose labels include all of `labels`, whatever their
/// order; `None` when there is none.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let pairs: Vec<&str> = series_labels.split(',').collect();
        if labels
            .iter()
            .all(|(k, v)| pairs.contains(&format!("{k}=\"{v}\"").as_str()))
        {
            *found.get_or_insert(0.0) += value.parse::<f64>().unwrap();
        }
    }
    found
}

async fn post_callback(app: &TestApp, callback: &FakeCallback) -> u16 {
    let mut request = app
        .http
        .post(app.url(WA_CALLBACKS))
        .header("content-type", &callback.content_type)
        .body(callback.body.clone());
    for (name, value) in &callback.headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_accepted_notifications_requests_sends_and_callbacks() {
    let app = spawn_app().await;
    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    app.wait_for_status(&id, "sent", Duration::from_secs(60))
        .await;

    // A forged callback is refused; a signed one about a message we do not know is parked.
    let report = [("wamid.metrics-unknown", "delivered", 1_763_888_400, None)];
    let forged = whatsapp_cloud::status_webhook(Some("not-the-secret"), PHONE_NUMBER_ID, &report);
    assert_eq!(post_callback(&app, &forged).await, 401);
    let signed = whatsapp_cloud::status_webhook(Some(APP_SECRET), PHONE_NUMBER_ID, &report);
    assert_eq!(post_callback(&app, &signed).await, 200);

    let text = scrape(&app).await;
    let at_least_one = |name: &str, labels: &[(&str, &str)]| {
        let value = sample(&text, name, labels);
        assert!(
            value.is_some_and(|v| v >= 1.0),
            "{name}{labels:?} is {value:?} in:\n{text}"
        );
    };
    at_least_one(
        "pombo_notifications_accepted_total",
        &[("channel", "sms"), ("priority", "medium")],
    );
    at_least_one(
        "pombo_http_requests_total",
        &[
            ("method", "POST"),
            ("route", "/v1/notifications"),
            ("status", "202"),
        ],
    );
    at_least_one(
        "pombo_http_request_duration_seconds_count",
        &[("method", "GET"), ("route", "/v1/notifications/{id}")],
    );
    // The in-process worker records into the same process-wide recorder.
    at_least_one(
        "pombo_send_attempts_total",
        &[
            ("channel", "sms"),
            ("outcome", "sent"),
            ("provider_type", "twilio"),
        ],
    );
    at_least_one(
        "pombo_provider_call_seconds_count",
        &[("provider_type", "twilio")],
    );
    at_least_one(
        "pombo_callbacks_total",
        &[("provider", "whatsapp_cloud"), ("outcome", "refused")],
    );
    at_least_one(
        "pombo_callbacks_total",
        &[("provider", "whatsapp_cloud"), ("outcome", "parked")],
    );
    assert!(
        !text.contains(&id),
        "a notification id became a label:\n{text}"
    );
    assert!(text.contains("# TYPE pombo_http_request_duration_seconds histogram"));
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_rate_limited_requests() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        rate_limit: Some(RateLimitConfig {
            enabled: true,
            per_second: 1,
            burst: 1,
        }),
        ..Default::default()
    })
    .await;
    let before = sample(&scrape(&app).await, "pombo_rate_limited_total", &[]).unwrap_or(0.0);
    let mut limited = 0;
    for _ in 0..3 {
        let (code, _) = app.call("GET", "/v1/notifications", None).await;
        limited += u32::from(code == 429);
    }
    assert!(limited >= 1, "the burst of 1 let three requests through");
    let text = scrape(&app).await;
    let after = sample(&text, "pombo_rate_limited_total", &[]).unwrap_or(0.0);
    assert!(
        after - before >= f64::from(limited),
        "{before} → {after}:\n{text}"
    );
    assert!(
        sample(
            &text,
            "pombo_http_requests_total",
            &[("route", "/v1/notifications"), ("status", "429")]
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
}

/// Every `pombo_*` metric the shipped alert rules (`deploy/prometheus/`) and dashboard
/// (`deploy/grafana/`) read is one the processes expose, with the labels they filter and
/// group by; and the rules are well-formed Prometheus rule groups. A renamed metric or label
/// fails here, not silently in production.
#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_alerts_and_dashboard_read_metrics_the_processes_expose() {
    use std::collections::BTreeSet;

    let root = crate::support::servers::repo_root();
    let rules_text =
        std::fs::read_to_string(root.join("deploy/prometheus/pombo-alerts.yml")).unwrap();
    let rules: serde_json::Value = serde_yaml_ng::from_str(&rules_text).unwrap();
    let mut exprs = Vec::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().expect("every rule is an alert");
            assert!(rule["for"].is_string(), "{name} has a `for`");
            assert!(
                ["warning", "critical"]
                    .contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
                "{name} has a severity"
            );
            assert!(
                rule["annotations"]["summary"].is_string(),
                "{name} has a summary"
            );
            exprs.push(rule["expr"].as_str().expect("an expr").to_owned());
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/pombo.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }

    // A workload that makes every metric appear: sends, a forged callback, a burst over
    // the tenant's rate limit, the sweep's backlog gauge.
    let app = spawn_app_with(AppOptions {
        rate_limit: Some(RateLimitConfig {
            enabled: true,
            per_second: 20,
            burst: 20,
        }),
        ..Default::default()
    })
    .await;
    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    app.wait_for_status(&id, "sent", Duration::from_secs(60))
        .await;
    let report = [("wamid.alerts", "delivered", 1_763_888_400, None)];
    let forged = whatsapp_cloud::status_webhook(Some("not-the-secret"), PHONE_NUMBER_ID, &report);
    assert_eq!(post_callback(&app, &forged).await, 401);
    let burst = futures::future::join_all(
        (0..60).map(|_| app.call("GET", "/v1/notifications?limit=1", None)),
    )
    .await;
    assert!(
        burst.iter().any(|(code, _)| *code == 429),
        "no 429 in the burst"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = scrape(&app).await;

    // Each metric (a histogram by its `_bucket`) and each label the expressions use.
    let metric = regex_lite(&exprs.join("\n"));
    assert!(metric.len() >= 6, "{metric:?}");
    for (name, labels) in metric {
        let series: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .collect();
        assert!(!series.is_empty(), "{name} is not exposed:\n{text}");
        for label in labels {
            assert!(
                series.iter().any(|s| s.contains(&format!("{label}=\""))),
                "{name} has no label `{label}`: {series:?}"
            );
        }
    }

    /// The `pombo_*` metrics named in `exprs` with the labels used next to them (in a
    /// selector `{label=…}` or a `by (label, …)`), without PromQL's own `le`.
    fn regex_lite(exprs: &str) -> Vec<(String, BTreeSet<String>)> {
        let mut found: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for expr in exprs.lines() {
            let grouped: BTreeSet<String> = expr
                .split("by (")
                .skip(1)
                .filter_map(|rest| rest.split(')').next())
                .flat_map(|labels| labels.split(',').map(|l| l.trim().to_owned()))
                .filter(|l| !l.is_empty() && l != "le")
                .collect();
            let mut rest = expr;
            while let Some(at) = rest.find("pombo_") {
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                let name = tail[..end].to_owned();
                let mut labels = grouped.clone();
                if let Some(selector) = tail[end..].strip_prefix('{') {
                    let selector = selector.split('}').next().unwrap_or_default();
                    for pair in selector.split(',') {
                        if let Some((label, _)) = pair.split_once(['=', '!']) {
                            labels.insert(label.trim().trim_end_matches('~').to_owned());
                        }
                    }
                }
                found.entry(name).or_default().extend(labels);
                rest = &tail[end..];
            }
        }
        found.into_iter().collect()
    }
}
