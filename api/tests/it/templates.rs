//! Stored templates: created, read, versioned by PUT (old versions kept), previewed with
//! sample data for every channel variant (HTML escaped, SMS segments counted, locale
//! fallback), refused with the path of a wrong variant, private to their tenant.

use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, spawn_app_with};

async fn app() -> TestApp {
    spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await
}

fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

fn sorted_fields(problem: &Value) -> Vec<&str> {
    let mut found = fields(problem);
    found.sort();
    found
}

fn reason<'a>(problem: &'a Value, field: &str) -> &'a str {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == field)
        .unwrap_or_else(|| panic!("no error for {field} in {problem}"))["reason"]
        .as_str()
        .unwrap()
}

fn welcome() -> Value {
    json!({
        "name": "welcome",
        "description": "Sent after sign-up",
        "default_locale": "en",
        "variants": {
            "en": {
                "email": {"subject": "Welcome, {{ name }}", "html": "<p>Hi {{ name }}</p>", "text": "Hi {{ name }}"},
                "sms": {"text": "Hi {{ name }}, your code is {{ code }}"},
            },
            "pt": {
                "email": {"subject": "Bem-vindo, {{ name }}", "html": "<p>Olá {{ name }}</p>", "text": "Olá {{ name }}"},
            },
        },
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_are_versioned_previewed_and_private() {
    let app = app().await;

    // Create: version 1.
    let (code, created) = app.call("POST", "/v1/templates", Some(&welcome())).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["name"], "welcome");
    assert_eq!(created["current_version"], 1);
    assert_eq!(created["locales"], json!(["en", "pt"]));
    assert_eq!(created["channels"], json!(["email", "sms"]));
    assert_eq!(
        created["variants"]["pt"]["email"]["subject"],
        "Bem-vindo, {{ name }}"
    );
    let id = created["id"].as_str().unwrap().to_owned();

    let (code, body) = app.call("POST", "/v1/templates", Some(&welcome())).await;
    assert_eq!(code, 409, "{body}");

    // Read by id and by name; listed.
    let (code, by_id) = app.call("GET", &format!("/v1/templates/{id}"), None).await;
    assert_eq!(code, 200, "{by_id}");
    let (code, by_name) = app.call("GET", "/v1/templates/welcome", None).await;
    assert_eq!(code, 200);
    assert_eq!(by_id, by_name);
    assert_eq!(by_id["versions"].as_array().unwrap().len(), 1);
    let (code, list) = app.call("GET", "/v1/templates", None).await;
    assert_eq!(code, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["data"][0]["id"], id.as_str());
    assert_eq!(list["data"][0]["description"], "Sent after sign-up");

    // PUT writes version 2, with a pt-BR SMS and a new default locale.
    let (code, updated) = app
        .call(
            "PUT",
            "/v1/templates/welcome",
            Some(&json!({
                "default_locale": "pt",
                "variants": {
                    "en": {"email": {"subject": "Welcome aboard, {{ name }}", "html": "<p>Hi {{ name }}</p>", "text": "Hi {{ name }}"}},
                    "pt": {
                        "email": {"subject": "Bem-vindo, {{ name }}", "html": "<p>Olá {{ name }}</p>", "text": "Olá {{ name }}"},
                        "sms": {"text": "Oi {{ name }}, seu código: {{ code }}"},
                    },
                    "pt-BR": {"sms": {"text": "Oi {{ name }}! Codigo {{ code }} {ok}"}},
                },
            })),
        )
        .await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["current_version"], 2);
    assert_eq!(updated["default_locale"], "pt");
    assert_eq!(updated["description"], "Sent after sign-up");
    let versions: Vec<i64> = updated["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    let (_, read) = app.call("GET", &format!("/v1/templates/{id}"), None).await;
    assert_eq!(read["current_version"], 2);
    assert_eq!(read["locales"], json!(["en", "pt", "pt-BR"]));

    // Version 1 is still readable, unchanged.
    let (code, v1) = app
        .call("GET", &format!("/v1/templates/{id}/versions/1"), None)
        .await;
    assert_eq!(code, 200, "{v1}");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["current"], false);
    assert_eq!(v1["default_locale"], "en");
    assert_eq!(
        v1["variants"]["en"]["email"]["subject"],
        "Welcome, {{ name }}"
    );
    let (code, v2) = app
        .call("GET", "/v1/templates/welcome/versions/2", None)
        .await;
    assert_eq!((code, v2["current"].as_bool()), (200, Some(true)));
    for missing in ["3", "0", "x"] {
        let (code, body) = app
            .call(
                "GET",
                &format!("/v1/templates/{id}/versions/{missing}"),
                None,
            )
            .await;
        assert_eq!(code, 404, "{missing}: {body}");
    }

    // Preview version 1 with data: HTML escaped in html only; SMS encoding and segments.
    let data = json!({"name": "<Ana & Bia>", "code": 4242});
    let (code, preview) = app
        .call(
            "POST",
            "/v1/templates/welcome/render",
            Some(&json!({"data": data, "version": 1})),
        )
        .await;
    assert_eq!(code, 200, "{preview}");
    assert_eq!(preview["version"], 1);
    let email = &preview["channels"]["email"];
    assert_eq!(email["locale"], "en");
    assert_eq!(email["content"]["subject"], "Welcome, <Ana & Bia>");
    assert_eq!(email["content"]["html"], "<p>Hi &lt;Ana &amp; Bia&gt;</p>");
    assert_eq!(email["content"]["text"], "Hi <Ana & Bia>");
    assert!(email.get("sms").is_none(), "{email}");
    let sms = &preview["channels"]["sms"];
    assert_eq!(sms["content"]["text"], "Hi <Ana & Bia>, your code is 4242");
    assert_eq!(
        sms["sms"],
        json!({"encoding": "GSM-7", "characters": 33, "units": 33, "segments": 1})
    );

    // The current version, in pt-BR: SMS from pt-BR, whose braces are GSM extension
    // characters; email falls back to pt.
    let (code, preview) = app
        .call(
            "POST",
            "/v1/templates/welcome/render",
            Some(&json!({"data": data, "locale": "pt_br"})),
        )
        .await;
    assert_eq!(code, 200, "{preview}");
    assert_eq!(preview["version"], 2);
    assert_eq!(preview["locale"], "pt-BR");
    assert_eq!(preview["channels"]["sms"]["locale"], "pt-BR");
    assert_eq!(
        preview["channels"]["sms"]["content"]["text"],
        "Oi <Ana & Bia>! Codigo 4242 {ok}"
    );
    assert_eq!(
        preview["channels"]["sms"]["sms"],
        json!({"encoding": "GSM-7", "characters": 32, "units": 34, "segments": 1})
    );
    assert_eq!(preview["channels"]["email"]["locale"], "pt");
    assert_eq!(
        preview["channels"]["email"]["content"]["subject"],
        "Bem-vindo, <Ana & Bia>"
    );

    // pt (no pt-BR): the pt SMS, with `ó`, is UCS-2.
    let long_name = "Ana".repeat(20);
    let (code, preview) = app
        .call(
            "POST",
            "/v1/templates/welcome/render",
            Some(&json!({"data": {"name": long_name, "code": 1}, "locale": "pt"})),
        )
        .await;
    assert_eq!(code, 200, "{preview}");
    assert_eq!(preview["channels"]["sms"]["locale"], "pt");
    let segments = &preview["channels"]["sms"]["sms"];
    assert_eq!(segments["encoding"], "UCS-2");
    assert_eq!(segments["units"], 78);
    assert_eq!(segments["segments"], 2);

    // A locale with no variant at all: everything from the default (pt in version 2, en
    // in version 1).
    let (_, preview) = app
        .call(
            "POST",
            "/v1/templates/welcome/render",
            Some(&json!({"data": data, "locale": "fr-FR"})),
        )
        .await;
    assert_eq!(preview["channels"]["email"]["locale"], "pt");
    assert_eq!(preview["channels"]["sms"]["locale"], "pt");
    let (_, preview) = app
        .call(
            "POST",
            "/v1/templates/welcome/render",
            Some(&json!({"data": data, "locale": "pt-BR", "version": 1})),
        )
        .await;
    assert_eq!(preview["channels"]["email"]["locale"], "pt");
    assert_eq!(preview["channels"]["sms"]["locale"], "en");

    // Missing data: 422 naming the variant's field and the placeholder.
    let (code, problem) = app
        .call(
            "POST",
            "/v1/templates/welcome/render",
            Some(&json!({"data": {"name": "Ana"}, "locale": "pt-BR"})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(fields(&problem), ["variants.pt-BR.sms.text"]);
    let missing = reason(&problem, "variants.pt-BR.sms.text");
    assert!(missing.contains("`code`"), "{missing}");
    let (code, problem) = app
        .call("POST", "/v1/templates/welcome/render", Some(&json!({})))
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(
        fields(&problem),
        ["variants.pt.email.subject", "variants.pt.sms.text"]
    );
    let (code, problem) = app
        .call(
            "POST",
            "/v1/templates/welcome/render",
            Some(&json!({"data": [], "locale": "portuguese", "version": 0})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(fields(&problem), ["locale", "data", "version"]);
    let (code, problem) = app
        .call(
            "POST",
            "/v1/templates/welcome/render",
            Some(&json!({"data": data, "version": 7})),
        )
        .await;
    assert_eq!(
        (code, fields(&problem)),
        (422, vec!["version"]),
        "{problem}"
    );

    // Bad variants are refused with their paths; nothing is written.
    let (code, problem) = app
        .call(
            "PUT",
            "/v1/templates/welcome",
            Some(&json!({
                "variants": {
                    "pt-BR": {
                        "email": {"subject": "Olá {{ name", "html": "<p>x</p>"},
                        "sms": {"body": "x"},
                    },
                    "en": {"push": {"title": "t", "body": ""}},
                },
            })),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    // The current default locale (`pt`) has no variants in the new version either.
    assert_eq!(
        sorted_fields(&problem),
        [
            "default_locale",
            "variants.en.push.body",
            "variants.pt-BR.email.subject",
            "variants.pt-BR.sms.body",
        ]
    );
    let syntax = reason(&problem, "variants.pt-BR.email.subject");
    assert!(syntax.contains("syntax"), "{syntax}");
    let (code, problem) = app
        .call(
            "POST",
            "/v1/templates",
            Some(&json!({"name": "x", "default_locale": "en",
                         "variants": {"en": {"fax": {"text": "x"}}, "EN-us": {"sms": {"text": "x"}}}})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(
        sorted_fields(&problem),
        ["variants.EN-us", "variants.en.fax"]
    );
    assert_eq!(reason(&problem, "variants.EN-us"), "write it as `en-US`");
    let (_, read) = app.call("GET", "/v1/templates/welcome", None).await;
    assert_eq!(read["current_version"], 2);

    // Another tenant sees none of it.
    let other = app.other_tenant_key().await;
    for (method, path, body) in [
        ("GET", format!("/v1/templates/{id}"), None),
        ("GET", "/v1/templates/welcome".to_owned(), None),
        ("GET", format!("/v1/templates/{id}/versions/1"), None),
        (
            "POST",
            format!("/v1/templates/{id}/render"),
            Some(json!({"data": data})),
        ),
        (
            "PUT",
            format!("/v1/templates/{id}"),
            Some(json!({"variants": welcome()["variants"]})),
        ),
        ("DELETE", format!("/v1/templates/{id}"), None),
    ] {
        let mut request = app
            .http
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(&other);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    let response = app
        .http
        .get(app.url("/v1/templates"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"data": []}));

    // Delete: gone, versions too.
    let (code, _) = app.call("DELETE", "/v1/templates/welcome", None).await;
    assert_eq!(code, 204);
    let (code, _) = app.call("GET", &format!("/v1/templates/{id}"), None).await;
    assert_eq!(code, 404);
    let (code, _) = app
        .call("GET", &format!("/v1/templates/{id}/versions/1"), None)
        .await;
    assert_eq!(code, 404);
    let (code, _) = app
        .call("DELETE", &format!("/v1/templates/{id}"), None)
        .await;
    assert_eq!(code, 404);
    let (_, list) = app.call("GET", "/v1/templates", None).await;
    assert_eq!(list, json!({"data": []}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_gets_its_channel_content_from_a_template() {
    use pombo_api::templates::{TemplateRef, content_for_notification};
    use pombo_contract::Channel;

    let app = app().await;
    let (code, created) = app.call("POST", "/v1/templates", Some(&welcome())).await;
    assert_eq!(code, 201, "{created}");
    let state = pombo_api::prepare(app.config.clone()).await.unwrap();
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let reference = |id: &str, version, locale: Option<&str>| TemplateRef {
        name_or_id: id.into(),
        version,
        locale: locale.map(Into::into),
    };

    let (content, used) = content_for_notification(
        &state,
        tenant.id,
        &reference("welcome", None, Some("pt-BR")),
        Channel::Email,
    )
    .await
    .unwrap();
    assert_eq!(content["subject"], "Bem-vindo, {{ name }}");
    assert_eq!((used.version, used.locale.as_str()), (1, "pt"));
    assert_eq!(used.id.to_string(), created["id"].as_str().unwrap());

    let parsed: TemplateRef =
        serde_json::from_value(json!({"id": "welcome", "version": 1, "locale": "en"})).unwrap();
    assert_eq!(parsed, reference("welcome", Some(1), Some("en")));
    assert!(serde_json::from_value::<TemplateRef>(json!({"name": "welcome"})).is_err());

    for (reference, channel, field) in [
        (reference("nope", None, None), Channel::Email, "template.id"),
        (reference("welcome", None, None), Channel::Push, "template"),
        (
            reference("welcome", Some(5), None),
            Channel::Email,
            "template",
        ),
        (
            reference("welcome", None, Some("pt--")),
            Channel::Email,
            "template.locale",
        ),
    ] {
        let Err(pombo_api::error::ApiError::Validation(errors)) =
            content_for_notification(&state, tenant.id, &reference, channel).await
        else {
            panic!("{reference:?} is refused")
        };
        assert_eq!(errors[0].field, field, "{errors:?}");
    }
}

/// `POST /v1/notifications` with a `template`: the SMS goes out with the template's text
/// for the recipient's locale, and the notification records the version it used.
#[tokio::test(flavor = "multi_thread")]
async fn notifications_sent_from_a_template_record_the_version_they_used() {
    let app = spawn_app_with(AppOptions::default()).await;
    let (code, created) = app
        .call(
            "POST",
            "/v1/templates",
            Some(&json!({
                "name": "otp", "default_locale": "en",
                "variants": {
                    "en": {"sms": {"text": "Your code is {{ code }}"}},
                    "pt": {"sms": {"text": "Seu código é {{ code }}"}},
                },
            })),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let body = json!({"channel": "sms", "to": "+5511987654321",
                      "template": {"id": "otp", "locale": "pt-BR"}, "data": {"code": "4242"},
                      "idempotency_key": "otp-1"});
    let id = app.send(&body).await;
    let n = app
        .wait_for_status(&id, "sent", std::time::Duration::from_secs(60))
        .await;
    assert_eq!(n["template"]["version"], 1);
    assert_eq!(n["template"]["locale"], "pt");
    let sms = app.fakes.requests("twilio");
    assert_eq!(
        sms[0].form_value("Body").as_deref(),
        Some("Seu código é 4242")
    );

    // A new version does not make the retried request a different one.
    let (code, _) = app
        .call(
            "PUT",
            "/v1/templates/otp",
            Some(&json!({"variants": {"en": {"sms": {"text": "Code: {{ code }}"}}}})),
        )
        .await;
    assert_eq!(code, 200);
    let replay = app.post_notification(&body).await;
    assert_eq!(replay.status(), 202);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");

    // A missing placeholder value is refused at request time; so is content plus template.
    let (code, problem) = app
        .call(
            "POST",
            "/v1/notifications",
            Some(&json!({"channel": "sms", "to": "+5511987654321", "template": {"id": "otp"}})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert!(problem.to_string().contains("code"), "{problem}");
    let (code, _) = app
        .call(
            "POST",
            "/v1/notifications",
            Some(
                &json!({"channel": "sms", "to": "+5511987654321", "template": {"id": "otp"},
                         "content": {"text": "x"}}),
            ),
        )
        .await;
    assert_eq!(code, 422);
    let (code, problem) = app
        .call(
            "POST",
            "/v1/notifications",
            Some(&json!({"channel": "email", "to": "a@example.com", "template": {"id": "otp"}})),
        )
        .await;
    assert_eq!(code, 422, "no email variant: {problem}");
}
