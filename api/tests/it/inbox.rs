//! The in-app channel: a notification to a recipient profile lands in its inbox
//! (`delivered`), the recipient's own app reads it with a recipient token and marks it read
//! (the notification becomes `read`, live on the stream); a recipient token reaches its own
//! recipient's inbox and stream, nothing else.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    stream::SseReader,
    support::{TestApp, spawn_app},
};

async fn profile(app: &TestApp, external_id: &str) -> String {
    let (code, body) = app
        .call(
            "POST",
            "/v1/recipients",
            Some(&json!({"external_id": external_id, "name": "Ana"})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn in_app(to: &str, order: u32) -> Value {
    json!({
        "channel": "in_app",
        "to": to,
        "content": {
            "title": "Olá {{ name }}",
            "body": "Seu pedido {{ order }} saiu para entrega",
            "url": "/orders/{{ order }}",
            "data": {"order": "{{ order }}"},
        },
        "data": {"name": "Ana", "order": order},
    })
}

async fn token_for(app: &TestApp, recipient: &str) -> String {
    let (code, body) = app
        .call(
            "POST",
            &format!("/v1/recipients/{recipient}/tokens"),
            Some(&json!({"expires_in": 600})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// As the recipient's app: its token, no key.
async fn as_recipient(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_in_app_message_is_delivered_to_the_inbox_and_read_there() {
    let app = spawn_app().await;
    profile(&app, "user-42").await;
    let id = app.send(&in_app("user-42", 1234)).await;
    let n = app
        .wait_for_status(&id, "delivered", Duration::from_secs(30))
        .await;
    assert_eq!(n["channel"], "in_app");

    // The recipient's own app: a token from the tenant's backend, then the inbox.
    let token = token_for(&app, "user-42").await;
    let (code, page) =
        as_recipient(&app, &token, "GET", "/v1/recipients/user-42/inbox", None).await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(
        page["counts"],
        json!({"total": 1, "unread": 1, "unseen": 1})
    );
    let item = &page["data"][0];
    assert_eq!(item["notification_id"], id.as_str());
    assert_eq!(
        item["content"],
        json!({
            "title": "Olá Ana",
            "body": "Seu pedido 1234 saiu para entrega",
            "url": "/orders/1234",
            "data": {"order": "1234"},
        })
    );
    let item_id = item["id"].as_str().unwrap().to_owned();

    // Live: the stream with the same token carries this recipient's notifications.
    let response = app
        .http
        .get(app.url(&format!("/v1/stream/sse?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = SseReader::new(response);
    stream.until_ready().await;

    let (code, marked) = as_recipient(
        &app,
        &token,
        "POST",
        "/v1/recipients/user-42/inbox/mark",
        Some(&json!({"as": "seen"})),
    )
    .await;
    assert_eq!(code, 200, "{marked}");
    assert_eq!(
        marked["counts"],
        json!({"total": 1, "unread": 1, "unseen": 0})
    );
    let (code, marked) = as_recipient(
        &app,
        &token,
        "POST",
        "/v1/recipients/user-42/inbox/mark",
        Some(&json!({"items": [item_id], "as": "read"})),
    )
    .await;
    assert_eq!(code, 200, "{marked}");
    assert_eq!(marked["read_now"], 1);
    assert_eq!(marked["counts"]["unread"], 0);
    app.wait_for_status(&id, "read", Duration::from_secs(10))
        .await;
    let event = stream.next().await;
    assert_eq!(
        (
            event.name.as_str(),
            event.data["data"]["notification_id"].as_str()
        ),
        ("notification.read", Some(id.as_str()))
    );
    // Read once: marking it again changes nothing.
    let (_, again) = as_recipient(
        &app,
        &token,
        "POST",
        "/v1/recipients/user-42/inbox/mark",
        Some(&json!({"as": "read"})),
    )
    .await;
    assert_eq!(again["read_now"], 0);

    // Stored in the inbox is delivered: a fallback waits for nothing more and is not made.
    let mut with_fallback = in_app("user-42", 7);
    with_fallback["fallback"] =
        json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "Seu pedido saiu"}});
    let second = app.send(&with_fallback).await;
    app.wait_for_workflow(&second, "ExecutionStatus = 'Completed'")
        .await;
    let (_, n) = app.get_notification(&second).await;
    assert_eq!(
        (n["status"].as_str(), &n["fallback_id"]),
        (Some("delivered"), &Value::Null),
        "{n}"
    );

    // Archived items leave the inbox for its archive.
    let (code, _) = app
        .call(
            "POST",
            "/v1/recipients/user-42/inbox/mark",
            Some(&json!({"as": "archived"})),
        )
        .await;
    assert_eq!(code, 200);
    let (_, page) = app.call("GET", "/v1/recipients/user-42/inbox", None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 0, "{page}");
    let (_, page) = app
        .call("GET", "/v1/recipients/user-42/inbox?archived=true", None)
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["data"][1]["id"], item_id.as_str(), "newest first");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipient_token_reaches_its_own_recipient_only() {
    let app = spawn_app().await;
    let ana = profile(&app, "ana").await;
    let bia = profile(&app, "bia").await;
    let token = token_for(&app, "ana").await;

    for path in [
        "/v1/recipients/bia/inbox",
        &format!("/v1/recipients/{bia}/inbox"),
    ] {
        let (code, problem) = as_recipient(&app, &token, "GET", path, None).await;
        assert_eq!(code, 403, "{problem}");
    }
    let (code, _) = as_recipient(
        &app,
        &token,
        "POST",
        "/v1/recipients/bia/inbox/mark",
        Some(&json!({"as": "read"})),
    )
    .await;
    assert_eq!(code, 403);
    // Not a key: nothing else of the tenant's.
    for path in ["/v1/notifications", "/v1/recipients", "/v1/events"] {
        let (code, _) = as_recipient(&app, &token, "GET", path, None).await;
        assert_eq!(code, 401, "{path}");
    }
    let (code, _) = as_recipient(
        &app,
        &token,
        "POST",
        "/v1/recipients/bia/tokens",
        Some(&json!({})),
    )
    .await;
    assert_eq!(code, 401);
    // The stream: another recipient's is refused, and its own carries only its own.
    let wider = app
        .http
        .get(app.url(&format!("/v1/stream/sse?token={token}&recipient={bia}")))
        .send()
        .await
        .unwrap();
    assert_eq!(wider.status(), 403);
    let mut stream = SseReader::new(
        app.http
            .get(app.url(&format!("/v1/stream/sse?token={token}")))
            .send()
            .await
            .unwrap(),
    );
    stream.until_ready().await;
    app.send(&in_app("bia", 1)).await;
    let mine = app.send(&in_app(&ana, 2)).await;
    let first = stream.next().await;
    assert_eq!(
        first.data["data"]["notification_id"],
        mine.as_str(),
        "{first:?}"
    );

    // A forged or a plain stream token is no recipient token.
    let mut parts = token.split('.');
    let forged = format!(
        "{}.{}.bm90LXRoZS1zaWduYXR1cmU",
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    let (code, _) = as_recipient(&app, &forged, "GET", "/v1/recipients/ana/inbox", None).await;
    assert_eq!(code, 401);
    let (_, stream_token) = app
        .call("POST", "/v1/stream/tokens", Some(&json!({})))
        .await;
    let (code, _) = as_recipient(
        &app,
        stream_token["token"].as_str().unwrap(),
        "GET",
        "/v1/recipients/ana/inbox",
        None,
    )
    .await;
    assert_eq!(code, 403);

    // A token outlives nothing: its tenant disabled, it is refused.
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    pombo_store::tenants::set_disabled(&app.db, tenant.id, true)
        .await
        .unwrap();
    let (code, problem) = as_recipient(&app, &token, "GET", "/v1/recipients/ana/inbox", None).await;
    assert_eq!(code, 403, "{problem}");
    assert_eq!(
        problem["type"],
        "https://pombo.dev/problems/tenant-disabled"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_app_requests_are_checked_and_name_each_bad_field() {
    let app = spawn_app().await;
    profile(&app, "carla").await;
    let (code, problem) = app
        .call("POST", "/v1/notifications", Some(&in_app("nobody-here", 1)))
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "to", "{problem}");
    let (code, problem) = app
        .call(
            "POST",
            "/v1/notifications",
            Some(&json!({
                "channel": "in_app",
                "to": "carla",
                "content": {"body": " ", "url": "javascript:alert(1)", "data": [1]},
            })),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    let fields = crate::support::problem_fields(&problem);
    assert_eq!(fields, ["content.body", "content.url", "content.data"]);
    // A batch takes addresses; in-app recipients are profiles to look up one by one.
    let (code, problem) = app
        .call(
            "POST",
            "/v1/notifications/batch",
            Some(&json!({
                "channel": "in_app",
                "content": {"body": "oi"},
                "recipients": [{"to": "carla"}],
            })),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "channel", "{problem}");
    let (code, problem) = app
        .call(
            "POST",
            "/v1/recipients/carla/inbox/mark",
            Some(&json!({"as": "burned", "items": []})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    let (code, problem) = app
        .call(
            "GET",
            "/v1/recipients/carla/inbox?unread=maybe&limit=0",
            None,
        )
        .await;
    assert_eq!(code, 422, "{problem}");
}

/// In-app first, SMS if not read in time: `"unless": "read"` with `after_secs`. Read in
/// time, no SMS; left unread, the SMS goes, once.
#[tokio::test(flavor = "multi_thread")]
async fn an_in_app_message_left_unread_falls_back_to_another_channel() {
    let app = spawn_app().await;
    profile(&app, "dora").await;
    let with_fallback = |after_secs: u64| {
        let mut body = in_app("dora", 9);
        body["fallback"] = json!({
            "channel": "sms",
            "to": "+5511987654321",
            "content": {"text": "Seu pedido {{ order }} saiu"},
            "unless": "read",
            "after_secs": after_secs,
        });
        body
    };

    // Read in time: spared.
    let read_in_time = app.send(&with_fallback(30)).await;
    app.wait_for_status(&read_in_time, "delivered", Duration::from_secs(30))
        .await;
    let (code, _) = app
        .call(
            "POST",
            "/v1/recipients/dora/inbox/mark",
            Some(&json!({"as": "read"})),
        )
        .await;
    assert_eq!(code, 200);
    app.wait_for_workflow(&read_in_time, "ExecutionStatus = 'Completed'")
        .await;
    let (_, n) = app.get_notification(&read_in_time).await;
    assert_eq!(
        (n["status"].as_str(), &n["fallback_id"]),
        (Some("read"), &Value::Null),
        "{n}"
    );

    // Delivered but not read within 2 s: the SMS goes.
    let unread = app.send(&with_fallback(2)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let fallback = loop {
        let (_, n) = app.get_notification(&unread).await;
        if let Some(id) = n["fallback_id"].as_str() {
            assert_eq!(n["status"], "delivered", "{n}");
            break id.to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no fallback: {n}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let sms = app
        .wait_for_status(&fallback, "sent", Duration::from_secs(30))
        .await;
    assert_eq!(sms["channel"], "sms");

    // Neither a bad `unless` nor in-app as a fallback is taken.
    let mut bad = with_fallback(0);
    bad["fallback"]["unless"] = json!("opened");
    let (code, problem) = app.call("POST", "/v1/notifications", Some(&bad)).await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(
        crate::support::problem_fields(&problem),
        ["fallback.unless", "fallback.after_secs"]
    );
}
