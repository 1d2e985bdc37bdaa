//! The operators' admin page at `/admin`: served with a strict Content Security Policy, its
//! script and style as separate same-origin responses, and — when Chromium is installed —
//! rendered by a real headless browser against the API: it lists the failed notifications,
//! opens one with its attempt log and timeline, and shows the audit log and the provider
//! accounts. (Chromium's `--dump-dom` runs the page's scripts but cannot click: sections and
//! notifications are opened through the address, `#tab=…` and `#notification=…`.)

use std::{path::PathBuf, process::Stdio, time::Duration};

use pombo_contract::NotificationStatus;
use pombo_store::{
    events::{self, NewEvent},
    notifications::{self, AttemptOutcome, Transition},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{AppOptions, TestApp, spawn_app_with};

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http.get(app.url(path)).send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` header"))
        .to_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_is_served_with_a_strict_content_security_policy() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;

    for path in ["/admin", "/admin/"] {
        let response = get(&app, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8"
        );
        let csp = header(&response, "content-security-policy").to_owned();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"src="/admin/app.js""#), "{html}");
        assert!(html.contains(r#"href="/admin/app.css""#), "{html}");
        assert!(html.contains(r#"<label for="api-key">API key</label>"#));
    }

    let script = get(&app, "/admin/app.js").await;
    assert_eq!(script.status(), 200);
    assert_eq!(
        header(&script, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(script.text().await.unwrap().contains("/v1/notifications"));

    let style = get(&app, "/admin/app.css").await;
    assert_eq!(style.status(), 200);
    assert_eq!(header(&style, "content-type"), "text/css; charset=utf-8");

    // The page itself needs no key; the API behind it still does.
    let (code, _) = app.list_as("wrong-key", "?status=failed").await;
    assert_eq!(code, 401);

    let (_, index) = app.call("GET", "/", None).await;
    assert_eq!(index["links"]["admin"], "/admin");
    assert_eq!(get(&app, "/admin/nothing").await.status(), 404);
}

/// A notification that failed for good, made directly in the store (no worker needed),
/// with an error that would be markup if the page inserted it as HTML.
async fn failed_notification(app: &TestApp, error: &str) -> String {
    let id = app.send(&sms("will fail")).await;
    let uuid: Uuid = id.parse().unwrap();
    let attempt = notifications::start_attempt(&app.db, uuid, 1, "sms-fake", "twilio")
        .await
        .unwrap();
    notifications::finish_attempt(
        &app.db,
        attempt,
        uuid,
        AttemptOutcome::PermanentError,
        Some(error),
        Some("21211"),
    )
    .await
    .unwrap();
    let moved = notifications::transition(&app.db, uuid, NotificationStatus::Failed, |_| {})
        .await
        .unwrap();
    assert!(matches!(moved, Transition::Applied(_)));
    events::record(
        &app.db,
        uuid,
        NewEvent {
            status: NotificationStatus::Failed,
            source: "worker".into(),
            provider_message_id: None,
            raw_status: Some("permanent_error".into()),
            reason: Some(error.into()),
            code: Some("21211".into()),
            occurred_at: None,
        },
    )
    .await
    .unwrap();
    id
}

fn sms(text: &str) -> Value {
    json!({"channel": "sms", "to": "+5511987654321", "content": {"text": text},
           "retry": {"max_attempts": 1, "interval_secs": 1}})
}

/// Chromium, if installed (`POMBO_TEST_CHROMIUM` names another binary).
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("POMBO_TEST_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).find_map(|dir| {
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// The DOM of `url` after its scripts have run, as headless Chromium serialises it.
async fn rendered_dom(browser: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(browser);
    command
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .expect("chromium finishes within 90 s")
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && dom.contains("</html>"),
        "chromium failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    dom
}

/// The opening tag of the element with this id.
fn tag_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no #{id} in the page:\n{dom}"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_lists_failed_notifications_and_opens_one() {
    let Some(browser) = chromium() else {
        // A test that returns early passes while asserting nothing: only an explicit
        // choice skips it.
        assert_eq!(
            std::env::var("POMBO_SKIP_BROWSER").as_deref(),
            Ok("1"),
            "Chromium is not installed: run `bash scripts/tools.sh` (it installs Debian's \
             `chromium`), name a browser in POMBO_TEST_CHROMIUM, or set POMBO_SKIP_BROWSER=1 \
             to skip the browser tests on purpose"
        );
        eprintln!("POMBO_SKIP_BROWSER=1: the browser test is skipped on purpose");
        return;
    };
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let error = r#"<b id="injected">boom</b> & <img src=x>"#;
    let failed = failed_notification(&app, error).await;
    // Without a worker this one stays pending: not in the dead-letter view.
    let pending = app.send(&sms("stays pending")).await;

    let dom = rendered_dom(&browser, &app.url(&format!("/admin#key={}", app.api_key))).await;
    assert!(
        dom.contains(&format!(r#"data-id="{failed}""#)),
        "the failed notification is listed:\n{dom}"
    );
    assert!(
        !dom.contains(&pending),
        "only failed ones are listed by default"
    );
    assert!(dom.contains("1 failed notification shown"), "{dom}");
    // The error is shown as text, not markup.
    assert!(
        dom.contains("&lt;b id=\"injected\"&gt;boom&lt;/b&gt; &amp; &lt;img src=x&gt;"),
        "{dom}"
    );
    assert!(!dom.contains(r#"<b id="injected">"#), "{dom}");
    assert!(
        !dom.contains(&app.api_key),
        "the key is not left in the page"
    );

    // Opening it shows the attempt log, the timeline, the workflow link and Retry.
    let dom = rendered_dom(
        &browser,
        &app.url(&format!("/admin#key={}&notification={failed}", app.api_key)),
    )
    .await;
    assert!(!tag_of(&dom, "detail").contains("hidden"), "{dom}");
    assert!(!tag_of(&dom, "detail-retry").contains("hidden"), "{dom}");
    assert!(tag_of(&dom, "detail-cancel").contains("hidden"), "{dom}");
    let link = tag_of(&dom, "detail-workflow");
    assert!(
        link.contains(&format!("/workflows/{}", workflow_id(&failed))),
        "{link}"
    );
    let attempts = &dom[dom.find(r#"id="detail-attempts""#).unwrap()..];
    assert!(attempts.contains("sms-fake"), "{attempts}");
    assert!(attempts.contains("permanent_error"), "{attempts}");
    assert!(attempts.contains("21211"), "{attempts}");
    let timeline = &dom[dom.find(r#"id="detail-events""#).unwrap()..];
    assert!(timeline.contains("worker"), "{timeline}");

    // The audit log and the provider accounts.
    let (code, body) = app
        .call("POST", &format!("/v1/notifications/{failed}/retry"), None)
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&json!({"name": "mail-main", "priority": 3, "enabled": false,
                         "settings": {"type": "sendgrid", "api_key": "k", "from": "ops@example.com"}})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let dom = rendered_dom(
        &browser,
        &app.url(&format!("/admin#key={}&tab=audit", app.api_key)),
    )
    .await;
    assert!(!tag_of(&dom, "panel-audit").contains("hidden"), "{dom}");
    let audit = &dom[dom.find(r#"id="audit-body""#).unwrap()..];
    assert!(audit.contains("notification.retry"), "{audit}");
    assert!(audit.contains(&failed), "{audit}");
    let dom = rendered_dom(
        &browser,
        &app.url(&format!("/admin#key={}&tab=providers", app.api_key)),
    )
    .await;
    let providers = &dom[dom.find(r#"id="providers-body""#).unwrap()..];
    for text in ["mail-main", "sendgrid", "email", ">3<", ">no<"] {
        assert!(providers.contains(text), "{text} in {providers}");
    }

    // A bad key is shown as the API's problem.
    let dom = rendered_dom(&browser, &app.url("/admin#key=not-a-key")).await;
    let problem = &dom[dom.find(r#"id="list-problem""#).unwrap()..];
    assert!(problem.contains("Unauthorized (401)"), "{problem}");
    assert!(problem.contains("send a valid API key"), "{problem}");
}

fn workflow_id(id: &str) -> String {
    pombo_contract::workflow::workflow_id(id.parse().unwrap())
}
