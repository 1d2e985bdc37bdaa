//! The operators' admin page at `/admin`: served with a strict Content Security Policy, its
//! script and style as separate same-origin responses, and used in a real headless Chromium
//! (driven through ChromeDriver) against the API: an operator signs in with password and
//! TOTP code (a wrong code is refused), the page lists the failed notifications, opens one
//! with its attempt log and timeline, shows the audit log and the provider accounts, and
//! signs out; in a conversation it replies (the reply reaches the provider's fake), is told
//! why a reply is refused, and closes and reopens it; its Live events tab shows events as
//! the stream brings them, and resumes after the connection drops; its Webhooks tab lists the
//! endpoints with their health and an endpoint's attempts (receivers' answers as text), the
//! operator repairs deliveries there (resend, recover, a test event: `operate`), and the
//! changes that need `manage` are disabled for a session. The session cookie is
//! HttpOnly (no script sees it), and a request without the CSRF token is refused even from
//! the page's own origin.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::Duration,
};

use pombo_contract::NotificationStatus;
use pombo_store::{
    events::{self, NewEvent},
    notifications::{self, AttemptOutcome, Transition},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    operators::create_operator,
    support::{
        AppOptions, TestApp, email_request, spawn_app_with, unique_email,
        webdriver::{self, Browser},
    },
};

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
        assert!(html.contains(r#"<label for="sign-in-code">Code</label>"#));
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

    // The page itself needs no sign-in; the API behind it does.
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
            suppress: None,
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

/// The opening tag of the element with this id.
fn tag_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no #{id} in the page:\n{dom}"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

/// Loads the page afresh (a new query string, so a changed fragment is not just a scroll).
async fn open(browser: &Browser, app: &TestApp, load: &mut u32, fragment: &str) {
    *load += 1;
    browser
        .goto(&app.url(&format!("/admin?load={load}{fragment}")))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_signs_in_in_a_browser_lists_failed_notifications_and_opens_one() {
    let Some((chromium, driver)) = webdriver::browser() else {
        return;
    };
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let ops = create_operator(&app, "dev").await;
    let error = r#"<b id="injected">boom</b> & <img src=x>"#;
    let failed = failed_notification(&app, error).await;
    // Without a worker this one stays pending: not in the dead-letter view.
    let pending = app.send(&sms("stays pending")).await;
    let browser = Browser::start(&chromium, &driver).await;
    let mut load = 0;

    // Signed out: the sign-in form, nothing else.
    open(&browser, &app, &mut load, "").await;
    browser.wait_visible("#sign-in", true).await;
    assert!(!browser.visible("#signed-in").await);

    // A wrong code is refused, and the form says so.
    browser.type_into("#sign-in-email", &ops.email).await;
    browser.type_into("#sign-in-password", &ops.password).await;
    browser.type_into("#sign-in-code", &ops.code(-120)).await;
    browser.click("#sign-in-submit").await;
    browser.wait_visible("#sign-in-problem", true).await;
    let problem = browser.text("#sign-in-problem").await;
    assert!(problem.contains("Sign-in failed (401)"), "{problem}");
    assert!(!browser.visible("#signed-in").await);

    // The right code signs in and shows the failed notifications.
    browser.type_into("#sign-in-password", &ops.password).await;
    browser.type_into("#sign-in-code", &ops.code(0)).await;
    browser.click("#sign-in-submit").await;
    let dom = browser
        .wait_until("the failed notification", |dom| {
            dom.contains(&format!(r#"data-id="{failed}""#))
        })
        .await;
    assert!(!browser.visible("#sign-in").await);
    assert!(browser.text("#session-who").await.contains(&ops.email));
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
        !dom.contains(&ops.password),
        "the password is not left in the page"
    );

    // The session cookie is HttpOnly, Secure and SameSite=Strict, and no script can read it.
    let cookies = browser.cookies().await;
    let cookie = cookies
        .iter()
        .find(|c| c["name"] == "__Host-pombo_session")
        .unwrap_or_else(|| panic!("{cookies:?}"));
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["secure"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    let visible = browser.run("return document.cookie;").await;
    assert!(
        !visible.as_str().unwrap().contains("pombo_session"),
        "{visible}"
    );

    // Even from the page's own origin, a change without the CSRF token is refused.
    let status = browser
        .run_async(&format!(
            "const done = arguments[arguments.length - 1];
             fetch('/v1/notifications/{failed}/retry', {{method: 'POST', credentials: 'same-origin',
                   headers: {{'X-Pombo-Tenant': 'dev'}}}}).then(r => done(r.status), e => done(String(e)));"
        ))
        .await;
    assert_eq!(status, 403);

    // Opening it shows the attempt log, the timeline, the workflow link and Retry; the
    // session survives a reload.
    open(
        &browser,
        &app,
        &mut load,
        &format!("#notification={failed}"),
    )
    .await;
    let dom = browser
        .wait_until("the notification's attempts", |dom| {
            dom.contains("permanent_error") && !tag_of(dom, "detail").contains("hidden")
        })
        .await;
    assert!(!tag_of(&dom, "detail-retry").contains("hidden"), "{dom}");
    assert!(tag_of(&dom, "detail-cancel").contains("hidden"), "{dom}");
    let link = tag_of(&dom, "detail-workflow");
    assert!(
        link.contains(&format!("/workflows/{}", workflow_id(&failed))),
        "{link}"
    );
    let attempts = &dom[dom.find(r#"id="detail-attempts""#).unwrap()..];
    assert!(attempts.contains("sms-fake"), "{attempts}");
    assert!(attempts.contains("21211"), "{attempts}");
    let timeline = &dom[dom.find(r#"id="detail-events""#).unwrap()..];
    assert!(timeline.contains("worker"), "{timeline}");

    // Retry from the page (it asks first), as the operator: the audit log names them.
    browser.click("#detail-retry").await;
    browser.wait_visible("#confirm", true).await;
    browser.click("#confirm-yes").await;
    let (code, body) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&json!({"name": "mail-main", "priority": 3, "enabled": false,
                         "settings": {"type": "sendgrid", "api_key": "k", "from": "ops@example.com"}})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let mut audit = String::new();
    for _ in 0..100 {
        open(&browser, &app, &mut load, "#tab=audit").await;
        let dom = browser
            .wait_until("the audit log", |dom| {
                !tag_of(dom, "panel-audit").contains("hidden") && dom.contains("provider.")
            })
            .await;
        audit = dom[dom.find(r#"id="audit-body""#).unwrap()..].to_owned();
        if audit.contains("notification.retry") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(audit.contains("notification.retry"), "{audit}");
    assert!(audit.contains(&failed), "{audit}");
    assert!(
        audit.contains(&format!("operator:{}", ops.email)),
        "{audit}"
    );

    open(&browser, &app, &mut load, "#tab=providers").await;
    let dom = browser
        .wait_until("the provider accounts", |dom| dom.contains("mail-main"))
        .await;
    let providers = &dom[dom.find(r#"id="providers-body""#).unwrap()..];
    for text in ["mail-main", "sendgrid", "email", ">3<", ">no<"] {
        assert!(providers.contains(text), "{text} in {providers}");
    }
    // Its only email account is disabled: the server's SMTP account sends its email.
    let servers = &dom[dom.find(r#"id="server-providers-body""#).unwrap()..];
    let smtp = &servers[servers.find(r#"data-server-account="smtp""#).unwrap()..];
    assert!(smtp.contains("sends for this tenant"), "{servers}");

    // Conversations: who wrote, and what, shown as text.
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let written = pombo_contract::conversation::InboundMessage {
        provider_message_id: "wamid.admin".into(),
        from: "+5511987650009".into(),
        from_name: Some("Ana".into()),
        kind: pombo_contract::conversation::MessageKind::Text,
        text: Some(r#"<img src=x id="injected-message"> chegou?"#.into()),
        media: None,
        reply_to: None,
        occurred_at: None,
        change: None,
    };
    let through = pombo_store::conversations::Through {
        tenant_id: tenant.id,
        channel: pombo_contract::Channel::Whatsapp,
        account: "whatsapp-cloud",
        account_id: None,
    };
    pombo_store::conversations::receive(&app.db, through, &written, chrono::Utc::now())
        .await
        .unwrap();
    // And a file the provider no longer had: the message stays, its file's error shown.
    let with_file = pombo_contract::conversation::InboundMessage {
        provider_message_id: "wamid.admin-file".into(),
        kind: pombo_contract::conversation::MessageKind::Document,
        text: Some("o boleto".into()),
        media: Some(pombo_contract::conversation::InboundMedia {
            reference: "1111111111".into(),
            content_type: Some("application/pdf".into()),
            filename: Some("boleto.pdf".into()),
        }),
        ..written.clone()
    };
    let received =
        pombo_store::conversations::receive(&app.db, through, &with_file, chrono::Utc::now())
            .await
            .unwrap();
    pombo_store::inbound_media::record_failed(
        &app.db,
        received.message_id,
        "whatsapp_cloud: the file's download answered 404 Not Found",
    )
    .await
    .unwrap();
    // The contact edited their first message (to the same words): it says so.
    let edit = pombo_contract::conversation::InboundMessage {
        provider_message_id: "wamid.admin-edit".into(),
        change: Some(pombo_contract::conversation::Change {
            of: "wamid.admin".into(),
            kind: pombo_contract::conversation::ChangeKind::Edited,
        }),
        ..written.clone()
    };
    pombo_store::conversations::receive(&app.db, through, &edit, chrono::Utc::now())
        .await
        .unwrap();
    open(&browser, &app, &mut load, "#tab=conversations").await;
    let dom = browser
        .wait_until("the conversation", |dom| dom.contains("+5511987650009"))
        .await;
    let list = &dom[dom.find(r#"id="conversations-body""#).unwrap()..];
    assert!(
        list.contains("Ana (+5511987650009)") && list.contains("whatsapp-cloud"),
        "{list}"
    );
    browser.click("button[data-conversation]").await;
    let dom = browser
        .wait_until("its messages", |dom| dom.contains("from the contact"))
        .await;
    let messages = &dom[dom.find(r#"id="conversation-messages""#).unwrap()..];
    assert!(
        messages.contains("&lt;img src=x id=\"injected-message\"&gt; chegou?"),
        "{messages}"
    );
    assert!(
        !dom.contains(r#"<img src="x" id="injected-message">"#),
        "{dom}"
    );
    let dom = browser
        .wait_until("the file's error", |dom| {
            dom.contains("could not be fetched:")
        })
        .await;
    let messages = &dom[dom.find(r#"id="conversation-messages""#).unwrap()..];
    assert!(messages.contains(r#"data-media="failed""#), "{messages}");
    assert!(messages.contains("data-edited"), "{messages}");

    // Signing out ends the session: a reload shows the sign-in form again.
    browser.click("#sign-out").await;
    browser.wait_visible("#sign-in", true).await;
    open(&browser, &app, &mut load, "").await;
    browser.wait_visible("#sign-in", true).await;
    assert!(!browser.visible("#signed-in").await);
}

/// A message `from` wrote to the server-wide WhatsApp Cloud account at `occurred_at`, stored
/// as the callback would store it; its conversation's id.
async fn written_in(
    app: &TestApp,
    from: &str,
    name: &str,
    text: &str,
    occurred_at: chrono::DateTime<chrono::Utc>,
) -> String {
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let message = pombo_contract::conversation::InboundMessage {
        provider_message_id: format!("wamid.{}", Uuid::new_v4().simple()),
        from: from.into(),
        from_name: Some(name.into()),
        kind: pombo_contract::conversation::MessageKind::Text,
        text: Some(text.into()),
        media: None,
        reply_to: None,
        occurred_at: Some(occurred_at),
        change: None,
    };
    let received = pombo_store::conversations::receive(
        &app.db,
        pombo_store::conversations::Through {
            tenant_id: tenant.id,
            channel: pombo_contract::Channel::Whatsapp,
            account: "whatsapp-cloud",
            account_id: None,
        },
        &message,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    received.conversation_id.to_string()
}

/// Signs `who` in through the page's form.
async fn sign_in(
    browser: &Browser,
    app: &TestApp,
    load: &mut u32,
    who: &crate::operators::Credentials,
) {
    open(browser, app, load, "").await;
    browser.wait_visible("#sign-in", true).await;
    browser.type_into("#sign-in-email", &who.email).await;
    browser.type_into("#sign-in-password", &who.password).await;
    browser.type_into("#sign-in-code", &who.code(0)).await;
    browser.click("#sign-in-submit").await;
    browser.wait_visible("#signed-in", true).await;
}

/// The JSON bodies WhatsApp's fake was sent to `to`.
fn whatsapp_sent_to(app: &TestApp, to: &str) -> Vec<Value> {
    app.fakes
        .requests("whatsapp_cloud")
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .filter(|b| b["to"] == to)
        .collect()
}

/// The status the list shows for a conversation, and the one its open view shows.
async fn shown_statuses(browser: &Browser, conversation: &str) -> (String, String) {
    let listed = browser
        .run(&format!(
            "const row = document.querySelector('tr[data-conversation-row=\"{conversation}\"]');
             return row ? row.querySelector('[data-status]').getAttribute('data-status') : '';"
        ))
        .await;
    let open = browser.text("#conversation-status .badge").await;
    (listed.as_str().unwrap().to_owned(), open)
}

/// What an operator does in a conversation, from the page: a reply reaches the provider (the
/// WhatsApp fake) and shows in the conversation; a reply WhatsApp would refuse (outside its
/// 24-hour window) is explained and the typed text kept; closing and reopening move the
/// status badge of the conversation and of its row in the list, and the audit log names
/// the operator.
#[tokio::test(flavor = "multi_thread")]
async fn an_operator_replies_in_closes_and_reopens_a_conversation_in_a_browser() {
    let Some((chromium, driver)) = webdriver::browser() else {
        return;
    };
    // With a worker: the reply is sent.
    let app = spawn_app_with(AppOptions::default()).await;
    let ops = create_operator(&app, "dev").await;
    let now = chrono::Utc::now();
    let fresh = written_in(&app, "+5511987650011", "Bia", "Meu pedido chegou?", now).await;
    let stale = written_in(
        &app,
        "+5511987650012",
        "Caio",
        "oi",
        now - chrono::Duration::hours(25),
    )
    .await;
    let browser = Browser::start(&chromium, &driver).await;
    let mut load = 0;
    sign_in(&browser, &app, &mut load, &ops).await;
    // What the page offers follows the session's scopes for the tenant: an operator's
    // `operate` is what lets it answer.
    let granted = browser
        .run_async(
            "const done = arguments[arguments.length - 1];
             fetch('/v1/operator/session', {credentials: 'same-origin'})
               .then(r => r.json()).then(s => done(s.tenants), e => done(String(e)));",
        )
        .await;
    assert_eq!(
        granted[0]["scopes"],
        json!(["read", "operate"]),
        "{granted}"
    );

    // Outside WhatsApp's window: the problem names the field and why, the text stays.
    open(&browser, &app, &mut load, "#tab=conversations").await;
    browser
        .wait_until("the conversations", |dom| {
            dom.contains(&fresh) && dom.contains(&stale)
        })
        .await;
    browser
        .click(&format!(r#"button[data-conversation="{stale}"]"#))
        .await;
    browser.wait_visible("#reply-form", true).await;
    assert!(!browser.visible("#conversation-read-only").await);
    browser.type_into("#reply-text", "ainda aí?").await;
    browser.click("#reply-send").await;
    browser.wait_visible("#reply-problem", true).await;
    let problem = browser.text("#reply-problem").await;
    assert!(
        problem.contains("(422)")
            && problem.contains("content")
            && problem.contains("24 hours")
            && problem.contains("template"),
        "{problem}"
    );
    let kept = browser
        .run("return document.getElementById('reply-text').value;")
        .await;
    assert_eq!(kept, "ainda aí?");
    assert!(whatsapp_sent_to(&app, "5511987650012").is_empty());

    // Within it: the reply goes out through WhatsApp and shows as sent to the contact.
    browser
        .click(&format!(r#"button[data-conversation="{fresh}"]"#))
        .await;
    browser
        .wait_until("the open conversation", |dom| {
            dom.contains("Meu pedido chegou?") && dom.contains("Conversation with Bia")
        })
        .await;
    browser.wait_visible("#reply-form", true).await;
    assert!(
        !browser.visible("#reply-problem").await,
        "a new conversation starts clean"
    );
    let reply = "Chegou sim, Bia! <b>Obrigado</b> & até logo";
    browser.type_into("#reply-text", reply).await;
    browser.click("#reply-send").await;
    let dom = browser
        .wait_until("the reply in the conversation", |dom| {
            dom.contains(r#"data-direction="outbound""#)
        })
        .await;
    let messages = &dom[dom.find(r#"id="conversation-messages""#).unwrap()..];
    let outbound = &messages[messages.find(r#"data-direction="outbound""#).unwrap()..];
    assert!(
        outbound.contains("to the contact")
            && outbound.contains("Chegou sim, Bia! &lt;b&gt;Obrigado&lt;/b&gt; &amp; até logo"),
        "{messages}"
    );
    assert!(browser.visible("#conversation-message").await);
    let emptied = browser
        .run("return document.getElementById('reply-text').value;")
        .await;
    assert_eq!(emptied, "");
    let mut sent = Vec::new();
    for _ in 0..600 {
        sent = whatsapp_sent_to(&app, "5511987650011");
        if !sent.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sent.len(), 1, "one reply reached WhatsApp: {sent:?}");
    assert_eq!(sent[0]["type"], "text");
    assert_eq!(sent[0]["text"]["body"], reply);
    // After a reload it is still there (stored, not only drawn).
    open(&browser, &app, &mut load, "#tab=conversations").await;
    browser
        .wait_until("the conversations again", |dom| dom.contains(&fresh))
        .await;
    browser
        .click(&format!(r#"button[data-conversation="{fresh}"]"#))
        .await;
    browser
        .wait_until("the stored reply", |dom| {
            dom.contains("Chegou sim, Bia! &lt;b&gt;Obrigado&lt;/b&gt;")
                && dom.contains(r#"data-direction="outbound""#)
        })
        .await;

    // Close, then reopen: the badge of the conversation and of its row follow, and so does
    // the API.
    browser.wait_visible("#conversation-toggle", true).await;
    assert_eq!(
        shown_statuses(&browser, &fresh).await,
        ("open".into(), "open".into())
    );
    assert_eq!(
        browser.text("#conversation-toggle").await,
        "Close conversation"
    );
    browser.click("#conversation-toggle").await;
    browser
        .wait_until("the closed badge", |dom| {
            dom.contains(">Reopen conversation<")
        })
        .await;
    assert_eq!(
        shown_statuses(&browser, &fresh).await,
        ("closed".into(), "closed".into())
    );
    let (_, c) = app
        .call("GET", &format!("/v1/conversations/{fresh}"), None)
        .await;
    assert_eq!(c["status"], "closed", "{c}");
    browser.click("#conversation-toggle").await;
    browser
        .wait_until("the open badge", |dom| dom.contains(">Close conversation<"))
        .await;
    assert_eq!(
        shown_statuses(&browser, &fresh).await,
        ("open".into(), "open".into())
    );
    let (_, c) = app
        .call("GET", &format!("/v1/conversations/{fresh}"), None)
        .await;
    assert_eq!(c["status"], "open", "{c}");

    // The audit log names the operator for each.
    let (_, audit) = app.call("GET", "/v1/audit-log", None).await;
    let actions: Vec<(&str, &str)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == fresh.as_str())
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    let actor = format!("operator:{}", ops.email);
    assert_eq!(
        actions,
        [
            ("conversation.reopen", actor.as_str()),
            ("conversation.close", actor.as_str()),
            ("conversation.reply", actor.as_str()),
        ],
        "{audit}"
    );
}

/// A TCP forwarder between the browser and the API that the test can take down (its
/// connections cut, new ones closed at once) and up again: a network drop, as a browser
/// sees one.
struct Forwarder {
    base: String,
    up: tokio::sync::watch::Sender<bool>,
}

impl Forwarder {
    async fn start(to: &str) -> Forwarder {
        let target = to.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut up = watch.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    if !*up.borrow_and_update() {
                        return;
                    }
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Forwarder { base, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// The rows of the Live events table, top (newest) first: each event's type and subject id.
async fn live_rows(browser: &Browser) -> Vec<(String, String)> {
    let rows = browser
        .run(
            "return Array.from(document.querySelectorAll('#live-body tr[data-type]'),
               (row) => [row.getAttribute('data-type'), row.getAttribute('data-subject') || '']);",
        )
        .await;
    serde_json::from_value(rows).unwrap()
}

/// Where (from the top) the row of `kind` about `subject` is, if shown.
fn row_of(rows: &[(String, String)], kind: &str, subject: &str) -> Option<usize> {
    rows.iter().position(|(t, s)| t == kind && s == subject)
}

/// How long a notification sent through the API may take to be sent (Temporal, SMTP).
const SENT_WITHIN: Duration = Duration::from_secs(60);

/// Waits up to `within` until the Live events table satisfies `ready`; panics with what it
/// shows otherwise.
async fn wait_for_rows(
    browser: &Browser,
    what: &str,
    within: Duration,
    ready: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let start = std::time::Instant::now();
    loop {
        let rows = live_rows(browser).await;
        if ready(&rows) {
            return rows;
        }
        if start.elapsed() > within {
            let status = browser.text("#live-status").await;
            let summary = browser.text("#live-summary").await;
            panic!(
                "the live events never showed {what} (status `{status}`, `{summary}`): {rows:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to 20 s until the stream's indicator says it is live.
async fn wait_live(browser: &Browser) {
    browser
        .wait_until("the stream live", |dom| {
            tag_of(dom, "live-status").contains(r#"data-state="live""#)
        })
        .await;
    assert_eq!(browser.text("#live-status").await, "live");
}

/// The Live events tab, fed by the event stream (a stream token minted with the operator's
/// session, then `GET /v1/stream/sse`): a notification sent through the API shows its
/// `accepted` and `sent` events as they happen, newest first, without a reload; paused, the
/// page counts events without showing them and shows them on Resume; a type filter
/// reconnects with `types=`; an event's notification opens in the Notifications tab; after a
/// network drop the page reconnects with a new token and shows what it missed; signing out
/// closes the stream.
#[tokio::test(flavor = "multi_thread")]
async fn the_live_events_tab_follows_the_stream_pauses_filters_and_survives_a_dropped_connection() {
    let Some((chromium, driver)) = webdriver::browser() else {
        return;
    };
    // With a worker: the notifications are sent. Stream tokens live 3 s: the browser's own
    // reconnection, with the token it opened the stream with, would be refused.
    let app = spawn_app_with(AppOptions {
        stream: Some(pombo_contract::config::StreamConfig {
            token_max_secs: 3,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let ops = create_operator(&app, "dev").await;
    let browser = Browser::start(&chromium, &driver).await;
    // The browser reaches the API through a forwarder the test can cut.
    let network = Forwarder::start(&app.address).await;
    browser.goto(&format!("{}/admin", network.base)).await;
    browser.wait_visible("#sign-in", true).await;
    browser.type_into("#sign-in-email", &ops.email).await;
    browser.type_into("#sign-in-password", &ops.password).await;
    browser.type_into("#sign-in-code", &ops.code(0)).await;
    browser.click("#sign-in-submit").await;
    browser.wait_visible("#signed-in", true).await;

    browser.click("#tab-live").await;
    browser.wait_visible("#panel-live", true).await;
    wait_live(&browser).await;
    let dom = browser.source().await;
    assert!(
        tag_of(&dom, "tab-live").contains(r#"aria-selected="true""#),
        "{dom}"
    );
    assert!(
        tag_of(&dom, "live-status").contains(r#"aria-live="polite""#),
        "{dom}"
    );
    // The type filter lists what `GET /v1/event-types` does.
    for kind in [
        "notification.sent",
        "message.received",
        "conversation.closed",
    ] {
        assert!(dom.contains(&format!(r#"<option value="{kind}""#)), "{dom}");
    }
    // Whatever follows happens in this same page: no reload would keep this.
    browser.run("window.pomboSamePage = true;").await;

    // Sent through the API: its events appear as they happen, newest first.
    let first = app.send(&email_request(&unique_email("live"))).await;
    let rows = wait_for_rows(
        &browser,
        "the first notification accepted and sent",
        SENT_WITHIN,
        |rows| {
            row_of(rows, "notification.accepted", &first).is_some()
                && row_of(rows, "notification.sent", &first).is_some()
        },
    )
    .await;
    assert!(
        row_of(&rows, "notification.sent", &first) < row_of(&rows, "notification.accepted", &first),
        "newest first: {rows:?}"
    );
    let dom = browser.source().await;
    let table = &dom[dom.find(r#"id="live-body""#).unwrap()..];
    assert!(table.contains(r#"class="badge badge-sent""#), "{table}");
    assert!(
        table.contains(&format!(r#"aria-label="Open notification {first}""#)),
        "{table}"
    );

    // Paused: the events are counted, not shown.
    browser.click("#live-pause").await;
    assert_eq!(browser.text("#live-pause").await, "Resume");
    let second = app.send(&email_request(&unique_email("live"))).await;
    browser
        .wait_until("two events held while paused", |dom| {
            dom.contains("Paused: 2 new events not shown yet.")
        })
        .await;
    let rows = live_rows(&browser).await;
    assert!(
        !rows.iter().any(|(_, subject)| subject == &second),
        "shown while paused: {rows:?}"
    );
    // Resumed: they appear.
    browser.click("#live-pause").await;
    assert_eq!(browser.text("#live-pause").await, "Pause");
    let rows = live_rows(&browser).await;
    assert_eq!(
        &rows[..2],
        [
            ("notification.sent".to_owned(), second.clone()),
            ("notification.accepted".to_owned(), second.clone()),
        ],
        "{rows:?}"
    );
    assert!(!browser.text("#live-summary").await.contains("Paused"));

    // Only `notification.sent`: the other rows go, and the stream reconnects with that filter.
    browser
        .click(r#"#live-type option[value="notification.sent"]"#)
        .await;
    let rows = live_rows(&browser).await;
    assert!(
        rows.iter().all(|(kind, _)| kind == "notification.sent") && rows.len() == 2,
        "{rows:?}"
    );
    let third = app.send(&email_request(&unique_email("live"))).await;
    let rows = wait_for_rows(
        &browser,
        "the third notification sent",
        SENT_WITHIN,
        |rows| row_of(rows, "notification.sent", &third).is_some(),
    )
    .await;
    // `accepted` comes first in the log: had it not been filtered out, it would be here.
    assert_eq!(
        row_of(&rows, "notification.accepted", &third),
        None,
        "{rows:?}"
    );
    wait_live(&browser).await;

    // An event's notification opens in the Notifications tab; the stream goes on meanwhile.
    browser
        .click(&format!(r#"#live-body button[data-open-id="{first}"]"#))
        .await;
    browser.wait_visible("#detail", true).await;
    assert!(browser.visible("#panel-notifications").await);
    browser
        .wait_until("the notification's details", |dom| {
            dom.contains(&format!("Notification {first}"))
        })
        .await;
    browser.click("#tab-live").await;
    browser.wait_visible("#panel-live", true).await;
    assert_eq!(live_rows(&browser).await.len(), 3);
    assert_eq!(browser.run("return window.pomboSamePage;").await, true);

    // The connection drops (the network between browser and API goes down) while a
    // notification is sent: once the network is back, the page connects again by itself,
    // with a new token (the first has expired), and shows what it missed, once.
    network.set_up(false);
    let down = std::time::Instant::now();
    browser
        .wait_until("the stream down", |dom| {
            !tag_of(dom, "live-status").contains(r#"data-state="live""#)
        })
        .await;
    let fourth = app.send(&email_request(&unique_email("live"))).await;
    let mut status = Value::Null;
    for _ in 0..600 {
        (_, status) = app
            .call("GET", &format!("/v1/notifications/{fourth}"), None)
            .await;
        if status["status"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status["status"], "sent", "{status}");
    let rows = live_rows(&browser).await;
    assert_eq!(
        row_of(&rows, "notification.sent", &fourth),
        None,
        "{rows:?}"
    );
    // Down longer than a token lives: the page needs a new one.
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(down.elapsed())).await;
    network.set_up(true);
    let rows = wait_for_rows(
        &browser,
        "the notification sent while the network was down",
        // Its own reconnection, not the planned one of a minute after the last (which
        // would hide a page leaving it to the browser).
        Duration::from_secs(40),
        |rows| row_of(rows, "notification.sent", &fourth).is_some(),
    )
    .await;
    wait_live(&browser).await;
    let mut seen = std::collections::HashSet::new();
    assert!(
        rows.iter().all(|row| seen.insert(row)),
        "each once: {rows:?}"
    );
    assert_eq!(rows.len(), 4, "{rows:?}");

    // Signing out closes the stream.
    browser.click("#sign-out").await;
    browser.wait_visible("#sign-in", true).await;
    let state = browser
        .run("return document.getElementById('live-status').getAttribute('data-state');")
        .await;
    assert_eq!(state, "idle");
    assert!(live_rows(&browser).await.is_empty());
}

fn workflow_id(id: &str) -> String {
    pombo_contract::workflow::workflow_id(id.parse().unwrap())
}

/// A webhook receiver on loopback: it answers every request with the status `status` holds
/// (which the test may switch while it runs) and `body`, and keeps each request's
/// `webhook-id` and JSON body, in the order they came.
struct Receiver {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn receiver(status: u16, body: &'static str) -> Receiver {
    let status = Arc::new(AtomicU16::new(status));
    let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let app = {
        let (status, received) = (status.clone(), received.clone());
        axum::Router::new().fallback(
            move |headers: axum::http::HeaderMap, request: axum::body::Bytes| {
                let (status, received) = (status.clone(), received.clone());
                async move {
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let json = serde_json::from_slice(&request).unwrap_or(Value::Null);
                    received.lock().unwrap().push((id, json));
                    let code = status.load(Ordering::SeqCst);
                    (axum::http::StatusCode::from_u16(code).unwrap(), body)
                }
            },
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver {
        addr,
        status,
        received,
    }
}

impl Receiver {
    /// How many requests came so far: a mark for [`Receiver::since`].
    fn seen(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// The `webhook-id`s of the requests that came after `mark`.
    fn since(&self, mark: usize) -> Vec<String> {
        self.received.lock().unwrap()[mark..]
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Waits for a request after `mark` whose `webhook-id` satisfies `wanted`: its id and body.
    async fn wait_for(
        &self,
        mark: usize,
        what: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> (String, Value) {
        for _ in 0..300 {
            let found = self.received.lock().unwrap()[mark..]
                .iter()
                .find(|(id, _)| wanted(id))
                .cloned();
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the receiver never got {what}; it got {:?}",
            self.since(mark)
        );
    }
}

/// A webhook endpoint made through the API (with the test's key, which holds `manage`): its id.
async fn webhook_endpoint(app: &TestApp, body: Value) -> String {
    let (code, created) = app.call("POST", "/v1/webhook-endpoints", Some(&body)).await;
    assert_eq!(code, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// Waits until the endpoint has no pending delivery and `done` holds for its health; its view.
async fn settled(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut view = Value::Null;
    for _ in 0..600 {
        (_, view) = app
            .call("GET", &format!("/v1/webhook-endpoints/{id}"), None)
            .await;
        if view["health"]["pending"] == 0 && done(&view["health"]) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the endpoint's deliveries never settled: {view}");
}

/// Every attempt of the endpoint, as the API lists them (newest first).
async fn all_attempts(app: &TestApp, id: &str) -> Vec<Value> {
    let (code, page) = app
        .call(
            "GET",
            &format!("/v1/webhook-endpoints/{id}/attempts?limit=200"),
            None,
        )
        .await;
    assert_eq!(code, 200, "{page}");
    assert!(page["next_cursor"].is_null(), "{page}");
    page["data"].as_array().unwrap().clone()
}

/// What the endpoint's row in the Webhooks tab shows in its health cells, by name.
async fn shown_health(browser: &Browser, id: &str) -> Value {
    browser
        .run(&format!(
            "const row = document.querySelector('#webhooks-body tr[data-endpoint-row=\"{id}\"]');
             if (!row) return null;
             const shown = {{}};
             for (const td of row.querySelectorAll('td[data-health]')) {{
               shown[td.getAttribute('data-health')] = td.textContent;
             }}
             return shown;"
        ))
        .await
}

/// The rows of the open endpoint's attempts table: attempt id, event id, outcome, status
/// code, error and response as the page shows them (text), and whether its Resend button is
/// there and enabled.
async fn shown_attempts(browser: &Browser) -> Vec<Value> {
    let rows = browser
        .run(
            "return Array.from(document.querySelectorAll('#webhook-attempts tr[data-attempt]'), (row) => {
               const cells = row.querySelectorAll('td');
               const response = row.querySelector('code[data-response]');
               const resend = row.querySelector('button[data-resend]');
               return {
                 id: row.getAttribute('data-attempt'),
                 event: row.getAttribute('data-event'),
                 outcome: row.getAttribute('data-outcome'),
                 attempt: cells[2].textContent,
                 status_code: cells[4].textContent,
                 error: cells[6].textContent,
                 response: response ? response.textContent : null,
                 resend: resend ? (resend.disabled ? 'disabled' : 'enabled') : null,
               };
             });",
        )
        .await;
    rows.as_array().unwrap().clone()
}

/// What the change button `id` is: `[disabled, title]`.
async fn button_state(browser: &Browser, id: &str) -> Value {
    browser
        .run(&format!(
            "const b = document.getElementById('{id}');
             return [b.disabled, b.getAttribute('title') || ''];"
        ))
        .await
}

/// Waits until the open endpoint's message (`#webhook-message`) is shown and holds
/// `wanted`: its text.
async fn wait_message(browser: &Browser, wanted: &str) -> String {
    let mut text = String::new();
    for _ in 0..200 {
        if browser.visible("#webhook-message").await {
            text = browser.text("#webhook-message").await;
            if text.contains(wanted) {
                return text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let problem = browser.text("#webhook-problem").await;
    panic!("no message `{wanted}`: {text:?} (problem: {problem:?})");
}

/// The Webhooks tab, for a signed-in operator: the tenant's endpoints (one whose receiver
/// answers 200, one whose receiver answers 500 with markup in its body) with their state and
/// health counts as the API gives them; the failing one's attempts, each 500 with the
/// receiver's answer shown as text (no element made of it, no script run), filtered by
/// outcome. The receiver fixed (it answers 200), the operator repairs its deliveries, which
/// needs `operate` (a session holds it): Resend on one failed attempt sends that event again
/// (same `webhook-id`) and its new, succeeded attempt shows; Recover (since a day ago) says
/// how many deliveries it made and the other failed event comes again; a test event of the
/// chosen type comes with a `webhook-id` starting `evt_test_`. Enable/Disable and Rotate
/// secret need `manage`, which a session does not hold: disabled with a note saying so, and
/// each forced into action is refused by the server (403), the page showing that problem.
/// Last, the other endpoint's attempts page by page (Load more).
#[tokio::test(flavor = "multi_thread")]
async fn the_webhooks_tab_shows_endpoints_health_and_attempts_and_operators_repair_deliveries() {
    let Some((chromium, driver)) = webdriver::browser() else {
        return;
    };
    const MARKUP: &str = "receiver down <img src=x onerror=alert(1)>";
    let good_receiver = receiver(200, "thanks").await;
    let bad_receiver = receiver(500, MARKUP).await;
    let (good, bad) = (good_receiver.addr, bad_receiver.addr);
    let app = spawn_app_with(AppOptions {
        allowed_private_targets: vec![good.to_string(), bad.to_string()],
        webhooks: Some(pombo_contract::config::WebhooksConfig {
            retry_schedule_secs: vec![1],
            attempt_timeout_secs: 5,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let ops = create_operator(&app, "dev").await;
    let good_id = webhook_endpoint(
        &app,
        json!({"url": format!("http://{good}/hook"), "description": "CRM sync"}),
    )
    .await;
    let bad_id = webhook_endpoint(
        &app,
        json!({"url": format!("http://{bad}/hook"),
               "description": r#"Billing <b id="injected-description">hook</b>"#,
               "event_types": ["notification.accepted", "notification.sent"],
               "ordered": true}),
    )
    .await;
    app.send(&email_request(&unique_email("x"))).await;
    // Each of the two events fails twice at the failing endpoint (an attempt, one retry).
    let bad_view = settled(&app, &bad_id, |h| h["failed"] == 2).await;
    assert_eq!(bad_view["health"]["consecutive_failures"], 4, "{bad_view}");
    settled(&app, &good_id, |h| h["succeeded"].as_u64() >= Some(2)).await;
    // Enough test events for the good endpoint's attempts to take two pages.
    for _ in 0..24 {
        let (code, made) = app
            .call(
                "POST",
                &format!("/v1/webhook-endpoints/{good_id}/test"),
                Some(&json!({"event_type": "notification.sent"})),
            )
            .await;
        assert_eq!(code, 202, "{made}");
    }
    let good_view = settled(&app, &good_id, |h| h["succeeded"].as_u64() >= Some(26)).await;
    let good_attempts = all_attempts(&app, &good_id).await;
    assert!(good_attempts.len() > 25, "{}", good_attempts.len());
    let bad_attempts = all_attempts(&app, &bad_id).await;
    assert_eq!(bad_attempts.len(), 4);

    let browser = Browser::start(&chromium, &driver).await;
    browser.goto(&app.url("/admin#tab=webhooks")).await;
    browser.wait_visible("#sign-in", true).await;
    browser.type_into("#sign-in-email", &ops.email).await;
    browser.type_into("#sign-in-password", &ops.password).await;
    browser.type_into("#sign-in-code", &ops.code(0)).await;
    browser.click("#sign-in-submit").await;
    browser.wait_visible("#panel-webhooks", true).await;

    // Both endpoints, with their state, filters and health as the API says.
    let dom = browser
        .wait_until("both endpoints", |dom| {
            dom.contains(&format!(r#"data-endpoint-row="{good_id}""#))
                && dom.contains(&format!(r#"data-endpoint-row="{bad_id}""#))
        })
        .await;
    assert!(
        tag_of(&dom, "tab-webhooks").contains(r#"aria-selected="true""#),
        "{dom}"
    );
    let list = &dom[dom.find(r#"id="webhooks-body""#).unwrap()..];
    assert!(list.contains(&format!("http://{good}/hook")), "{list}");
    assert!(list.contains("CRM sync"), "{list}");
    assert!(
        list.contains("Billing &lt;b id=\"injected-description\"&gt;hook&lt;/b&gt;"),
        "{list}"
    );
    assert!(!dom.contains(r#"<b id="injected-description">"#), "{dom}");
    assert!(
        list.contains("notification.accepted, notification.sent"),
        "{list}"
    );
    assert!(list.contains(r#"class="badge badge-enabled""#), "{list}");
    assert!(
        browser
            .text("#webhooks-summary")
            .await
            .contains("2 endpoints shown")
    );
    let health = |view: &Value| {
        let h = &view["health"];
        json!({
            "succeeded": h["succeeded"].to_string(),
            "failed": h["failed"].to_string(),
            "pending": "0",
            "consecutive_failures": h["consecutive_failures"].to_string(),
            "last_error": h["last_error"].as_str().unwrap_or("—"),
        })
    };
    assert_eq!(
        shown_health(&browser, &bad_id).await,
        health(&bad_view),
        "{bad_view}"
    );
    assert_eq!(
        shown_health(&browser, &bad_id).await["last_error"],
        "the endpoint answered 500"
    );
    assert_eq!(shown_health(&browser, &good_id).await, health(&good_view));

    // The failing endpoint: its attempts, newest first, each a 500 whose answer is shown as
    // text. A script in the answer would call alert (caught here); none does.
    browser
        .run("window.alerted = []; window.alert = (m) => window.alerted.push(String(m));")
        .await;
    browser
        .click(&format!(r#"button[data-endpoint="{bad_id}"]"#))
        .await;
    browser.wait_visible("#webhook", true).await;
    browser
        .wait_until("the failing endpoint's attempts", |dom| {
            dom.matches(r#"data-outcome="failed""#).count() == 4
        })
        .await;
    let rows = shown_attempts(&browser).await;
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let expected: Vec<&str> = bad_attempts
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected, "newest first, as the API lists them");
    for row in &rows {
        assert_eq!(row["outcome"], "failed", "{row}");
        assert_eq!(row["status_code"], "500", "{row}");
        assert_eq!(row["error"], "the endpoint answered 500", "{row}");
        assert_eq!(row["response"], MARKUP, "{row}");
        assert!(row["event"].as_str().unwrap().starts_with("evt_"), "{row}");
        assert_eq!(row["resend"], "enabled", "a session may resend: {row}");
    }
    let mut numbers: Vec<&str> = rows
        .iter()
        .map(|r| r["attempt"].as_str().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, ["1", "1", "2", "2"]);
    // The endpoint's details load beside its attempts: wait for them too.
    let dom = browser
        .wait_until("the failing endpoint's details", |dom| {
            dom.find(r#"id="webhook-fields""#)
                .is_some_and(|at| dom[at..].contains("2 failed"))
        })
        .await;
    let attempts = &dom[dom.find(r#"id="webhook-attempts""#).unwrap()..];
    assert!(
        attempts.contains("receiver down &lt;img src=x onerror=alert(1)&gt;"),
        "{attempts}"
    );
    let images = browser
        .run("return document.querySelectorAll('#webhook img, #panel-webhooks img').length;")
        .await;
    assert_eq!(images, 0);
    // The endpoint's details: its health, its filters, ordered.
    let fields = &dom[dom.find(r#"id="webhook-fields""#).unwrap()..];
    assert!(fields.contains("2 failed"), "{fields}");
    assert!(fields.contains("yes: one event at a time"), "{fields}");
    assert!(
        browser
            .text("#webhook-heading")
            .await
            .contains(&format!("http://{bad}/hook")),
    );

    // Filtered by outcome: no succeeded attempt, the four failed ones.
    browser
        .click(r#"#webhook-attempts-status option[value="succeeded"]"#)
        .await;
    browser
        .wait_until("no succeeded attempts", |dom| {
            dom.contains("No succeeded attempts.")
        })
        .await;
    browser
        .click(r#"#webhook-attempts-status option[value="failed"]"#)
        .await;
    browser
        .wait_until("the failed attempts again", |dom| {
            dom.matches(r#"data-outcome="failed""#).count() == 4
        })
        .await;
    assert!(
        browser
            .text("#webhook-attempts-summary")
            .await
            .contains("4 failed attempts shown")
    );

    // Changing the endpoint needs `manage`, which a session does not hold: Enable/Disable
    // and Rotate secret are disabled, and the note names just them. Repairing its deliveries
    // needs `operate`, which a session holds: Send test event and Recover are enabled.
    browser.wait_visible("#webhook-read-only", true).await;
    let note = browser.text("#webhook-read-only").await;
    assert!(
        note.contains("Enable/Disable and Rotate secret need an API key with manage"),
        "{note}"
    );
    for other in ["test", "recover", "resend"] {
        assert!(!note.to_lowercase().contains(other), "{note}");
    }
    assert!(!browser.visible("#webhook-no-operate").await);
    for button in ["webhook-toggle", "webhook-rotate"] {
        let state = button_state(&browser, button).await;
        assert_eq!(state[0], true, "#{button}");
        assert!(
            state[1].as_str().unwrap().contains("`manage`"),
            "#{button}: {state}"
        );
    }
    for button in ["webhook-test-send", "webhook-recover"] {
        assert_eq!(
            button_state(&browser, button).await,
            json!([false, ""]),
            "#{button}"
        );
    }
    assert_eq!(browser.text("#webhook-toggle").await, "Disable endpoint");
    // The test event's types come from `GET /v1/event-types`; Recover starts a day ago.
    let dom = browser.source().await;
    assert!(
        dom.contains(r#"<option value="notification.failed""#),
        "{dom}"
    );
    let since = browser
        .run(
            "return (Date.now() - new Date(document.getElementById('webhook-recover-since').value).getTime()) / 3600000;",
        )
        .await
        .as_f64()
        .unwrap();
    assert!((23.9..24.1).contains(&since), "{since} h ago");
    // Forced into action, the server refuses the session, and the page shows its problem.
    for button in ["webhook-toggle", "webhook-rotate"] {
        browser
            .run(&format!(
                "const problem = document.getElementById('webhook-problem');
                 problem.hidden = true;
                 problem.textContent = '';
                 document.getElementById('{button}').disabled = false;"
            ))
            .await;
        browser.click(&format!("#{button}")).await;
        browser.wait_visible("#confirm", true).await;
        browser.click("#confirm-yes").await;
        browser.wait_visible("#webhook-problem", true).await;
        let problem = browser.text("#webhook-problem").await;
        assert!(
            problem.contains("(403)") && problem.contains("manage"),
            "#{button}: {problem}"
        );
        assert_eq!(button_state(&browser, button).await[0], true, "#{button}");
    }
    assert!(!browser.visible("#webhook-secret").await);
    let (_, view) = app
        .call("GET", &format!("/v1/webhook-endpoints/{bad_id}"), None)
        .await;
    assert_eq!(view["enabled"], true, "{view}");

    // The receiver fixed, the operator resends one failed event: the receiver gets it again,
    // with the same `webhook-id`, and its new attempt shows, succeeded, without a Refresh.
    bad_receiver.status.store(200, Ordering::SeqCst);
    browser
        .click(r#"#webhook-attempts-status option[value=""]"#)
        .await;
    browser
        .wait_until("every attempt", |dom| {
            dom.matches(r#"data-outcome="failed""#).count() == 4
                && !dom.contains("failed attempts shown")
        })
        .await;
    let mut failed_events: Vec<String> = bad_attempts
        .iter()
        .map(|a| a["event_id"].as_str().unwrap().to_owned())
        .collect();
    failed_events.sort();
    failed_events.dedup();
    assert_eq!(failed_events.len(), 2, "{failed_events:?}");
    let resent = bad_attempts[0]["event_id"].as_str().unwrap().to_owned();
    let recovered = failed_events
        .iter()
        .find(|e| **e != resent)
        .unwrap()
        .clone();
    let mark = bad_receiver.seen();
    browser
        .click(&format!(
            r#"#webhook-attempts tr[data-event="{resent}"] button[data-resend]"#
        ))
        .await;
    browser.wait_visible("#confirm", true).await;
    browser.click("#confirm-yes").await;
    let message = wait_message(
        &browser,
        &format!("Event {resent} resent: 1 delivery made ("),
    )
    .await;
    let delivery = message
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("no delivery id in {message:?}"));
    bad_receiver
        .wait_for(mark, "the resent event", |id| id == resent)
        .await;
    browser
        .wait_until("the resent event's attempt", |dom| {
            dom.contains(&format!(
                r#"data-event="{resent}" data-outcome="succeeded""#
            ))
        })
        .await;
    let row = shown_attempts(&browser)
        .await
        .into_iter()
        .find(|r| r["event"] == resent.as_str() && r["outcome"] == "succeeded")
        .unwrap();
    assert_eq!(row["status_code"], "200", "{row}");
    assert_eq!(row["resend"], Value::Null, "{row}");
    let made = all_attempts(&app, &bad_id).await;
    assert!(
        made.iter().any(|a| a["delivery_id"] == delivery.as_str()
            && a["event_id"] == resent.as_str()
            && a["succeeded"] == true),
        "no succeeded attempt of delivery {delivery}: {made:?}"
    );
    assert!(!browser.visible("#webhook-problem").await);

    // Recover, since a day ago: the other failed event only (the resent one succeeded since).
    let mark = bad_receiver.seen();
    browser.click("#webhook-recover").await;
    browser.wait_visible("#confirm", true).await;
    browser.click("#confirm-yes").await;
    wait_message(&browser, "Recovered: 1 failed delivery made again").await;
    bad_receiver
        .wait_for(mark, "the recovered event", |id| id == recovered)
        .await;
    browser
        .wait_until("the recovered event's attempt", |dom| {
            dom.contains(&format!(
                r#"data-event="{recovered}" data-outcome="succeeded""#
            ))
        })
        .await;
    assert_eq!(bad_receiver.since(mark), [recovered]);
    assert!(!browser.visible("#webhook-problem").await);

    // A test event of the chosen type: its `webhook-id` starts `evt_test_`, from the delivery
    // the page names, and its attempt shows.
    let mark = bad_receiver.seen();
    browser
        .click(r#"#webhook-test-type option[value="notification.failed"]"#)
        .await;
    browser.click("#webhook-test-send").await;
    let message = wait_message(
        &browser,
        "Test event (notification.failed) sent as delivery ",
    )
    .await;
    let delivery: Uuid = message
        .split_once("as delivery ")
        .and_then(|(_, rest)| rest.split_once(';'))
        .and_then(|(id, _)| id.parse().ok())
        .unwrap_or_else(|| panic!("no delivery id in {message:?}"));
    let (id, body) = bad_receiver
        .wait_for(mark, "the test event", |id| id.starts_with("evt_test_"))
        .await;
    assert_eq!(id, format!("evt_test_{}", delivery.simple()));
    assert_eq!(body["type"], "notification.failed", "{body}");
    assert_eq!(body["test"], true, "{body}");
    browser
        .wait_until("the test event's attempt", |dom| {
            dom.matches(r#"data-outcome="succeeded""#).count() == 3
        })
        .await;
    let rows = shown_attempts(&browser).await;
    assert!(
        rows.iter()
            .any(|r| r["event"].is_null() && r["outcome"] == "succeeded"),
        "{rows:?}"
    );
    assert_eq!(rows.len(), 7, "{rows:?}");
    assert!(!browser.visible("#webhook-problem").await);
    assert_eq!(
        browser.run("return window.alerted;").await,
        json!([]),
        "no script of the receiver's ran"
    );

    // The other endpoint's attempts, 25 at a time: Load more shows the rest, once each.
    browser
        .click(&format!(r#"button[data-endpoint="{good_id}"]"#))
        .await;
    browser
        .wait_until("the first page of attempts", |dom| {
            dom.matches(r#"data-outcome="succeeded""#).count() == 25
        })
        .await;
    assert!(!browser.visible("#webhook-problem").await);
    browser.wait_visible("#webhook-attempts-more", true).await;
    browser.click("#webhook-attempts-more").await;
    let total = good_attempts.len();
    browser
        .wait_until("every attempt", |dom| {
            dom.matches(r#"data-outcome="succeeded""#).count() == total
        })
        .await;
    browser.wait_visible("#webhook-attempts-more", false).await;
    let rows = shown_attempts(&browser).await;
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let expected: Vec<&str> = good_attempts
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected);
    for row in &rows {
        assert_eq!(row["status_code"], "200", "{row}");
        assert_eq!(row["response"], "thanks", "{row}");
        assert_eq!(row["resend"], Value::Null, "nothing to resend: {row}");
    }

    // Disabled through the API (with a key): after a refresh the list says so.
    let (code, view) = app
        .call(
            "PATCH",
            &format!("/v1/webhook-endpoints/{good_id}"),
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(code, 200, "{view}");
    browser.click("#webhooks-refresh").await;
    let dom = browser
        .wait_until("the endpoint disabled", |dom| {
            dom.contains(&format!(
                r#"data-endpoint-row="{good_id}" data-enabled="false""#
            ))
        })
        .await;
    let list = &dom[dom.find(r#"id="webhooks-body""#).unwrap()..];
    assert!(list.contains(r#"class="badge badge-disabled""#), "{list}");
}

/// The Overview tab charts the last day's notifications per hour and channel and lists each
/// channel's figures as `GET /v1/analytics` gives them; a screenshot is kept in
/// `target/test-output/` for a person to look at.
#[tokio::test(flavor = "multi_thread")]
async fn the_overview_tab_charts_the_last_day_per_channel() {
    let Some((chromium, driver)) = webdriver::browser() else {
        return;
    };
    let app = spawn_app_with(AppOptions::default()).await;
    let ops = create_operator(&app, "dev").await;
    let mut ids = Vec::new();
    for i in 0..2 {
        ids.push(
            app.send(&json!({"channel": "sms", "to": format!("+551198765430{i}"), "content": {"text": "hi"}}))
                .await,
        );
    }
    ids.push(app.send(&email_request(&unique_email("overview"))).await);
    for id in &ids {
        app.wait_for_status(id, "sent", Duration::from_secs(60))
            .await;
    }
    let (_, report) = app
        .call("GET", "/v1/analytics?group_by=channel", None)
        .await;

    let browser = Browser::start(&chromium, &driver).await;
    browser.goto(&app.url("/admin#tab=overview")).await;
    browser.wait_visible("#sign-in", true).await;
    browser.type_into("#sign-in-email", &ops.email).await;
    browser.type_into("#sign-in-password", &ops.password).await;
    browser.type_into("#sign-in-code", &ops.code(0)).await;
    browser.click("#sign-in-submit").await;
    browser.wait_visible("#panel-overview", true).await;
    let dom = browser
        .wait_until("both channels' rows", |dom| {
            dom.contains(r#"data-overview-row="sms""#)
                && dom.contains(r#"data-overview-row="email""#)
        })
        .await;
    // The rows say what the API says.
    for series in report["series"].as_array().unwrap() {
        let channel = series["group"].as_str().unwrap();
        let row = browser
            .text(&format!(r#"tr[data-overview-row="{channel}"]"#))
            .await;
        let totals = &series["totals"];
        let expected = format!(
            "{channel} {} {} {} {} {}",
            totals["accepted"],
            totals["sent"],
            totals["delivered"],
            totals["read"],
            totals["failed"]
        );
        assert!(row.starts_with(&expected), "{row:?} vs {expected:?}");
    }
    // Each provider's health, as the API gives it by provider.
    let (_, by_provider) = app
        .call("GET", "/v1/analytics?group_by=provider", None)
        .await;
    let providers: Vec<&Value> = by_provider["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["group"].is_string())
        .collect();
    assert!(!providers.is_empty(), "{by_provider}");
    for series in providers {
        let provider = series["group"].as_str().unwrap();
        let selector = format!(r#"tr[data-provider-row="{provider}"]"#);
        let totals = &series["totals"];
        let expected = format!(
            "{provider} {} {} {}",
            totals["sent"], totals["delivered"], totals["failed"]
        );
        browser
            .wait_until(&format!("{provider}'s health row"), |dom| {
                dom.contains(&format!(r#"data-provider-row="{provider}""#))
            })
            .await;
        let row = browser.text(&selector).await;
        assert!(row.starts_with(&expected), "{row:?} vs {expected:?}");
    }
    // Nothing failed: the failure reasons say so.
    assert_eq!(
        browser.text("#overview-failures-body").await,
        "No failures in the last 24 hours."
    );
    // Live: a notification sent now shows up without a click (the tenant's event stream).
    let third = app
        .send(&json!({"channel": "sms", "to": "+5511987654309", "content": {"text": "hi"}}))
        .await;
    app.wait_for_status(&third, "sent", Duration::from_secs(60))
        .await;
    let mut refreshed = String::new();
    for _ in 0..100 {
        refreshed = browser.text(r#"tr[data-overview-row="sms"]"#).await;
        if refreshed.starts_with("sms 3 3") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        refreshed.starts_with("sms 3 3"),
        "not refreshed: {refreshed:?}"
    );
    // One bar segment per channel (all sent within the hour), as tall as its count.
    let bars = browser
        .run(
            "return [...document.querySelectorAll('#overview-chart rect[data-channel]')]\
             .map(r => [r.getAttribute('data-channel'), Number(r.getAttribute('data-count')), Number(r.getAttribute('height'))]);",
        )
        .await;
    let bars = bars.as_array().unwrap();
    let count_of = |channel: &str| {
        bars.iter()
            .filter(|b| b[0] == channel)
            .map(|b| b[1].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!((count_of("sms"), count_of("email")), (3, 1), "{bars:?}");
    let height = |channel: &str| {
        bars.iter().find(|b| b[0] == channel).unwrap()[2]
            .as_f64()
            .unwrap()
    };
    assert!(height("sms") > height("email") * 1.5, "{bars:?}");
    assert!(dom.contains(r#"data-legend="sms""#), "{dom}");
    browser.set_window(1280, 1000).await;
    browser
        .run("document.getElementById('panel-overview').scrollIntoView(); return null;")
        .await;
    let shot = crate::support::servers::repo_root().join("target/test-output/admin-overview.png");
    browser.screenshot(&shot).await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
}
