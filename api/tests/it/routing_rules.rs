//! Routing rules: a tenant's ordered rules choose a notification's channel (when the
//! request leaves it open) and the provider account to try first, at accept time; the
//! notification records which rule decided.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, providers, spawn_app, spawn_app_with};

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

async fn rule(app: &TestApp, body: Value) -> String {
    let (code, created) = app.call("POST", "/v1/routing-rules", Some(&body)).await;
    assert_eq!(code, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn profile(app: &TestApp, body: Value) -> String {
    let (code, created) = app.call("POST", "/v1/recipients", Some(&body)).await;
    assert_eq!(code, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// A tenant account with the settings of the server-wide fake account `fake`.
async fn account(app: &TestApp, name: &str, fake: &str, priority: i32) -> String {
    let server = providers::on_fakes(&app.fakes);
    let settings =
        serde_json::to_value(&server.iter().find(|a| a.name == fake).unwrap().settings).unwrap();
    let (code, created) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&json!({"name": name, "priority": priority, "settings": settings})),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// The seed rules: a chat message starting with `@` goes to Instagram, otherwise WhatsApp.
async fn seed_rules(app: &TestApp) -> (String, String) {
    let instagram = rule(
        app,
        json!({"name": "mentions-to-instagram",
               "conditions": {"text_starts_with": "@"}, "action": {"channel": "instagram"}}),
    )
    .await;
    let whatsapp = rule(
        app,
        json!({"name": "chat-to-whatsapp", "action": {"channel": "whatsapp"}}),
    )
    .await;
    (instagram, whatsapp)
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_are_created_listed_updated_and_deleted_in_order() {
    let app = spawn_app_with(no_worker()).await;
    let (instagram, whatsapp) = seed_rules(&app).await;
    let (code, list) = app.call("GET", "/v1/routing-rules", None).await;
    assert_eq!(code, 200, "{list}");
    let order = |list: &Value| -> Vec<(String, i64)> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    r["position"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    // Without a position, each goes after the last.
    assert_eq!(
        order(&list),
        [
            ("mentions-to-instagram".to_owned(), 0),
            ("chat-to-whatsapp".to_owned(), 1)
        ]
    );
    assert_eq!(
        list["data"][0]["conditions"],
        json!({"text_starts_with": "@"})
    );
    assert_eq!(list["data"][0]["action"], json!({"channel": "instagram"}));
    assert_eq!(list["data"][0]["enabled"], true);

    let (code, problem) = app
        .call(
            "POST",
            "/v1/routing-rules",
            Some(&json!({"name": "chat-to-whatsapp", "action": {"channel": "sms"}})),
        )
        .await;
    assert_eq!(code, 409, "{problem}");

    let (code, patched) = app
        .call(
            "PATCH",
            &format!("/v1/routing-rules/{whatsapp}"),
            Some(&json!({"position": -1, "enabled": false,
                         "conditions": {"country": ["br"]}})),
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["conditions"], json!({"country": ["BR"]}));
    assert_eq!(patched["action"], json!({"channel": "whatsapp"}), "kept");
    let (_, list) = app.call("GET", "/v1/routing-rules", None).await;
    assert_eq!(
        order(&list),
        [
            ("chat-to-whatsapp".to_owned(), -1),
            ("mentions-to-instagram".to_owned(), 0)
        ]
    );

    let other = app.other_tenant_key().await;
    let response = app
        .http
        .get(app.url(&format!("/v1/routing-rules/{instagram}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let (code, _) = app
        .call("DELETE", &format!("/v1/routing-rules/{instagram}"), None)
        .await;
    assert_eq!(code, 204);
    let (code, _) = app
        .call("GET", &format!("/v1/routing-rules/{instagram}"), None)
        .await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_rules_get_a_problem_naming_the_field() {
    let app = spawn_app_with(no_worker()).await;
    let sms_account = account(&app, "sms-a", "twilio", 0).await;
    let cases = [
        (json!({"name": "r", "action": {}}), vec!["action"]),
        (
            json!({"name": "r", "action": {"provider_account_id": uuid::Uuid::now_v7()}}),
            vec!["action.provider_account_id"],
        ),
        (
            json!({"name": "r", "action": {"channel": "whatsapp",
                                            "provider_account_id": sms_account}}),
            vec!["action.provider_account_id"],
        ),
        (
            json!({"name": "r", "conditions": {"country": ["BR", "Brazil"]},
                   "action": {"channel": "sms"}}),
            vec!["conditions.country[1]"],
        ),
        (
            json!({"name": "r", "conditions": {"channel_in": ["sms"]},
                   "action": {"channel": "email"}}),
            vec!["action.channel"],
        ),
        (
            json!({"name": "r", "conditions": {"type": "urgent"}, "action": {"channel": "sms"}}),
            vec!["conditions.type"],
        ),
        (
            json!({"name": "r", "conditions": {"text_starts_with": ""},
                   "action": {"channel": "sms"}}),
            vec!["conditions.text_starts_with"],
        ),
        (
            json!({"name": "not a name", "action": {"channel": "sms"}}),
            vec!["name"],
        ),
        (json!({"name": "r"}), vec!["action"]),
    ];
    for (body, expected) in cases {
        let (code, problem) = app.call("POST", "/v1/routing-rules", Some(&body)).await;
        assert_eq!(code, 422, "{body} → {problem}");
        assert_eq!(fields(&problem), expected, "{body} → {problem}");
    }
    let (_, list) = app.call("GET", "/v1/routing-rules", None).await;
    assert_eq!(list, json!({"data": []}), "nothing stored");

    // A rule whose account is deleted later stays editable (it can be disabled), but a new
    // action must name an account that exists.
    let stale = rule(
        &app,
        json!({"name": "via-a", "action": {"channel": "sms", "provider_account_id": sms_account}}),
    )
    .await;
    let (code, _) = app
        .call("DELETE", &format!("/v1/providers/{sms_account}"), None)
        .await;
    assert_eq!(code, 204);
    let path = format!("/v1/routing-rules/{stale}");
    let (code, body) = app
        .call("PATCH", &path, Some(&json!({"enabled": false})))
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, problem) = app
        .call(
            "PATCH",
            &path,
            Some(&json!({"action": {"provider_account_id": sms_account}})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(fields(&problem), ["action.provider_account_id"]);
}

/// The seed rule end to end: `@hello` reaches the Instagram fake at the profile's Instagram
/// id, `hello` the WhatsApp fake at its number; each notification names its rule.
#[tokio::test(flavor = "multi_thread")]
async fn the_seed_rule_sends_at_messages_to_instagram_and_others_to_whatsapp() {
    let app = spawn_app().await;
    let (instagram_rule, whatsapp_rule) = seed_rules(&app).await;
    let ana = profile(
        &app,
        json!({"external_id": "ana", "whatsapp": "+5511987654321",
               "instagram_id": "17841400000000777"}),
    )
    .await;

    let id = app
        .send(&json!({"recipient": {"id": ana}, "content": {"text": "@hello"}}))
        .await;
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    assert_eq!(n["channel"], "instagram");
    assert_eq!(n["to"], "17841400000000777");
    assert_eq!(n["routing_rule_id"], instagram_rule.as_str());
    assert_eq!(n["recipient_id"], ana.as_str());
    let dms = app.fakes.requests("instagram");
    assert_eq!(dms.len(), 1, "{dms:#?}");
    assert_eq!(dms[0].json()["recipient"]["id"], "17841400000000777");
    assert_eq!(dms[0].json()["message"]["text"], "@hello");

    let id = app
        .send(
            &json!({"channels": ["whatsapp", "instagram"], "recipient": {"external_id": "ana"},
                      "content": {"text": "hello"}}),
        )
        .await;
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    assert_eq!(n["channel"], "whatsapp");
    assert_eq!(n["to"], "+5511987654321");
    assert_eq!(n["routing_rule_id"], whatsapp_rule.as_str());
    let chats = app.fakes.requests("whatsapp_cloud");
    assert_eq!(chats.len(), 1, "{chats:#?}");
    assert_eq!(chats[0].json()["to"], "5511987654321");
    assert_eq!(chats[0].json()["text"]["body"], "hello");
    assert_eq!(app.fakes.requests("instagram").len(), 1, "nothing more");
}

/// A country rule: Brazilian numbers prefer the tenant's account B over its first account A;
/// other numbers keep the accounts' own order.
#[tokio::test(flavor = "multi_thread")]
async fn a_country_rule_puts_its_provider_account_first_for_that_country() {
    let app = spawn_app().await;
    account(&app, "sms-a", "twilio", 0).await;
    let b = account(&app, "sms-b", "vonage", 1).await;
    let brazil = rule(
        &app,
        json!({"name": "brazil-via-b", "conditions": {"country": ["BR"]},
               "action": {"provider_account_id": b}}),
    )
    .await;

    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "olá"}}))
        .await;
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    assert_eq!(n["provider"], "sms-b", "{n}");
    assert_eq!(n["attempt_log"][0]["provider"], "sms-b");
    assert_eq!(n["attempt_log"].as_array().unwrap().len(), 1);
    assert_eq!(n["routing_rule_id"], brazil.as_str());
    assert_eq!(n["preferred_provider_id"], b.as_str());
    assert_eq!(app.fakes.requests("vonage").len(), 1);
    assert_eq!(app.fakes.requests("twilio").len(), 0);

    let id = app
        .send(&json!({"channel": "sms", "to": "+14155552671", "content": {"text": "hi"}}))
        .await;
    let n = app.wait_for_status(&id, "sent", SENT_WITHIN).await;
    assert_eq!(n["provider"], "sms-a", "{n}");
    assert!(n.get("routing_rule_id").is_none(), "{n}");
    assert!(n.get("preferred_provider_id").is_none(), "{n}");
    assert_eq!(app.fakes.requests("twilio").len(), 1);
}

/// A type rule chooses the channel of an open request; an explicit channel is never
/// overridden; a disabled rule does nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_type_rule_chooses_the_channel() {
    let app = spawn_app_with(no_worker()).await;
    let alerts = rule(
        &app,
        json!({"name": "alerts-by-sms", "conditions": {"type": "alert"},
               "action": {"channel": "sms"}}),
    )
    .await;
    let promos = rule(
        &app,
        json!({"name": "promos-by-whatsapp", "conditions": {"type": "promo"},
               "action": {"channel": "whatsapp"}}),
    )
    .await;
    profile(
        &app,
        json!({"external_id": "eva", "phone": "+5511987654321", "whatsapp": "+5511912345678"}),
    )
    .await;
    // One content shape for both channels: `{"text"}` suits SMS and WhatsApp.
    let content = json!({"text": "Something happened"});
    let send = |kind: &str, channel: Option<&str>| {
        let mut body = json!({"recipient": {"external_id": "eva"}, "type": kind,
                              "content": content});
        if let Some(channel) = channel {
            body["channel"] = json!(channel);
        }
        body
    };

    let id = app.send(&send("alert", None)).await;
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(
        (&n["channel"], &n["to"], &n["routing_rule_id"]),
        (&json!("sms"), &json!("+5511987654321"), &json!(alerts)),
        "{n}"
    );
    let id = app.send(&send("promo", None)).await;
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(
        (&n["channel"], &n["to"], &n["routing_rule_id"]),
        (&json!("whatsapp"), &json!("+5511912345678"), &json!(promos)),
        "{n}"
    );
    // An alert asked for on WhatsApp stays there: rules choose only among open channels.
    let id = app.send(&send("alert", Some("whatsapp"))).await;
    let (_, n) = app.get_notification(&id).await;
    assert_eq!(n["channel"], "whatsapp");
    assert!(n.get("routing_rule_id").is_none(), "{n}");

    let (code, _) = app
        .call(
            "PATCH",
            &format!("/v1/routing-rules/{alerts}"),
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(code, 200);
    let response = app.post_notification(&send("alert", None)).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(fields(&problem), ["channel"], "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_rule_and_no_channel_is_a_problem_naming_the_channel() {
    let app = spawn_app_with(no_worker()).await;
    let hi = json!({"to": "+5511987654321", "content": {"text": "hi"}});
    for attempt in ["no rules", "no rule applies"] {
        if attempt == "no rule applies" {
            rule(
                &app,
                json!({"name": "mentions", "conditions": {"text_starts_with": "@"},
                       "action": {"channel": "sms"}}),
            )
            .await;
        }
        let response = app.post_notification(&hi).await;
        assert_eq!(response.status(), 422, "{attempt}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(fields(&problem), ["channel"], "{attempt}: {problem}");
        assert!(
            problem["errors"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("no routing rule chose a channel"),
            "{problem}"
        );
    }
    let response = app
        .post_notification(&json!({"channel": "sms", "channels": ["sms"],
                                    "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(fields(&problem), ["channels"], "{problem}");

    // A chosen channel the address does not fit is the address's problem.
    let response = app
        .post_notification(&json!({"to": "ana@example.com", "content": {"text": "@ana"}}))
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(fields(&problem), ["to"], "{problem}");

    let (_, list) = app.list_as(&app.api_key, "").await;
    assert_eq!(list["data"], json!([]), "nothing accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_recipients_and_routing_rules() {
    let app = spawn_app_with(no_worker()).await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/recipients",
        "/v1/recipients/{id}",
        "/v1/routing-rules",
        "/v1/routing-rules/{id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    let schemas = &doc["components"]["schemas"];
    let create = &schemas["CreateNotification"]["properties"];
    for field in ["recipient", "channels", "channel", "to"] {
        assert!(create[field].is_object(), "CreateNotification.{field}");
    }
    let required = schemas["CreateNotification"]["required"].as_array();
    assert!(
        required.is_none_or(|r| !r.contains(&json!("channel")) && !r.contains(&json!("to"))),
        "channel and to are optional: {required:?}"
    );
    for field in [
        "channel_in",
        "text_starts_with",
        "type",
        "priority",
        "country",
    ] {
        assert!(
            schemas["Conditions"]["properties"][field].is_object(),
            "Conditions.{field}"
        );
    }
    assert!(schemas["RecipientView"]["properties"]["push_tokens"].is_object());
    assert!(schemas["NotificationView"]["properties"]["routing_rule_id"].is_object());
}

/// Content written for email, sent without a channel to a tenant whose rule picks WhatsApp:
/// the problem names the field and says that a rule chose the channel, and which.
#[tokio::test(flavor = "multi_thread")]
async fn content_for_another_channel_than_the_rules_chose_says_who_chose() {
    let app = spawn_app_with(no_worker()).await;
    let (_, whatsapp) = seed_rules(&app).await;
    let (code, problem) = app
        .call(
            "POST",
            "/v1/notifications",
            Some(&json!({"to": "+5511987654321",
                         "content": {"subject": "Your order", "text": "shipped"}})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    let error = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "content.subject")
        .unwrap_or_else(|| panic!("no content.subject error in {problem}"));
    let reason = error["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("chosen by routing rule {whatsapp}"))
            && reason.contains("`whatsapp`"),
        "{reason}"
    );
    // With `channel` given there is no rule to name.
    let (code, problem) = app
        .call(
            "POST",
            "/v1/notifications",
            Some(&json!({"channel": "whatsapp", "to": "+5511987654321",
                         "content": {"subject": "Your order", "text": "shipped"}})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert!(!problem.to_string().contains("routing rule"), "{problem}");
}
