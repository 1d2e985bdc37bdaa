//! Recipient profiles: stored contacts, sealed at rest, that a notification names instead of
//! an address; the channel takes the profile's address for it, copied at accept time.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    AppOptions, InProcessWorker, maildev, spawn_app, spawn_app_with, unique_email,
};

const SENT_WITHIN: Duration = Duration::from_secs(60);

fn no_worker() -> AppOptions {
    AppOptions {
        worker: false,
        ..Default::default()
    }
}

fn fields(problem: &Value) -> Vec<String> {
    let mut found = crate::support::problem_fields(problem);
    found.sort();
    found
}

fn reason<'a>(problem: &'a Value, field: &str) -> &'a str {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == field)
        .unwrap_or_else(|| panic!("no error at {field}: {problem}"))["reason"]
        .as_str()
        .unwrap()
}

async fn create(app: &crate::support::TestApp, body: Value) -> Value {
    let (code, created) = app.call("POST", "/v1/recipients", Some(&body)).await;
    assert_eq!(code, 201, "{created}");
    created
}

#[tokio::test(flavor = "multi_thread")]
async fn profiles_are_created_read_listed_updated_and_deleted() {
    let app = spawn_app_with(no_worker()).await;
    let apns = "a1".repeat(32);
    let created = create(
        &app,
        json!({"external_id": "user-42", "name": "Ana Souza", "email": "ana@example.com",
               "phone": "+5511987654321", "push_tokens": [apns, apns],
               "telegram_chat_id": "123456789", "instagram_id": "17841400000000777",
               "webhook_url": "https://hooks.example.com/ana", "locale": "pt_br"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["external_id"], "user-42");
    assert_eq!(created["phone"], "+5511987654321");
    assert_eq!(
        created["whatsapp"],
        Value::Null,
        "defaults to the phone when sent"
    );
    assert_eq!(created["push_tokens"], json!([apns]), "repeats dropped");
    assert_eq!(created["locale"], "pt-BR", "canonical form");

    // By our id and by the caller's id: the same profile.
    let (code, by_id) = app.call("GET", &format!("/v1/recipients/{id}"), None).await;
    assert_eq!(code, 200, "{by_id}");
    let (code, by_external) = app.call("GET", "/v1/recipients/user-42", None).await;
    assert_eq!(code, 200, "{by_external}");
    assert_eq!(by_id, by_external);

    // The external id is unique per tenant.
    let (code, problem) = app
        .call(
            "POST",
            "/v1/recipients",
            Some(&json!({"external_id": "user-42"})),
        )
        .await;
    assert_eq!(code, 409, "{problem}");

    // PATCH: a value replaces, null removes, absent keeps.
    let (code, patched) = app
        .call(
            "PATCH",
            "/v1/recipients/user-42",
            Some(&json!({"phone": "+5511912345678", "name": null,
                         "whatsapp": "+5511987654321"})),
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["phone"], "+5511912345678");
    assert_eq!(patched["whatsapp"], "+5511987654321");
    assert_eq!(patched["name"], Value::Null);
    assert_eq!(patched["email"], "ana@example.com");
    let (code, problem) = app
        .call(
            "PATCH",
            &format!("/v1/recipients/{id}"),
            Some(&json!({"phone": "12345"})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(fields(&problem), ["phone"]);

    // Paged, newest first.
    for n in 0..3 {
        create(&app, json!({"external_id": format!("page-{n}")})).await;
    }
    let (code, first) = app.call("GET", "/v1/recipients?limit=3", None).await;
    assert_eq!(code, 200, "{first}");
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["external_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first), ["page-2", "page-1", "page-0"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .call(
            "GET",
            &format!("/v1/recipients?limit=3&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(ids(&second), ["user-42"]);
    assert!(second.get("next_cursor").is_none(), "{second}");
    let (code, problem) = app.call("GET", "/v1/recipients?limit=0", None).await;
    assert_eq!((code, fields(&problem)), (422, vec!["limit".to_owned()]));

    // Another tenant sees none of it.
    let other = app.other_tenant_key().await;
    for path in [
        format!("/v1/recipients/{id}"),
        "/v1/recipients/user-42".into(),
    ] {
        let response = app
            .http
            .get(app.url(&path))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }

    let (code, _) = app.call("DELETE", "/v1/recipients/user-42", None).await;
    assert_eq!(code, 204);
    let (code, _) = app.call("GET", &format!("/v1/recipients/{id}"), None).await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_fields_get_a_problem_naming_each_of_them() {
    let app = spawn_app_with(no_worker()).await;
    let (code, problem) = app
        .call(
            "POST",
            "/v1/recipients",
            Some(
                &json!({"external_id": "", "email": "not-an-email", "phone": "11987654321",
                         "whatsapp": "+999123456", "push_tokens": ["a1".repeat(32), "short"],
                         "telegram_chat_id": "pombo", "instagram_id": "@ana",
                         "webhook_url": "ftp://example.com", "locale": "portuguese"}),
            ),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(
        fields(&problem),
        [
            "email",
            "external_id",
            "instagram_id",
            "locale",
            "phone",
            "push_tokens[1]",
            "telegram_chat_id",
            "webhook_url",
            "whatsapp",
        ]
    );
    assert!(reason(&problem, "phone").contains("E.164"), "{problem}");

    let (code, problem) = app
        .call(
            "POST",
            "/v1/recipients",
            Some(&json!({"fax": "+5511987654321"})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(fields(&problem), ["fax"]);

    let (_, list) = app.call("GET", "/v1/recipients", None).await;
    assert_eq!(list["data"], json!([]), "nothing stored");
}

/// The raw database holds no address of a profile in clear: not in the row, not anywhere in
/// the database; the API shows them opened.
#[tokio::test(flavor = "multi_thread")]
async fn profiles_are_sealed_at_rest() {
    use sea_orm::{ConnectionTrait, Statement};

    let app = spawn_app_with(no_worker()).await;
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("ana-{marker}@example.com");
    let phone = "+5511987651234";
    let external = format!("user-{marker}");
    let created = create(
        &app,
        json!({"external_id": external, "name": format!("Ana {marker}"), "email": email,
               "phone": phone, "instagram_id": "17841400000000777"}),
    )
    .await;
    assert_eq!(created["email"], email.as_str());

    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT profile, external_id_digest FROM recipients",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let profile: String = rows[0].try_get("", "profile").unwrap();
    let digest: String = rows[0].try_get("", "external_id_digest").unwrap();
    assert!(profile.starts_with("v2:test:"), "{profile}");
    // A keyed digest: whoever reads the database without the keys cannot test guesses.
    assert!(digest.starts_with("h1:test:"), "{digest}");
    for clear in [marker.as_str(), phone, "17841400000000777"] {
        assert!(!profile.contains(clear), "profile holds {clear} in clear");
        assert!(!digest.contains(clear), "digest holds {clear} in clear");
    }
    for clear in [marker.as_str(), phone] {
        crate::support::database::assert_not_stored(&app, clear, clear).await;
    }
}

/// Rows from before: a profile whose `external_id` digest is the old unkeyed SHA-256 is still
/// found by it, and `pombo-worker reseal` rewrites it keyed (and sealed, bound to its
/// tenant); a row moved to another tenant in the database then no longer opens.
#[tokio::test(flavor = "multi_thread")]
async fn old_digests_are_still_found_and_rows_moved_to_another_tenant_do_not_open() {
    use pombo_store::entities::recipient;
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
    use sha2::{Digest, Sha256};

    let app = spawn_app_with(no_worker()).await;
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let id = uuid::Uuid::now_v7();
    let legacy_digest = {
        let mut hash = Sha256::new();
        hash.update(b"pombo-recipient-external-id\0");
        hash.update(tenant.id.as_bytes());
        hash.update(b"legacy-7");
        hex::encode(hash.finalize())
    };
    let now = chrono::Utc::now();
    recipient::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.id),
        external_id_digest: Set(Some(legacy_digest)),
        profile: Set(r#"{"external_id":"legacy-7","email":"old@example.com"}"#.into()),
        preferences: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let (code, found) = app.call("GET", "/v1/recipients/legacy-7", None).await;
    assert_eq!(code, 200, "{found}");
    assert_eq!(found["email"], "old@example.com");

    pombo_worker::reseal(&app.config).await.unwrap();
    let row = recipient::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let digest = row.external_id_digest.unwrap();
    let profile = row.profile;
    assert!(digest.starts_with("h1:test:"), "{digest}");
    assert!(profile.starts_with("v2:test:"), "{profile}");
    let (code, found) = app.call("GET", "/v1/recipients/legacy-7", None).await;
    assert_eq!(code, 200, "{found}");

    // Moved to another tenant behind the API's back: its seal no longer opens there.
    let other = pombo_store::tenants::create(&app.db, &format!("other-{}", uuid::Uuid::new_v4()))
        .await
        .unwrap();
    recipient::Entity::update_many()
        .col_expr(recipient::Column::TenantId, Expr::value(other.id))
        .filter(recipient::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
    let moved = pombo_store::recipients::get(&app.db, other.id, id).await;
    assert!(
        matches!(moved, Err(pombo_store::StoreError::Sealed(_))),
        "{moved:?}"
    );
}

/// A profile on two channels, through the real workflow: the email reaches maildev at the
/// profile's address, the SMS reaches the Twilio fake at its phone number.
#[tokio::test(flavor = "multi_thread")]
async fn notifications_to_a_profile_go_to_its_address_for_the_channel() {
    let app = spawn_app().await;
    let email = unique_email("profile");
    let profile = create(
        &app,
        json!({"external_id": "ana", "email": email, "phone": "+5511987654321"}),
    )
    .await;
    let profile_id = profile["id"].as_str().unwrap();

    let id = app
        .send(&json!({"channel": "email", "recipient": {"id": profile_id},
                      "content": {"subject": "Hi {{ name }}", "text": "Welcome"},
                      "data": {"name": "Ana"}}))
        .await;
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    assert_eq!(n["to"], email.as_str());
    assert_eq!(n["recipient_id"], profile_id);
    let mails = maildev::wait_for_mails(&email, 1, SENT_WITHIN).await;
    assert_eq!(mails[0]["subject"], "Hi Ana");

    let id = app
        .send(
            &json!({"channel": "sms", "recipient": {"external_id": "ana"},
                      "content": {"text": "Code 4242"}}),
        )
        .await;
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    assert_eq!(n["to"], "+5511987654321");
    assert_eq!(n["recipient_id"], profile_id);
    let sms = app.fakes.requests("twilio");
    assert_eq!(sms.len(), 1, "{sms:#?}");
    assert_eq!(sms[0].form_value("To").as_deref(), Some("+5511987654321"));
    assert_eq!(sms[0].form_value("Body").as_deref(), Some("Code 4242"));
}

/// The address is copied when the notification is accepted: editing the profile before the
/// worker sends it does not redirect it.
#[tokio::test(flavor = "multi_thread")]
async fn a_profile_edit_after_accept_does_not_change_the_sent_address() {
    let app = spawn_app_with(no_worker()).await;
    create(
        &app,
        json!({"external_id": "bia", "phone": "+5511987654321"}),
    )
    .await;
    let id = app
        .send(
            &json!({"channel": "sms", "recipient": {"external_id": "bia"},
                      "content": {"text": "hello"}}),
        )
        .await;
    let (code, patched) = app
        .call(
            "PATCH",
            "/v1/recipients/bia",
            Some(&json!({"phone": "+5511912345678"})),
        )
        .await;
    assert_eq!(code, 200, "{patched}");

    let _worker = InProcessWorker::start(app.config.clone());
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    assert_eq!(n["to"], "+5511987654321");
    let sms = app.fakes.requests("twilio");
    assert_eq!(sms.len(), 1, "{sms:#?}");
    assert_eq!(sms[0].form_value("To").as_deref(), Some("+5511987654321"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_profiles_and_missing_addresses_are_problems_naming_the_recipient() {
    let app = spawn_app_with(no_worker()).await;
    let profile = create(
        &app,
        json!({"external_id": "carla", "email": "carla@example.com"}),
    )
    .await;
    let text = json!({"text": "hi"});
    let cases = [
        (
            json!({"channel": "sms", "recipient": {"external_id": "carla"}, "content": text}),
            "recipient",
            Some("recipient has no phone number for channel `sms`"),
        ),
        (
            json!({"channel": "sms", "recipient": {"id": uuid::Uuid::now_v7()}, "content": text}),
            "recipient.id",
            None,
        ),
        (
            json!({"channel": "sms", "recipient": {"id": "not-an-id"}, "content": text}),
            "recipient.id",
            None,
        ),
        (
            json!({"channel": "sms", "recipient": {"external_id": "nobody"}, "content": text}),
            "recipient.external_id",
            None,
        ),
        (
            json!({"channel": "email", "to": "carla@example.com",
                   "recipient": {"id": profile["id"]}, "content": {"subject": "s", "text": "t"}}),
            "recipient",
            Some("give `to` or `recipient`, not both"),
        ),
        (
            json!({"channel": "email", "content": {"subject": "s", "text": "t"}}),
            "to",
            None,
        ),
        (
            json!({"channel": "email", "recipient": {}, "content": {"subject": "s", "text": "t"}}),
            "recipient",
            None,
        ),
        (
            json!({"channels": ["sms", "push"], "recipient": {"external_id": "carla"},
                   "content": text}),
            "recipient",
            Some("recipient has no address for any of the channels `sms`, `push`"),
        ),
    ];
    for (body, field, expected) in cases {
        let response = app.post_notification(&body).await;
        let code = response.status().as_u16();
        let problem: Value = response.json().await.unwrap();
        assert_eq!(code, 422, "{body} → {problem}");
        assert_eq!(fields(&problem), [field], "{body} → {problem}");
        if let Some(expected) = expected {
            assert_eq!(reason(&problem, field), expected);
        }
    }
    let (_, list) = app.list_as(&app.api_key, "").await;
    assert_eq!(list["data"], json!([]), "nothing accepted");
}

/// A template without a locale in the request is rendered in the profile's locale.
#[tokio::test(flavor = "multi_thread")]
async fn templates_use_the_profile_locale_when_the_request_names_none() {
    let app = spawn_app_with(no_worker()).await;
    let (code, created) = app
        .call(
            "POST",
            "/v1/templates",
            Some(&json!({
                "name": "otp", "default_locale": "en",
                "variants": {
                    "en": {"sms": {"text": "Your code is {{ code }}"}},
                    "pt-BR": {"sms": {"text": "Seu código é {{ code }}"}},
                },
            })),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    create(
        &app,
        json!({"external_id": "dani", "phone": "+5511987654321", "locale": "pt-BR"}),
    )
    .await;
    let body = |locale: Option<&str>| {
        let mut template = json!({"id": "otp"});
        if let Some(locale) = locale {
            template["locale"] = json!(locale);
        }
        json!({"channel": "sms", "recipient": {"external_id": "dani"},
               "template": template, "data": {"code": "4242"}})
    };
    let id = app.send(&body(None)).await;
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(n["template"]["locale"], "pt-BR", "{n}");
    // A locale in the request wins.
    let id = app.send(&body(Some("en"))).await;
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(n["template"]["locale"], "en", "{n}");
}
