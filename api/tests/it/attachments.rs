//! Notifications that refer to uploaded files, end to end against an in-process s3s-fs
//! (which checks SigV4 and expiry): an email's attachments reach maildev byte for byte, a
//! WhatsApp media file reaches the Cloud API fake as a fresh presigned URL that downloads
//! it, and files the tenant cannot use are refused with the field named.

use std::time::Duration;

use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder,
};
use pombo_contract::config::{Secret, StorageConfig};
use reqwest::multipart::{Form, Part};
use s3s::{auth::SimpleAuth, service::S3ServiceBuilder};
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, maildev, spawn_app_with, unique_email};

const ACCESS_KEY: &str = "pombo-test";
const SECRET_KEY: &str = "pombo-test-secret";
const BUCKET: &str = "test-attachments";
/// Distinct from `presign_expiry_secs`, so the provider's URL is recognisably its own.
const PROVIDER_URL_EXPIRY_SECS: u64 = 7200;
const SENT_WITHIN: Duration = Duration::from_secs(60);

/// An s3s-fs server on a free loopback port, storing under a temporary directory.
pub struct LocalS3 {
    pub endpoint: String,
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl LocalS3 {
    pub async fn start() -> LocalS3 {
        let dir = tempfile::tempdir().unwrap();
        let fs = s3s_fs::FileSystem::new(dir.path()).expect("s3s-fs opens its directory");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let http = Builder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let connection = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        LocalS3 {
            endpoint,
            dir,
            server,
        }
    }

    pub fn storage(&self) -> StorageConfig {
        StorageConfig {
            endpoint: Some(self.endpoint.clone()),
            bucket: BUCKET.into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: Secret::new(SECRET_KEY),
            provider_url_expiry_secs: PROVIDER_URL_EXPIRY_SECS,
            ..StorageConfig::default()
        }
    }

    /// Where s3s-fs keeps the object of `key`.
    pub fn object_path(&self, key: &str) -> std::path::PathBuf {
        self.dir.path().join(BUCKET).join(key)
    }
}

/// Uploads `bytes` as `key`'s tenant; the file's JSON.
pub async fn upload_as(
    app: &TestApp,
    key: &str,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Value {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(content_type)
        .unwrap();
    let response = app
        .http
        .post(app.url("/v1/files"))
        .bearer_auth(key)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .expect("POST /v1/files");
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

pub async fn upload(app: &TestApp, name: &str, content_type: &str, bytes: Vec<u8>) -> Value {
    upload_as(app, &app.api_key, name, content_type, bytes).await
}

/// Bytes that start like a PNG, with every byte value in them.
pub fn png_bytes(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..len.saturating_sub(bytes.len())).map(|i| (i * 31 % 256) as u8));
    bytes
}

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
    let others_png = upload_as(&app, &other, "theirs.png", "image/png", png_bytes(100)).await;
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
