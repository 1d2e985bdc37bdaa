//! The operators' admin page at `/admin`: served with a strict Content Security Policy, its
//! script and style as separate same-origin responses, and used in a real headless Chromium
//! (driven through ChromeDriver) against the API: an operator signs in with password and
//! TOTP code (a wrong code is refused), the page lists the failed notifications, opens one
//! with its attempt log and timeline, shows the audit log and the provider accounts, and
//! signs out; in a conversation it replies (the reply reaches the provider's fake), is told
//! why a reply is refused, and closes and reopens it. The session cookie is HttpOnly (no
//! script sees it), and a request without the CSRF token is refused even from the page's
//! own origin.

use std::time::Duration;

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
        AppOptions, TestApp, spawn_app_with,
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

fn workflow_id(id: &str) -> String {
    pombo_contract::workflow::workflow_id(id.parse().unwrap())
}
