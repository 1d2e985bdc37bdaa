//! Notifications that refer to uploaded files, end to end against an in-process s3s-fs
//! (which checks SigV4 and expiry): an email's attachments reach maildev byte for byte, a
//! WhatsApp media file reaches the Cloud API fake as a fresh presigned URL that downloads
//! it, and files the tenant cannot use are refused with the field named.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    AppOptions, TestApp, maildev,
    s3::{LocalS3, PROVIDER_URL_EXPIRY_SECS, png_bytes, upload, upload_as},
    spawn_app_with, unique_email,
};

const SENT_WITHIN: Duration = Duration::from_secs(60);

async fn app_with(s3: &LocalS3, worker: bool) -> TestApp {
    spawn_app_with(AppOptions {
        storage: Some(s3.storage()),
        worker,
        ..AppOptions::default()
    })
    .await
}

async fn post_as(app: &TestApp, key: &str, body: &Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/v1/notifications"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The fields a 422 names, with their reasons.
fn field_errors(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_carries_its_uploaded_attachments_byte_for_byte() {
    let s3 = LocalS3::start().await;
    let app = app_with(&s3, true).await;
    let image = png_bytes(40_000);
    let text = "Olá, Ana!\r\nLinha 2\n".as_bytes().to_vec();
    let png = upload(&app, "foto.png", "image/png", image.clone()).await;
    let txt = upload(&app, "notas.txt", "text/plain", text.clone()).await;
    let to = unique_email("attach");

    let id = app
        .send(&json!({
            "channel": "email", "to": to,
            "content": {
                "subject": "Order {{ order }}", "text": "Your receipt is attached.",
                "attachments": [
                    {"file_id": png["id"], "filename": "receipt-{{ order }}.png"},
                    {"file_id": txt["id"]},
                ],
            },
            "data": {"order": "A-42"},
        }))
        .await;
    app.wait_for_status(&id, "sent", SENT_WITHIN).await;

    let mails = maildev::wait_for_mails(&to, 1, SENT_WITHIN).await;
    let mail_id = mails[0]["id"].as_str().unwrap();
    let maildev_url = &crate::support::servers().maildev;
    let mail: Value = reqwest::get(format!("{maildev_url}/api/email/{mail_id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        mail["text"].as_str().unwrap().trim(),
        "Your receipt is attached."
    );
    let attachments = mail["attachments"]
        .as_array()
        .unwrap_or_else(|| panic!("no attachments: {mail}"));
    assert_eq!(attachments.len(), 2, "{mail}");
    for (attachment, (name, content_type, bytes)) in attachments.iter().zip([
        ("receipt-A-42.png", "image/png", &image),
        ("notas.txt", "text/plain", &text),
    ]) {
        assert_eq!(attachment["filename"], name, "{attachment}");
        assert_eq!(attachment["contentType"], content_type, "{attachment}");
        let stored = attachment["generatedFileName"].as_str().unwrap();
        let downloaded = reqwest::get(format!(
            "{maildev_url}/api/email/{mail_id}/attachment/{stored}"
        ))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
        assert_eq!(downloaded.as_ref(), bytes.as_slice(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whatsapp_media_by_file_id_reaches_the_provider_as_a_fresh_url_to_the_file() {
    let s3 = LocalS3::start().await;
    let app = app_with(&s3, true).await;
    let image = png_bytes(5_000);
    let file = upload(&app, "promo.png", "image/png", image.clone()).await;

    let id = app
        .send(&json!({
            "channel": "whatsapp", "to": "+5511987654321",
            "content": {"media": {"file_id": file["id"], "kind": "image", "caption": "Hi {{ name }}"}},
            "data": {"name": "Ana"},
        }))
        .await;
    app.wait_for_status(&id, "sent", SENT_WITHIN).await;

    let requests = app.fakes.requests("whatsapp_cloud");
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let body = requests[0].json();
    assert_eq!(body["type"], "image", "{body}");
    assert_eq!(body["image"]["caption"], "Hi Ana", "{body}");
    let link = body["image"]["link"].as_str().unwrap();
    assert!(link.starts_with(&s3.endpoint), "{link}");
    // Presigned for the provider, with its own expiry, at send time.
    let url = reqwest::Url::parse(link).unwrap();
    let expires = url
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Expires")
        .map(|(_, v)| v.into_owned());
    assert_eq!(
        expires.as_deref(),
        Some(PROVIDER_URL_EXPIRY_SECS.to_string().as_str())
    );
    // Anyone holding it (the provider) downloads exactly the uploaded bytes.
    let response = reqwest::get(link).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), image.as_slice());
}

#[tokio::test(flavor = "multi_thread")]
async fn files_the_tenant_cannot_use_are_refused_naming_the_field() {
    let s3 = LocalS3::start().await;
    let mut storage = s3.storage();
    storage.max_email_attachment_bytes = 1_000;
    let app = spawn_app_with(AppOptions {
        storage: Some(storage),
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let other = app.other_tenant_key().await;
    let (_, others_png) = upload_as(&app, &other, "theirs.png", "image/png", png_bytes(100)).await;
    let pdf = upload(
        &app,
        "doc.pdf",
        "application/pdf",
        b"%PDF-1.4 tiny".to_vec(),
    )
    .await;
    let big_a = upload(&app, "a.txt", "text/plain", vec![b'a'; 600]).await;
    let big_b = upload(&app, "b.txt", "text/plain", vec![b'b'; 600]).await;
    let unknown = uuid::Uuid::now_v7();
    let to = unique_email("refused");

    let cases = [
        (
            json!({"channel": "email", "to": to, "content": {"subject": "s", "text": "t",
                "attachments": [{"file_id": pdf["id"]}, {"file_id": others_png["id"]}]}}),
            "content.attachments[1].file_id",
            "no file",
        ),
        (
            json!({"channel": "email", "to": to, "content": {"subject": "s", "text": "t",
                "attachments": [{"file_id": unknown}]}}),
            "content.attachments[0].file_id",
            "no file",
        ),
        (
            json!({"channel": "push", "to": "a".repeat(64),
                "content": {"title": "t", "body": "b", "image_file_id": pdf["id"]}}),
            "content.image_file_id",
            "image/*",
        ),
        (
            json!({"channel": "whatsapp", "to": "+5511987654321",
                "content": {"media": {"file_id": pdf["id"], "kind": "video"}}}),
            "content.media.file_id",
            "video/*",
        ),
        (
            json!({"channel": "email", "to": to, "content": {"subject": "s", "text": "t",
                "attachments": [{"file_id": big_a["id"]}, {"file_id": big_b["id"]}]}}),
            "content.attachments",
            "over the limit of 1000",
        ),
        (
            json!({"channel": "email", "to": to, "content": {"subject": "s", "text": "t"},
                "fallback": {"channel": "whatsapp", "to": "+5511987654321",
                    "content": {"media": {"file_id": others_png["id"], "kind": "image"}}}}),
            "fallback.content.media.file_id",
            "no file",
        ),
    ];
    for (body, field, reason) in cases {
        let (status, problem) = post_as(&app, &app.api_key, &body).await;
        assert_eq!(status, 422, "{body}: {problem}");
        let errors = field_errors(&problem);
        assert!(
            errors.iter().any(|(f, r)| f == field && r.contains(reason)),
            "{body}: expected `{field}` ({reason}) in {errors:?}"
        );
    }
    // Its owner may use it.
    let (status, problem) = post_as(
        &app,
        &other,
        &json!({"channel": "whatsapp", "to": "+5511987654321",
            "content": {"media": {"file_id": others_png["id"], "kind": "image"}}}),
    )
    .await;
    assert_eq!(status, 202, "{problem}");
    // A batch's shared content is checked the same way.
    let (status, problem) = app
        .call(
            "POST",
            "/v1/notifications/batch",
            Some(&json!({"channel": "email", "recipients": [{"to": to}],
                "content": {"subject": "s", "text": "t",
                    "attachments": [{"file_id": others_png["id"]}]}})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        field_errors(&problem)
            .iter()
            .any(|(f, r)| f == "content.attachments[0].file_id" && r.contains("no file")),
        "{problem}"
    );
    // Nothing refused was stored.
    let (_, list) = app.call("GET", "/v1/notifications", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_gone_from_storage_at_send_time_fails_the_notification_with_the_reason() {
    let s3 = LocalS3::start().await;
    let app = app_with(&s3, true).await;
    let file = upload(&app, "gone.pdf", "application/pdf", b"%PDF-1.4 x".to_vec()).await;
    let key = pombo_store::files::get_for_tenant(
        &app.db,
        file_tenant(&app).await,
        file["id"].as_str().unwrap().parse().unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .object_key;
    std::fs::remove_file(s3.object_path(&key)).expect("the object is on disk");

    let id = app
        .send(&json!({"channel": "email", "to": unique_email("gone"),
            "content": {"subject": "s", "text": "t", "attachments": [{"file_id": file["id"]}]}}))
        .await;
    let n = app.wait_for_status(&id, "failed", SENT_WITHIN).await;
    let error = n["last_error"].as_str().unwrap();
    assert!(
        error.contains("content.attachments[0].file_id") && error.contains("missing"),
        "{n}"
    );
    // Failed before any provider was tried.
    assert_eq!(n["attempts"], 0, "{n}");
}

/// The tenant of the app's own key.
async fn file_tenant(app: &TestApp) -> uuid::Uuid {
    pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap()
        .id
}
