//! Server-side request forgery through the targets a tenant sets: provider accounts'
//! endpoints and SMTP hosts. Each test stands up an "internal" listener (what a worker's
//! network holds: cloud metadata, an admin port) that is not among the allowed private
//! targets, points a tenant's account at it the ways an attacker would, and checks that
//! it is refused and that the listener receives nothing.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, http::StatusCode, response::IntoResponse};
use futures::StreamExt;
use pombo_providers::ProviderSettings;
use pombo_store::provider_accounts::{self, NewAccount};
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, spawn_app_with};

/// A loopback server counting what reaches it; answers like a metadata service would.
struct Internal {
    addr: std::net::SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn internal() -> Internal {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            (
                StatusCode::OK,
                r#"{"AccessKeyId":"ASIA-INTERNAL-SECRET","sid":"SM1"}"#,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Internal { addr, hits }
}

/// A server that answers every request with a redirect to `to`: an attacker's public
/// server (allowed here as a private target, since tests only have loopback).
async fn redirector(to: String) -> std::net::SocketAddr {
    let app = Router::new().fallback(move || {
        let to = to.clone();
        async move { (StatusCode::FOUND, [("location", to)]).into_response() }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn twilio(base_url: &str) -> Value {
    let ProviderSettings::Twilio(t) = crate::support::providers::fake_twilio(base_url) else {
        unreachable!()
    };
    json!({"type": "twilio", "account_sid": t.account_sid, "auth_token": t.auth_token.expose(),
           "from": t.from, "base_url": base_url})
}

async fn create(app: &TestApp, name: &str, settings: Value) -> (u16, Value) {
    app.call(
        "POST",
        "/v1/providers",
        Some(&json!({"name": name, "settings": settings})),
    )
    .await
}

fn field_errors(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn private_endpoints_are_refused_when_an_account_is_saved() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let internal = internal().await;
    let port = internal.addr.port();
    for base_url in [
        format!("http://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}"),
        format!("https://localhost:{port}"),
        format!("https://LocalHost.:{port}"),
        format!("https://[::1]:{port}"),
        format!("https://[::ffff:127.0.0.1]:{port}"),
        format!("https://[::127.0.0.1]:{port}"),
        format!("https://2130706433:{port}"),
        format!("https://0x7f.1:{port}"),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[64:ff9b::a9fe:a9fe]".to_owned(),
        "https://[2002:a9fe:a9fe::1]".to_owned(),
        "https://100.64.0.1".to_owned(),
        "https://198.18.0.1".to_owned(),
        "https://metadata.google.internal".to_owned(),
        "http://api.twilio.com".to_owned(),
        "https://user:pw@api.twilio.com".to_owned(),
    ] {
        let (code, body) = create(&app, "t", twilio(&base_url)).await;
        assert_eq!(code, 422, "{base_url}: {body}");
        assert_eq!(
            field_errors(&body),
            ["settings.base_url"],
            "{base_url}: {body}"
        );
    }
    // Every other endpoint setting: FCM's token exchange, an SMTP server, SES's region
    // (which lands in the host name).
    let (code, body) = create(
        &app,
        "f",
        json!({"type": "fcm", "project_id": "p", "client_email": "x@p.iam.gserviceaccount.com",
               "private_key": "k", "token_uri": "https://169.254.169.254/token"}),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        field_errors(&body).contains(&"settings.token_uri".to_owned()),
        "{body}"
    );
    let (code, body) = create(
        &app,
        "s",
        json!({"type": "smtp", "host": "127.0.0.1", "port": 25, "from": "a@example.com"}),
    )
    .await;
    assert_eq!(
        (code, field_errors(&body)),
        (422, vec!["settings.host".into()]),
        "{body}"
    );
    let (code, body) = create(
        &app,
        "e",
        json!({"type": "ses", "access_key_id": "AKIA", "secret_access_key": "s",
               "from": "a@example.com", "region": "x@127.0.0.1:9000/#"}),
    )
    .await;
    assert_eq!(
        (code, field_errors(&body)),
        (422, vec!["settings.region".into()]),
        "{body}"
    );

    // A public endpoint is fine, and a PATCH cannot move it to a private one.
    let (code, created) = create(&app, "ok", twilio("https://api.twilio.com")).await;
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (code, body) = app
        .call(
            "PATCH",
            &format!("/v1/providers/{id}"),
            Some(
                &json!({"settings": {"base_url": format!("https://127.0.0.1:{port}"),
                                      "auth_token": "a-new-token"}}),
            ),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(field_errors(&body), ["settings.base_url"], "{body}");
    assert_eq!(internal.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn moving_an_endpoint_needs_every_credential_again() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let (code, created) = create(&app, "sms", twilio("https://api.twilio.com")).await;
    assert_eq!(code, 201, "{created}");
    let path = format!("/v1/providers/{}", created["id"].as_str().unwrap());
    // The stored token would follow the endpoint to a server of the caller's choosing.
    for settings in [
        json!({"base_url": "https://attacker.example.com"}),
        json!({"base_url": "https://attacker.example.com", "auth_token": "********"}),
    ] {
        let (code, body) = app
            .call("PATCH", &path, Some(&json!({"settings": settings})))
            .await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(field_errors(&body), ["settings.auth_token"], "{body}");
    }
    let (code, body) = app
        .call(
            "PATCH",
            &path,
            Some(
                &json!({"settings": {"base_url": "https://attacker.example.com",
                                      "auth_token": "given-again"}}),
            ),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    // Other changes keep the masked credential, as before.
    let (code, body) = app
        .call(
            "PATCH",
            &path,
            Some(&json!({"settings": {"from": "+15005550007"}})),
        )
        .await;
    assert_eq!(code, 200, "{body}");
}

/// The first attempt's error, once the notification has failed.
async fn failed_attempt(app: &TestApp, id: &str) -> String {
    let n = app
        .wait_for_status(id, "failed", Duration::from_secs(60))
        .await;
    n["attempt_log"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_an_internal_address_is_not_followed() {
    let internal = internal().await;
    let metadata = format!(
        "http://{}/latest/meta-data/iam/security-credentials/role",
        internal.addr
    );
    let attacker = redirector(metadata).await;
    let app = spawn_app_with(AppOptions {
        allowed_private_targets: vec![attacker.to_string()],
        ..Default::default()
    })
    .await;
    let (code, body) = create(&app, "sms", twilio(&format!("http://{attacker}"))).await;
    assert_eq!(code, 201, "{body}");
    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    let error = failed_attempt(&app, &id).await;
    assert!(error.contains("302"), "{error}");
    assert!(!error.contains("INTERNAL-SECRET"), "{error}");
    assert_eq!(
        internal.hits.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

/// A tenant's Twilio account pointed at `service` (a local server allowed as a private
/// target), one SMS through it, and that SMS's failed attempt's error.
async fn sms_answered_by(service: Router) -> (crate::support::TestApp, String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    let app = spawn_app_with(AppOptions {
        allowed_private_targets: vec![addr.to_string()],
        ..Default::default()
    })
    .await;
    let (code, body) = create(&app, "sms", twilio(&format!("http://{addr}"))).await;
    assert_eq!(code, 201, "{body}");
    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    let error = failed_attempt(&app, &id).await;
    (app, id, error)
}

/// What answers in the provider's place (here an internal service the operator let
/// through) reaches the tenant as its status alone: neither the attempt error nor anything
/// else the tenant reads back holds a byte of its body.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_in_the_providers_place_is_not_read_back() {
    let service = Router::new().fallback(|| async {
        (
            StatusCode::FORBIDDEN,
            [("content-type", "text/html")],
            "<html><body>metadata ASIA-INTERNAL-SECRET</body></html>",
        )
    });
    let (app, id, error) = sms_answered_by(service).await;
    assert_eq!(error, "HTTP 403 Forbidden from twilio", "{error}");
    let (_, n) = app
        .call("GET", &format!("/v1/notifications/{id}"), None)
        .await;
    let (_, events) = app
        .call("GET", &format!("/v1/notifications/{id}/events"), None)
        .await;
    for leaked in ["INTERNAL-SECRET", "metadata", "<html"] {
        assert!(!n.to_string().contains(leaked), "{n}");
        assert!(!events.to_string().contains(leaked), "{events}");
    }
}

/// A target that answers without end (a tenant's own server behind a provider account) is
/// read up to `http::MAX_ANSWER_BYTES` and no further: the attempt fails on its status, at
/// once, and the server sees the connection dropped after a few buffers, not after the
/// attempt's timeout with gigabytes read.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_without_end_is_cut_short() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = sent.clone();
    let service = Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
            let endless = futures::stream::repeat(chunk).map(move |c| {
                counted.fetch_add(c.len(), Ordering::SeqCst);
                Ok::<_, std::convert::Infallible>(c)
            });
            (
                StatusCode::BAD_REQUEST,
                axum::body::Body::from_stream(endless),
            )
        }
    });
    let (_app, _, error) = sms_answered_by(service).await;
    assert_eq!(error, "HTTP 400 Bad Request from twilio", "{error}");
    // The cap plus what the two sockets' buffers held when the worker hung up.
    let read = sent.load(Ordering::SeqCst);
    assert!(
        read < 32 << 20,
        "{read} bytes were sent before the worker hung up"
    );
}

/// Saves `settings` as an account of the test's tenant straight into the store, around the
/// API's checks, as an account saved before the guard existed would be.
async fn saved_around_the_api(
    app: &TestApp,
    settings: ProviderSettings,
) -> provider_accounts::Account<ProviderSettings> {
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let keyring = pombo_store::sealed::Keyring::from_config(&app.config.encryption).unwrap();
    provider_accounts::create(
        &app.db,
        keyring.as_ref(),
        tenant.id,
        NewAccount {
            name: format!("raw-{}", uuid::Uuid::new_v4().simple()),
            priority: 0,
            enabled: true,
            settings,
            rate_limit: None,
        },
    )
    .await
    .unwrap()
}

/// Accounts stored before the guard (or written around the API) are checked again when
/// the worker builds their client: the send fails for good and nothing is connected to.
#[tokio::test(flavor = "multi_thread")]
async fn the_worker_refuses_private_endpoints_the_api_did_not_see() {
    let internal = internal().await;
    let app = spawn_app_with(AppOptions::default()).await;
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let keyring = pombo_store::sealed::Keyring::from_config(&app.config.encryption).unwrap();
    let smtp = pombo_providers::SmtpSettings {
        host: "127.0.0.1".into(),
        port: app.config.smtp.port,
        tls: Default::default(),
        username: None,
        password: None,
        from: "Pombo <pombo@localhost>".into(),
    };
    for settings in [
        crate::support::providers::fake_twilio(&format!("https://{}", internal.addr)),
        crate::support::providers::fake_twilio(&format!(
            "https://localhost:{}",
            internal.addr.port()
        )),
        ProviderSettings::Smtp(smtp),
    ] {
        let channel = settings.channel();
        saved_around_the_api(&app, settings).await;
        let request = match channel {
            pombo_contract::Channel::Email => {
                crate::support::email_request(&crate::support::unique_email("guard"))
            }
            _ => json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}),
        };
        let id = app.send(&request).await;
        let n = app
            .wait_for_status(&id, "failed", Duration::from_secs(60))
            .await;
        let error = n["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains("does not call") || error.contains("internal network"),
            "{n}"
        );
        // Only the first account of the channel is tried: remove it for the next round.
        for a in provider_accounts::list::<ProviderSettings>(
            &app.db,
            keyring.as_ref(),
            tenant.id,
            Some(channel),
        )
        .await
        .unwrap()
        {
            provider_accounts::delete(&app.db, tenant.id, a.id)
                .await
                .unwrap();
        }
    }
    assert_eq!(internal.hits.load(Ordering::SeqCst), 0);
}

/// The API's own calls to a tenant's gateway (its webhook, its instance) go through the
/// same guard: an account written around the API, pointing inside, gets a 424 naming the
/// rule, and nothing inside is connected to.
#[tokio::test(flavor = "multi_thread")]
async fn the_apis_own_calls_to_a_tenants_gateway_refuse_private_endpoints() {
    let internal = internal().await;
    let app = spawn_app_with(AppOptions::default()).await;
    let inside = [
        format!("https://{}", internal.addr),
        format!("https://localhost:{}", internal.addr.port()),
    ];
    for base_url in inside {
        let settings = ProviderSettings::Waha(pombo_providers::WahaSettings {
            base_url,
            session: "default".into(),
            api_key: None,
            webhook_secret: Some(pombo_contract::config::Secret::new("hmac-key")),
        });
        let account = saved_around_the_api(&app, settings).await;
        for (method, path) in [
            ("PUT", format!("/v1/providers/{}/callbacks", account.id)),
            ("GET", format!("/v1/providers/{}/callbacks", account.id)),
            ("POST", format!("/v1/providers/{}/instance", account.id)),
            ("GET", format!("/v1/providers/{}/instance/qr", account.id)),
            ("DELETE", format!("/v1/providers/{}/instance", account.id)),
        ] {
            let (code, problem) = app.call(method, &path, None).await;
            assert!(
                code == 424 || code == 422,
                "{method} {path}: {code} {problem}"
            );
            let said = problem.to_string();
            assert!(
                said.contains("does not call") || said.contains("internal network"),
                "{method} {path}: {problem}"
            );
        }
    }
    assert_eq!(internal.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_targets_follow_the_same_rule() {
    let internal = internal().await;
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    for to in [
        format!("http://{}/hook", internal.addr),
        format!("https://{}/hook", internal.addr),
        format!("https://localhost:{}/hook", internal.addr.port()),
    ] {
        let response = app
            .post_notification(&json!({"channel": "webhook", "to": to,
                                       "content": {"type": "t", "payload": {}}}))
            .await;
        let code = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            (code, field_errors(&body)),
            (422, vec!["to".into()]),
            "{to}: {body}"
        );
    }
    assert_eq!(internal.hits.load(Ordering::SeqCst), 0);
}
