//! Provider accounts: registered per tenant, credentials sealed at rest and masked in
//! every answer, routed to in priority order.

use serde_json::{Value, json};

use crate::support::{AppOptions, database::assert_not_stored, spawn_app_with};

fn sendgrid(name: &str, key: &str, priority: i32) -> Value {
    json!({
        "name": name,
        "priority": priority,
        "settings": {"type": "sendgrid", "api_key": key, "from": "Pombo <pombo@example.com>"},
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_are_created_listed_masked_updated_and_deleted() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let (code, created) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&sendgrid("sg-main", "SG.secret-one", 0)),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["type"], "sendgrid");
    assert_eq!(created["channel"], "email");
    assert_eq!(created["settings"]["api_key"], "********");
    assert_eq!(created["settings"]["from"], "Pombo <pombo@example.com>");
    assert_eq!(created["settings"]["base_url"], "https://api.sendgrid.com");
    let id = created["id"].as_str().unwrap().to_owned();

    let (code, body) = app
        .call("POST", "/v1/providers", Some(&sendgrid("sg-main", "x", 1)))
        .await;
    assert_eq!(
        (code, body["type"].as_str()),
        (409, Some("https://pombo.dev/problems/conflict"))
    );

    let (code, _) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&sendgrid("sg-backup", "SG.secret-two", 5)),
        )
        .await;
    assert_eq!(code, 201);
    let (code, list) = app.call("GET", "/v1/providers?channel=email", None).await;
    assert_eq!(code, 200);
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sg-main", "sg-backup"]);
    assert!(!list.to_string().contains("secret"), "{list}");
    // The server's email accounts stand aside: the tenant has enabled ones of its own.
    let servers = list["server_wide"].as_array().unwrap();
    assert!(!servers.is_empty(), "{list}");
    for s in servers {
        assert_eq!(s["channel"], "email", "{list}");
        assert_eq!(s["in_use"], false, "{list}");
        assert!(
            s.get("settings").is_none(),
            "the operator's settings: {list}"
        );
    }
    // No SMS account of its own: the server's send its SMS, and say so.
    let (_, sms) = app.call("GET", "/v1/providers?channel=sms", None).await;
    assert_eq!(sms["data"], json!([]));
    let servers = sms["server_wide"].as_array().unwrap();
    assert!(
        servers
            .iter()
            .any(|s| s["name"] == "twilio" && s["in_use"] == true),
        "{sms}"
    );
    assert!(servers.iter().all(|s| s["channel"] == "sms"), "{sms}");

    // A masked credential in a PATCH keeps the stored one; other fields change.
    let (code, patched) = app
        .call(
            "PATCH",
            &format!("/v1/providers/{id}"),
            Some(&json!({"priority": 9, "enabled": false,
                         "settings": {"api_key": "********", "from": "ops@example.com"}})),
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["priority"], 9);
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["settings"]["from"], "ops@example.com");
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let keyring = pombo_store::sealed::Keyring::from_config(&app.config.encryption).unwrap();
    let stored = pombo_store::provider_accounts::get(
        &app.db,
        keyring.as_ref(),
        tenant.id,
        id.parse().unwrap(),
    )
    .await
    .unwrap();
    let pombo_providers::ProviderSettings::Sendgrid(s) = stored.settings else {
        panic!("still sendgrid")
    };
    assert_eq!(s.api_key.expose(), "SG.secret-one");

    // Switching an email account to an SMS provider is refused: routing and history rely on
    // an account's channel.
    let (code, body) = app
        .call(
            "PATCH",
            &format!("/v1/providers/{id}"),
            Some(&json!({"settings": {"type": "vonage", "api_key": "k", "api_secret": "s", "from": "Pombo"}})),
        )
        .await;
    assert_eq!(code, 409, "{body}");

    // Another tenant sees none of it.
    let other = app.other_tenant_key().await;
    let response = app
        .http
        .get(app.url(&format!("/v1/providers/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let (code, _) = app
        .call("DELETE", &format!("/v1/providers/{id}"), None)
        .await;
    assert_eq!(code, 204);
    let (code, _) = app.call("GET", &format!("/v1/providers/{id}"), None).await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_settings_get_a_problem_naming_the_field() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let cases = [
        (
            json!({"name": "x", "settings": {"type": "carrier-pigeon"}}),
            "settings.type",
        ),
        (
            json!({"name": "x", "settings": {"type": "twilio", "auth_token": "t"}}),
            "settings.account_sid",
        ),
        (
            json!({"name": "x", "settings": {"type": "sendgrid", "api_key": "k", "from": "a@b.c", "base_url": "ftp://x"}}),
            "settings.base_url",
        ),
        (
            json!({"name": "x", "settings": {"type": "sendgrid", "api_key": "********", "from": "a@b.c"}}),
            "settings.api_key",
        ),
        (
            json!({"name": "has space", "settings": {"type": "telegram", "bot_token": "1:a"}}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let (code, problem) = app.call("POST", "/v1/providers", Some(&body)).await;
        assert_eq!(code, 422, "{body} → {problem}");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&field),
            "{body}: expected {field} in {problem}"
        );
    }
}

/// The send's own rules run when an account is saved: one that could never send is a 422
/// naming the setting, on creation and on a change, and nothing is stored; before, it was
/// accepted and took over the tenant's channel, failing every message at send time.
#[tokio::test(flavor = "multi_thread")]
async fn settings_that_cannot_send_are_refused_when_saved() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let twilio = |sid: &str| {
        json!({"name": "twilio-main", "settings": {"type": "twilio", "account_sid": sid,
               "auth_token": "fedcba9876543210fedcba9876543210", "from": "+15005550006"}})
    };
    let cases = [
        // The README's old example, pasted as written.
        (twilio("AC…"), "settings.account_sid", "`AC` followed by 32"),
        (
            json!({"name": "apns", "settings": {"type": "apns", "team_id": "ABCDE12345",
                   "key_id": "KEY1234567", "topic": "com.example.app", "private_key": "not a key"}}),
            "settings.private_key",
            ".p8",
        ),
        (
            json!({"name": "fcm", "settings": {"type": "fcm", "project_id": "pombo-test",
                   "client_email": "pombo@pombo-test.iam.gserviceaccount.com", "private_key": "nope"}}),
            "settings.private_key",
            "RSA",
        ),
        (
            json!({"name": "wa", "settings": {"type": "whatsapp_cloud", "phone_number_id": "+5511987654321",
                   "access_token": "EAAG"}}),
            "settings.phone_number_id",
            "numeric id",
        ),
        (
            json!({"name": "hooks", "settings": {"type": "webhook", "secret": "whsec_short"}}),
            "settings.secret",
            "whsec_",
        ),
    ];
    for (body, field, reason) in cases {
        let (code, problem) = app.call("POST", "/v1/providers", Some(&body)).await;
        assert_eq!(code, 422, "{body} → {problem}");
        let found = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["field"] == field)
            .unwrap_or_else(|| panic!("{body}: expected {field} in {problem}"));
        assert!(
            found["reason"].as_str().unwrap().contains(reason),
            "{found}"
        );
    }
    let (_, list) = app.call("GET", "/v1/providers", None).await;
    assert_eq!(list["data"], json!([]), "nothing stored: {list}");

    let sid = format!("AC{}", "0123456789abcdef".repeat(2));
    let (code, created) = app.call("POST", "/v1/providers", Some(&twilio(&sid))).await;
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (code, problem) = app
        .call(
            "PATCH",
            &format!("/v1/providers/{id}"),
            Some(&json!({"settings": {"account_sid": "AC1"}})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "settings.account_sid");
    let (_, kept) = app.call("GET", &format!("/v1/providers/{id}"), None).await;
    assert_eq!(kept["settings"]["account_sid"], sid.as_str());
}

/// An account's view gives the URL its provider is to send reports to (nobody has to
/// build it from the id), and the first enabled account of a channel says that it now
/// sends in place of the server-wide ones.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_shows_its_callback_url_and_says_when_it_takes_over() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let twilio = |name: &str| {
        json!({"name": name, "settings": {"type": "twilio",
               "account_sid": format!("AC{}", "0123456789abcdef".repeat(2)),
               "auth_token": "fedcba9876543210fedcba9876543210", "from": "+15005550006"}})
    };
    let (code, first) = app
        .call("POST", "/v1/providers", Some(&twilio("first")))
        .await;
    assert_eq!(code, 201, "{first}");
    let id = first["id"].as_str().unwrap();
    let callback = first["callback_url"].as_str().expect("a callback_url");
    assert!(
        callback.starts_with("http://127.0.0.1:")
            && callback.ends_with(&format!("/v1/callbacks/twilio/{id}")),
        "{callback}"
    );
    let notice = first["notice"].as_str().expect("a notice");
    assert!(
        notice.contains("sms") && notice.contains("server-wide"),
        "{notice}"
    );

    // Reports reach the account at that URL: an unsigned one is refused by the account's
    // own check (401 naming it), not as an unknown route or account (404).
    let path = callback
        .split_once("/v1/")
        .map(|(_, p)| format!("/v1/{p}"))
        .unwrap();
    let response = reqwest::Client::new()
        .post(app.url(&path))
        .form(&[("MessageSid", "SM1"), ("MessageStatus", "delivered")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("X-Twilio-Signature")
    );

    let (code, second) = app
        .call("POST", "/v1/providers", Some(&twilio("second")))
        .await;
    assert_eq!(code, 201, "{second}");
    assert!(second.get("notice").is_none(), "{second}");
    let (_, read) = app.call("GET", &format!("/v1/providers/{id}"), None).await;
    assert_eq!(read["callback_url"], callback);
    assert!(read.get("notice").is_none(), "only on creation: {read}");

    // Providers that send no reports have no callback URL.
    let (code, vonage) = app
        .call(
            "POST",
            "/v1/providers",
            Some(
                &json!({"name": "vonage", "settings": {"type": "vonage", "api_key": "a1b2c3d4",
                         "api_secret": "A1b2C3d4E5f6G7h8", "from": "Pombo"}}),
            ),
        )
        .await;
    assert_eq!(code, 201, "{vonage}");
    assert!(vonage.get("callback_url").is_none(), "{vonage}");
}

/// The database holds no credential in clear: not in the row, not anywhere in the database.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_not_stored_in_clear() {
    use sea_orm::{ConnectionTrait, Statement};

    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let secret = format!("SG.{}", uuid::Uuid::new_v4().simple());
    let (code, _) = app
        .call("POST", "/v1/providers", Some(&sendgrid("sg", &secret, 0)))
        .await;
    assert_eq!(code, 201);

    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT name, kind, settings_sealed, key_id FROM provider_accounts",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let sealed: String = rows[0].try_get("", "settings_sealed").unwrap();
    assert!(sealed.starts_with("v2:test:"), "{sealed}");
    assert!(!sealed.contains(&secret));
    assert_not_stored(&app, &secret, "the credential").await;
}

/// Without an encryption key, a tenant's provider account is refused with a 503 saying
/// why, and nothing of its credentials reaches the database.
#[tokio::test(flavor = "multi_thread")]
async fn without_an_encryption_key_accounts_are_refused_and_nothing_is_stored() {
    use sea_orm::{EntityTrait, PaginatorTrait};

    let app = spawn_app_with(AppOptions {
        worker: false,
        no_encryption_key: true,
        ..Default::default()
    })
    .await;
    let secret = format!("SG.{}", uuid::Uuid::new_v4().simple());
    let (code, body) = app
        .call("POST", "/v1/providers", Some(&sendgrid("sg", &secret, 0)))
        .await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("encryption.keys"),
        "{body}"
    );
    assert_not_stored(&app, &secret, "the credential").await;
    let stored = pombo_store::entities::provider_account::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    let (code, list) = app.call("GET", "/v1/providers", None).await;
    assert_eq!((code, list["data"].clone()), (200, json!([])), "{list}");
}

/// Recipients, content, data, what was sent and the fallback are sealed in the notification
/// rows: the raw database holds none of them in clear, while the API shows them.
#[tokio::test(flavor = "multi_thread")]
async fn recipients_and_bodies_are_not_stored_in_clear() {
    use sea_orm::{ConnectionTrait, Statement};

    let app = spawn_app_with(AppOptions::default()).await;
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let to = format!("ana-{marker}@example.com");
    // The fallback carries a marker of its own: only its column holds it.
    let fallback_marker = uuid::Uuid::new_v4().simple().to_string();
    let id = app
        .send(&json!({"channel": "email", "to": to,
                      "content": {"subject": "Secret {{ word }}", "text": "Body {{ word }}"},
                      "data": {"word": format!("w{marker}")},
                      "fallback": {"channel": "email", "to": format!("bia-{fallback_marker}@example.com"),
                                   "content": {"subject": "Fallback", "text": "Fallback"}}}))
        .await;
    let n = app
        .wait_for_status(&id, "sent", std::time::Duration::from_secs(60))
        .await;
    assert_eq!(n["to"], to.as_str(), "the API shows it opened");

    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT recipient, CAST(content AS TEXT) AS content, CAST(data AS TEXT) AS data, \
             CAST(rendered AS TEXT) AS rendered, CAST(fallback AS TEXT) AS fallback \
             FROM notifications",
        ))
        .await
        .unwrap();
    // The notification, and the fallback it may have escalated to already.
    let columns = ["recipient", "content", "data", "rendered", "fallback"];
    let with_fallback = rows
        .iter()
        .filter(|r| {
            r.try_get::<Option<String>>("", "fallback")
                .unwrap()
                .is_some()
        })
        .count();
    assert_eq!(with_fallback, 1, "the fallback column is read");
    for row in &rows {
        for column in columns {
            let Some(raw) = row.try_get::<Option<String>>("", column).unwrap() else {
                continue;
            };
            assert!(raw.contains("v2:test:"), "{column} is sealed: {raw}");
            assert!(
                !raw.contains(&marker) && !raw.contains(&fallback_marker),
                "{column} holds personal data in clear: {raw}"
            );
        }
    }
    assert_not_stored(&app, &marker, "personal data").await;
    assert_not_stored(&app, &fallback_marker, "the fallback").await;
}

/// Key rotation: add a key, make it current, `pombo-worker reseal`; then the old key can go.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_rotation_reseals_accounts_and_notifications() {
    use sea_orm::{ConnectionTrait, Statement};

    let app = spawn_app_with(AppOptions::default()).await;
    let (code, _) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&sendgrid("sg", "SG.rotate-me", 0)),
        )
        .await;
    assert_eq!(code, 201);
    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    app.wait_for_status(&id, "sent", std::time::Duration::from_secs(60))
        .await;

    let mut rotated = app.config.clone();
    rotated.encryption.keys.insert(
        "next".into(),
        pombo_contract::config::Secret::new(pombo_store::sealed::Keyring::generate_key()),
    );
    rotated.encryption.current_key = "next".into();
    pombo_worker::reseal(&rotated).await.unwrap();

    let backend = app.db.get_database_backend();
    let raw = |sql: &str| {
        let sql = sql.to_owned();
        let db = app.db.clone();
        async move {
            let rows = db
                .query_all_raw(Statement::from_string(backend, sql))
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.try_get::<String>("", "v").unwrap())
                .collect::<Vec<_>>()
        }
    };
    for value in raw("SELECT recipient AS v FROM notifications").await {
        assert!(value.starts_with("v2:next:"), "{value}");
    }
    for value in raw("SELECT settings_sealed AS v FROM provider_accounts").await {
        assert!(value.starts_with("v2:next:"), "{value}");
    }
    // Without the old key, everything still opens.
    rotated.encryption.keys.remove("test");
    let only_next = pombo_store::sealed::Keyring::from_config(&rotated.encryption)
        .unwrap()
        .unwrap();
    pombo_store::sealed::install(Some(only_next.clone()));
    let n = pombo_store::notifications::get(&app.db, id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(n.recipient, "+5511987654321");
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let accounts = pombo_store::provider_accounts::list::<pombo_providers::ProviderSettings>(
        &app.db,
        Some(&only_next),
        tenant.id,
        None,
    )
    .await
    .unwrap();
    assert_eq!(accounts.len(), 1);
}
