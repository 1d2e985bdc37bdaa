//! Operators sign in with a password and a TOTP code (or a recovery code), get a session
//! cookie, and with it use the API for their granted tenants, reading and repairing only,
//! with the CSRF token on every change. Made with `pombo-admin operator create`, as an
//! administrator would.

use std::collections::HashMap;

use pombo_api::{admin_cli::run, operators::credentials};
use reqwest::{Method, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{AppOptions, TestApp, spawn_app_with};

/// What `pombo-admin operator create` printed.
pub struct Credentials {
    pub email: String,
    pub password: String,
    pub secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
}

impl Credentials {
    /// The code an authenticator app would show `offset_secs` from now.
    pub fn code(&self, offset_secs: i64) -> String {
        let now = chrono::Utc::now().timestamp() + offset_secs;
        credentials::totp_code(&self.secret, now as u64)
    }
}

pub async fn admin(app: &TestApp, args: &[&str]) -> anyhow::Result<pombo_api::admin_cli::Output> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run(&app.config, &args).await
}

/// A new operator granted `tenants` (names, comma-separated).
pub async fn create_operator(app: &TestApp, tenants: &str) -> Credentials {
    let email = format!("ops-{}@example.com", Uuid::new_v4().simple());
    let out = admin(app, &["operator", "create", &email, "--tenant", tenants])
        .await
        .unwrap();
    let mut fields: HashMap<&str, String> = HashMap::new();
    let mut recovery_codes = Vec::new();
    for line in out.stdout.lines() {
        let (name, value) = line.split_once('\t').unwrap();
        if name == "recovery_code" {
            recovery_codes.push(value.to_owned());
        } else {
            fields.insert(name, value.to_owned());
        }
    }
    assert!(
        out.stdout.contains("otpauth://totp/Pombo%3A"),
        "{}",
        out.stdout
    );
    let secret = totp_rs::Secret::Encoded(fields["totp_secret"].clone())
        .to_bytes()
        .unwrap();
    Credentials {
        email: fields["email"].clone(),
        password: fields["password"].clone(),
        secret,
        recovery_codes,
    }
}

/// A signed-in session: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

async fn sign_in_raw(app: &TestApp, email: &str, password: &str, code: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/operator/session"))
        .json(&json!({"email": email, "password": password, "code": code}))
        .send()
        .await
        .unwrap()
}

async fn sign_in(app: &TestApp, who: &Credentials, code: &str) -> (Session, Value) {
    let response = sign_in_raw(app, &who.email, &who.password, code).await;
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "{part} in {set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-pombo_session="), "{cookie}");
    let body: Value = response.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    (Session { cookie, csrf }, body)
}

/// A call with the session's cookie, for `tenant`, with or without the CSRF token.
async fn call(
    app: &TestApp,
    session: &Session,
    tenant: Option<&str>,
    csrf: bool,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            app.url(path),
        )
        .header(header::COOKIE, &session.cookie);
    if let Some(tenant) = tenant {
        request = request.header("X-Pombo-Tenant", tenant);
    }
    if csrf {
        request = request.header("X-CSRF-Token", &session.csrf);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET /v1/notifications` with the session, for `tenant`.
async fn list_notifications(
    app: &TestApp,
    session: &Session,
    tenant: Option<&str>,
) -> (u16, Value) {
    call(
        app,
        session,
        tenant,
        false,
        "GET",
        "/v1/notifications",
        None,
    )
    .await
}

async fn app() -> TestApp {
    spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await
}

fn sms() -> Value {
    json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_signs_in_with_password_and_code_and_reads_and_repairs_its_tenant_only() {
    let app = app().await;
    let ops = create_operator(&app, "dev").await;
    let other_name = format!("other-{}", Uuid::new_v4().simple());
    pombo_store::tenants::create(&app.db, &other_name)
        .await
        .unwrap();
    let other_name = other_name.as_str();
    let sent = app.send(&sms()).await;

    let (session, body) = sign_in(&app, &ops, &ops.code(0)).await;
    assert_eq!(body["operator"]["email"], ops.email.as_str());
    assert_eq!(body["tenants"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["tenants"][0]["name"], "dev");
    assert_eq!(body["recovery_codes_left"], 10);

    // Reads for its tenant.
    let (code, list) = list_notifications(&app, &session, Some("dev")).await;
    assert_eq!(code, 200, "{list}");
    assert!(list.to_string().contains(&sent), "{list}");
    let (code, who) = call(
        &app,
        &session,
        None,
        false,
        "GET",
        "/v1/operator/session",
        None,
    )
    .await;
    assert_eq!(code, 200, "{who}");
    assert_eq!(who["csrf_token"], session.csrf.as_str());

    // One tenant at a time, and only granted ones.
    let (code, problem) = list_notifications(&app, &session, None).await;
    assert_eq!(code, 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("X-Pombo-Tenant"),
        "{problem}"
    );
    let (code, problem) = list_notifications(&app, &session, Some(other_name)).await;
    assert_eq!(code, 403, "{problem}");

    // Repairs need the CSRF token; sending and managing are not an operator's.
    let cancel = format!("/v1/notifications/{sent}/cancel");
    let (code, problem) = call(&app, &session, Some("dev"), false, "POST", &cancel, None).await;
    assert_eq!(code, 403, "{problem}");
    assert_eq!(problem["type"], "https://pombo.dev/problems/csrf");
    let wrong = Session {
        cookie: session.cookie.clone(),
        csrf: "wrong".into(),
    };
    let (code, _) = call(&app, &wrong, Some("dev"), true, "POST", &cancel, None).await;
    assert_eq!(code, 403);
    let (code, cancelled) = call(&app, &session, Some("dev"), true, "POST", &cancel, None).await;
    assert_eq!(code, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (code, problem) = call(
        &app,
        &session,
        Some("dev"),
        true,
        "POST",
        "/v1/notifications",
        Some(&sms()),
    )
    .await;
    assert_eq!(code, 403, "{problem}");
    assert_eq!(problem["type"], "https://pombo.dev/problems/missing-scope");
    let (code, _) = call(
        &app,
        &session,
        Some("dev"),
        true,
        "POST",
        "/v1/keys",
        Some(&json!({"scopes": ["send"]})),
    )
    .await;
    assert_eq!(code, 403);

    // The audit log names the operator.
    let (_, audit) = app.call("GET", "/v1/audit-log", None).await;
    let entry = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "notification.cancel")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(entry["actor"], format!("operator:{}", ops.email));

    // Signing out needs the token too, ends the session on the server and clears the cookie.
    let (code, _) = call(
        &app,
        &session,
        None,
        false,
        "DELETE",
        "/v1/operator/session",
        None,
    )
    .await;
    assert_eq!(code, 403);
    let response = app
        .http
        .delete(app.url("/v1/operator/session"))
        .header(header::COOKIE, &session.cookie)
        .header("X-CSRF-Token", &session.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(
        response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (code, problem) = list_notifications(&app, &session, Some("dev")).await;
    assert_eq!(code, 401, "{problem}");
    assert_eq!(problem["type"], "https://pombo.dev/problems/no-session");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_replayed_codes_and_disabled_operators_are_refused_alike() {
    let app = app().await;
    let ops = create_operator(&app, "dev").await;
    let refused = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 401);
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["type"], "https://pombo.dev/problems/sign-in-failed",
            "{body}"
        );
        body["detail"].as_str().unwrap().to_owned()
    };
    let wrong_password =
        refused(sign_in_raw(&app, &ops.email, "not the password!", &ops.code(0)).await).await;
    let wrong_code =
        refused(sign_in_raw(&app, &ops.email, &ops.password, &ops.code(-90)).await).await;
    let unknown =
        refused(sign_in_raw(&app, "nobody@example.com", &ops.password, &ops.code(0)).await).await;
    assert!(
        wrong_password == wrong_code && wrong_code == unknown,
        "one answer for all"
    );

    // A code works once; the next step's code (clock drift) still works.
    let code = ops.code(0);
    sign_in(&app, &ops, &code).await;
    refused(sign_in_raw(&app, &ops.email, &ops.password, &code).await).await;
    sign_in(&app, &ops, &ops.code(30)).await;

    // A recovery code works once, however it is typed.
    let recovery = ops.recovery_codes[3].to_uppercase().replace('-', " ");
    let (_, body) = sign_in(&app, &ops, &recovery).await;
    assert_eq!(body["recovery_codes_left"], 9);
    refused(sign_in_raw(&app, &ops.email, &ops.password, &ops.recovery_codes[3]).await).await;

    // A disabled operator's sessions end, and it cannot sign in.
    let (session, _) = sign_in(&app, &ops, &ops.recovery_codes[0]).await;
    admin(&app, &["operator", "disable", &ops.email])
        .await
        .unwrap();
    let (code, _) = list_notifications(&app, &session, Some("dev")).await;
    assert_eq!(code, 401);
    refused(sign_in_raw(&app, &ops.email, &ops.password, &ops.recovery_codes[1]).await).await;
    admin(&app, &["operator", "enable", &ops.email])
        .await
        .unwrap();
    sign_in(&app, &ops, &ops.recovery_codes[1]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_sign_ins_are_throttled_per_email() {
    let app = app().await;
    let ops = create_operator(&app, "dev").await;
    for _ in 0..pombo_api::operators::throttle::PER_EMAIL {
        let response = sign_in_raw(&app, &ops.email, "guess guess guess", "000000").await;
        assert_eq!(response.status(), 401);
    }
    // Now even the right password and code wait.
    let response = sign_in_raw(&app, &ops.email, &ops.password, &ops.code(0)).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 60, "{retry_after}");
    // Another operator is not locked out by it.
    let other = create_operator(&app, "dev").await;
    sign_in(&app, &other, &other.code(0)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_credentials_are_stored_hashed_and_sealed() {
    use pombo_store::operators;
    let app = app().await;
    let ops = create_operator(&app, "dev").await;
    let row = operators::by_email(&app.db, &ops.email)
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.password_hash.starts_with("$argon2id$"),
        "{}",
        row.password_hash
    );
    assert!(!row.password_hash.contains(&ops.password));
    let base32 = credentials::totp_secret_base32(&ops.secret);
    assert!(row.totp_secret_sealed.starts_with("v2:"), "sealed");
    assert!(!row.totp_secret_sealed.contains(&base32));
    // `reset-mfa` replaces the secret and the codes: the old ones stop working.
    let out = admin(&app, &["operator", "reset-mfa", &ops.email])
        .await
        .unwrap();
    assert!(out.stdout.contains("totp_secret\t"), "{}", out.stdout);
    let response = sign_in_raw(&app, &ops.email, &ops.password, &ops.code(0)).await;
    assert_eq!(response.status(), 401);
    let response = sign_in_raw(&app, &ops.email, &ops.password, &ops.recovery_codes[0]).await;
    assert_eq!(response.status(), 401);
}

/// The OpenAPI document offers `operator_session` exactly on the routes a session can use:
/// with a signed-in session (tenant and CSRF token given), each route it lists answers
/// without refusing the session (not 401/403), and each secured route it does not list
/// refuses it.
#[tokio::test(flavor = "multi_thread")]
async fn the_document_offers_the_operator_session_exactly_where_it_works() {
    let app = app().await;
    let ops = create_operator(&app, "dev").await;
    let (session, _) = sign_in(&app, &ops, &ops.code(0)).await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (mut offered, mut refused) = (0, 0);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(security) = operation["security"].as_array() else {
                continue;
            };
            // The operator's own routes (sign-in, sign-out) are what make the session.
            if path.starts_with("/v1/operator/") {
                continue;
            }
            let route = format!("{} {path}", method.to_uppercase());
            let takes_session = security.iter().any(|r| r.get("operator_session").is_some());
            let concrete: String = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        Uuid::new_v4().to_string()
                    } else {
                        s.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let body = (!matches!(method.as_str(), "get" | "delete")).then(|| json!({}));
            let (code, answer) = call(
                &app,
                &session,
                Some("dev"),
                true,
                &method.to_uppercase(),
                &concrete,
                body.as_ref(),
            )
            .await;
            if takes_session {
                assert!(
                    code != 401 && code != 403,
                    "{route} is documented for operator sessions but refused one: {code} {answer}"
                );
                offered += 1;
            } else {
                assert!(
                    code == 401 || code == 403,
                    "{route} is not documented for operator sessions but took one: {code} {answer}"
                );
                refused += 1;
            }
        }
    }
    assert!(
        offered >= 15 && refused >= 15,
        "{offered} offered, {refused} refused"
    );
}

/// What the admin page asks by itself (`X-Pombo-Background`: renewing the live view's
/// stream token) does not keep a session from idling out; what the operator does does.
#[tokio::test(flavor = "multi_thread")]
async fn background_requests_do_not_keep_a_session_alive() {
    use pombo_store::entities::operator_session;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    let app = app().await;
    let ops = create_operator(&app, "dev").await;
    let (session, _) = sign_in(&app, &ops, &ops.code(0)).await;
    let idle_for = |minutes: i64| {
        let db = app.db.clone();
        async move {
            operator_session::Entity::update_many()
                .col_expr(
                    operator_session::Column::LastSeenAt,
                    Expr::value(chrono::Utc::now() - chrono::Duration::minutes(minutes)),
                )
                .filter(operator_session::Column::Id.is_not_null())
                .exec(&db)
                .await
                .unwrap();
        }
    };
    let background = |session: &Session| {
        app.http
            .post(app.url("/v1/stream/tokens"))
            .header(header::COOKIE, &session.cookie)
            .header("X-Pombo-Tenant", "dev")
            .header("X-CSRF-Token", &session.csrf)
            .header("X-Pombo-Background", "1")
            .json(&json!({}))
            .send()
    };

    // 29 minutes idle: a background request works, and leaves the session as idle as it was.
    let last_seen = || async {
        operator_session::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.last_seen_at)
            .max()
            .unwrap()
    };
    idle_for(29).await;
    assert_eq!(background(&session).await.unwrap().status(), 201);
    let seen = last_seen().await;
    assert!(
        chrono::Utc::now() - seen > chrono::Duration::minutes(28),
        "{seen}"
    );
    idle_for(31).await;
    assert_eq!(background(&session).await.unwrap().status(), 401);

    // The operator's own request keeps it alive.
    let (session, _) = sign_in(&app, &ops, &ops.code(30)).await;
    idle_for(29).await;
    let (code, _) = list_notifications(&app, &session, Some("dev")).await;
    assert_eq!(code, 200);
    let seen = last_seen().await;
    assert!(
        chrono::Utc::now() - seen < chrono::Duration::minutes(1),
        "{seen}"
    );
    assert_eq!(background(&session).await.unwrap().status(), 201);
}
