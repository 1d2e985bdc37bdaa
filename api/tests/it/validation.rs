//! Bad input: a 4xx problem document naming the field, and nothing stored.

use serde_json::{Value, json};

use crate::support::{AppOptions, email_request, spawn_app_with};

fn problem_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// An empty body hears of everything it lacks at once, not one field per try.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_body_hears_of_every_required_field() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let response = app.post_notification(&json!({})).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let mut fields = problem_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["content", "to"], "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_requests_get_a_problem_naming_the_field_and_store_nothing() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let good = email_request("ana@example.com");
    let with = |pointer: &str, value: Value| {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing to", without("to"), "to"),
        ("missing channel", without("channel"), "channel"),
        ("missing content", without("content"), "content"),
        ("bad email", with("/to", json!("not-an-address")), "to"),
        (
            "display name",
            with("/to", json!("Ana <ana@example.com>")),
            "to",
        ),
        ("unknown channel", with("/channel", json!("fax")), "channel"),
        (
            "sms to an email address",
            with("/channel", json!("sms")),
            "to",
        ),
        (
            "sms with email content",
            json!({"channel": "sms", "to": "+5511987654321", "content": {"subject": "s"}}),
            "content.subject",
        ),
        (
            "sms without text",
            json!({"channel": "sms", "to": "+5511987654321", "content": {}}),
            "content.text",
        ),
        (
            "phone without country code",
            json!({"channel": "whatsapp", "to": "11987654321", "content": {"text": "t"}}),
            "to",
        ),
        (
            "whatsapp text and template",
            json!({"channel": "whatsapp", "to": "+5511987654321",
                   "content": {"text": "t", "template": {"name": "n", "language": "pt_BR"}}}),
            "content",
        ),
        (
            "instagram template",
            json!({"channel": "instagram", "to": "17841400000000",
                   "content": {"template": {"name": "n", "language": "pt_BR"}}}),
            "content.template",
        ),
        (
            "push to a non-token",
            json!({"channel": "push", "to": "not-a-token", "content": {"title": "t", "body": "b"}}),
            "to",
        ),
        (
            "webhook to a non-http URL",
            json!({"channel": "webhook", "to": "ftp://example.com/x",
                   "content": {"type": "order.shipped", "payload": {}}}),
            "to",
        ),
        (
            "webhook payload not an object",
            json!({"channel": "webhook", "to": "https://example.com/x",
                   "content": {"type": "order.shipped", "payload": [1]}}),
            "content.payload",
        ),
        (
            "missing placeholder in a template parameter",
            json!({"channel": "whatsapp", "to": "+5511987654321",
                   "content": {"template": {"name": "n", "language": "pt_BR", "parameters": ["{{ who }}"]}}}),
            "content.template.parameters[0]",
        ),
        ("to is a number", with("/to", json!(42)), "to"),
        (
            "empty subject",
            with("/content/subject", json!(" ")),
            "content.subject",
        ),
        (
            "no body text",
            json!({"channel": "email", "to": "a@example.com", "content": {"subject": "s"}}),
            "content",
        ),
        (
            "unknown content field",
            with("/content", json!({"subject": "s", "text": "t", "bcc": "x"})),
            "content.bcc",
        ),
        (
            "missing placeholder",
            with("/data", json!({"name": "Ana"})),
            "content.text",
        ),
        ("data not an object", with("/data", json!([1, 2])), "data"),
        (
            "unknown priority",
            with("/content", json!({"subject": "s", "text": "t"}))
                .tap_insert("priority", json!("urgent")),
            "priority",
        ),
        (
            "bad retry",
            good.clone().tap_insert("retry", json!({"max_attempts": 0})),
            "retry.max_attempts",
        ),
        (
            "unknown field",
            good.clone().tap_insert("cc", json!("x@example.com")),
            "cc",
        ),
    ];
    for (name, body, field) in cases {
        let response = app.post_notification(&body).await;
        assert_eq!(response.status(), 422, "{name}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{name}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 422, "{name}");
        let fields = problem_fields(&problem);
        assert!(
            fields.iter().any(|f| f == field),
            "{name}: expected field {field}, got {problem}"
        );
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{name}");
    }

    // Not JSON at all, JSON with the wrong type, and a body over the limit.
    let raw = |body: Vec<u8>, content_type: &'static str| {
        app.http
            .post(app.url("/v1/notifications"))
            .bearer_auth(&app.api_key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let malformed = raw(b"{\"channel\": \"email\",".to_vec(), "application/json")
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["type"],
        "https://pombo.dev/problems/malformed-json"
    );
    let trailing = raw(b"{} {}".to_vec(), "application/json").await.unwrap();
    assert_eq!(trailing.status(), 400);
    let form = raw(
        b"channel=email".to_vec(),
        "application/x-www-form-urlencoded",
    )
    .await
    .unwrap();
    assert_eq!(form.status(), 415);
    let mut huge = good.clone();
    huge["content"]["text"] = json!("x".repeat(app.config.api.max_body_bytes + 1));
    let too_large = app.post_notification(&huge).await;
    assert_eq!(too_large.status(), 413);
    assert_eq!(too_large.json::<Value>().await.unwrap()["status"], 413);

    // Unknown routes and methods answer in the same format.
    let nowhere = app.http.get(app.url("/v1/nowhere")).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
    assert_eq!(
        nowhere.headers()["content-type"],
        "application/problem+json"
    );
    let wrong_method = app
        .http
        .delete(app.url("/v1/notifications"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);

    // None of it was stored.
    let (_, list) = app.list_as(&app.api_key, "").await;
    assert_eq!(list["data"], json!([]), "{list}");
}

trait TapInsert {
    fn tap_insert(self, key: &str, value: Value) -> Value;
}

impl TapInsert for Value {
    fn tap_insert(mut self, key: &str, value: Value) -> Value {
        self.as_object_mut().unwrap().insert(key.into(), value);
        self
    }
}
