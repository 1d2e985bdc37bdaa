//! `/v1/files` against a real S3-compatible server (s3s-fs, in-process on 127.0.0.1) that
//! checks SigV4 signatures and the expiry of presigned URLs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pombo_contract::config::StorageConfig;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{
    AppOptions, TestApp,
    s3::{BUCKET, LocalS3, png_bytes, upload_as},
    spawn_app_with,
};

fn storage(s3: &LocalS3, presign_expiry_secs: u64, max_file_bytes: u64) -> StorageConfig {
    StorageConfig {
        presign_expiry_secs,
        max_file_bytes,
        ..s3.storage()
    }
}

async fn app_with(storage: StorageConfig) -> TestApp {
    spawn_app_with(AppOptions {
        storage: Some(storage),
        worker: false,
        ..AppOptions::default()
    })
    .await
}

async fn upload(app: &TestApp, name: &str, content_type: &str, bytes: Vec<u8>) -> (u16, Value) {
    upload_as(app, &app.api_key, name, content_type, bytes).await
}

/// A plain GET, as anyone holding the URL would: status and body.
async fn download(url: &str) -> (u16, Vec<u8>) {
    let response = reqwest::get(url).await.expect("GET presigned URL");
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

fn query_param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

fn with_query_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = reqwest::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into()
            };
            (k.into_owned(), v)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.into()
}

#[tokio::test]
async fn an_upload_is_stored_and_downloads_through_its_presigned_url() {
    let s3 = LocalS3::start().await;
    let app = app_with(storage(&s3, 3600, 1024 * 1024)).await;
    let bytes = png_bytes(5000);
    let sha256 = hex::encode(Sha256::digest(&bytes));

    let before = Utc::now();
    let (status, file) = upload(&app, "../logos/logo final.png", "image/png", bytes.clone()).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(file["filename"], "logo final.png", "{file}");
    assert_eq!(file["content_type"], "image/png");
    assert_eq!(file["size"], 5000);
    assert_eq!(file["sha256"], sha256.as_str());
    let id = file["id"].as_str().unwrap().to_owned();
    let url = file["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/{BUCKET}/", s3.endpoint)),
        "{url}"
    );
    assert_eq!(query_param(&url, "X-Amz-Expires"), "3600");
    let expires_at: DateTime<Utc> = file["url_expires_at"].as_str().unwrap().parse().unwrap();
    let lifetime = (expires_at - before).num_seconds();
    assert!((3595..=3605).contains(&lifetime), "{expires_at}");

    // Stored under the tenant's prefix, with a safe name.
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    let object = s3
        .dir
        .path()
        .join(BUCKET)
        .join(tenant.id.to_string())
        .join(&id)
        .join("logo_final.png");
    assert_eq!(
        std::fs::read(&object).unwrap(),
        bytes,
        "{}",
        object.display()
    );

    // Anyone with the URL gets the same bytes, without an API key.
    let (status, body) = download(&url).await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);

    // A tampered signature, or the signature of another object, is refused.
    let signature = query_param(&url, "X-Amz-Signature");
    let flipped = if signature.ends_with('0') { "1" } else { "0" };
    let tampered = with_query_param(
        &url,
        "X-Amz-Signature",
        &format!("{}{flipped}", &signature[..signature.len() - 1]),
    );
    let (status, body) = download(&tampered).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("SignatureDoesNotMatch"));
    let other_object = url.replacen("logo_final.png", "other.png", 1);
    let (status, _) = download(&other_object).await;
    assert_eq!(status, 403);
    // Nor does a longer expiry than was signed help.
    let (status, _) = download(&with_query_param(&url, "X-Amz-Expires", "7200")).await;
    assert_eq!(status, 403);

    // The metadata again, with a fresh URL that works.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, again) = app.call("GET", &format!("/v1/files/{id}"), None).await;
    assert_eq!(status, 200, "{again}");
    for field in [
        "id",
        "filename",
        "content_type",
        "size",
        "sha256",
        "created_at",
    ] {
        assert_eq!(again[field], file[field], "{field}");
    }
    let fresh = again["url"].as_str().unwrap();
    assert_ne!(fresh, url, "a new signature each time");
    let (status, body) = download(fresh).await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
}

#[tokio::test]
async fn an_expired_presigned_url_is_refused() {
    let s3 = LocalS3::start().await;
    let app = app_with(storage(&s3, 1, 1024 * 1024)).await;
    let (status, file) = upload(&app, "notes.txt", "text/plain", b"hello".to_vec()).await;
    assert_eq!(status, 201, "{file}");
    let url = file["url"].as_str().unwrap();
    assert_eq!(query_param(url, "X-Amz-Expires"), "1");

    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, body) = download(url).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("expired"), "{body}");

    // Reading the file again gives a new URL, with a new expiry.
    let id = file["id"].as_str().unwrap();
    let (status, again) = app.call("GET", &format!("/v1/files/{id}"), None).await;
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["url"], file["url"]);
    let first: DateTime<Utc> = file["url_expires_at"].as_str().unwrap().parse().unwrap();
    let second: DateTime<Utc> = again["url_expires_at"].as_str().unwrap().parse().unwrap();
    assert!(second > first, "{first} then {second}");
}

#[tokio::test]
async fn size_and_content_type_limits_are_clear_errors() {
    let s3 = LocalS3::start().await;
    let limit = 64 * 1024;
    let app = app_with(storage(&s3, 3600, limit)).await;

    // Exactly at the limit is fine.
    let (status, file) = upload(&app, "max.png", "image/png", png_bytes(limit as usize)).await;
    assert_eq!(status, 201, "{file}");

    // Just over, counted while reading; and far over, refused from Content-Length alone.
    for size in [limit as usize + 1, 10 * limit as usize] {
        let (status, problem) = upload(&app, "big.png", "image/png", png_bytes(size)).await;
        assert_eq!(status, 413, "{size}: {problem}");
        assert_eq!(
            problem["type"],
            "https://pombo.dev/problems/payload-too-large"
        );
        assert_eq!(problem["limit_bytes"], limit);
        assert!(
            problem["detail"].as_str().unwrap().contains("65536 bytes"),
            "{problem}"
        );
    }

    // A text file sent as an image, and an image sent as another: what providers would refuse
    // at send time is refused now, naming `file`, and nothing is stored.
    for (name, content_type, bytes, found) in [
        (
            "notes.png",
            "image/png",
            b"just some text\n".to_vec(),
            "not `image/png`",
        ),
        (
            "photo.jpg",
            "image/jpeg",
            png_bytes(200),
            "`image/png`, not the `image/jpeg`",
        ),
    ] {
        let (status, problem) = upload(&app, name, content_type, bytes).await;
        assert_eq!(status, 422, "{name}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "file", "{problem}");
        let reason = problem["errors"][0]["reason"].as_str().unwrap();
        assert!(reason.contains(found), "{name}: {reason}");
    }

    let (status, problem) = upload(
        &app,
        "setup.exe",
        "application/x-msdownload",
        b"MZ\x90\0".to_vec(),
    )
    .await;
    assert_eq!(status, 415, "{problem}");
    assert_eq!(
        problem["type"],
        "https://pombo.dev/problems/unsupported-media-type"
    );
    let allowed = problem["allowed_content_types"].as_array().unwrap();
    assert!(allowed.iter().any(|t| t == "image/png"), "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("application/x-msdownload"),
        "{problem}"
    );

    // Not multipart at all.
    let (status, problem) = app
        .call("POST", "/v1/files", Some(&serde_json::json!({"file": "x"})))
        .await;
    assert_eq!(status, 415, "{problem}");

    // Multipart without a `file` part, and an empty file.
    let response = app
        .http
        .post(app.url("/v1/files"))
        .bearer_auth(&app.api_key)
        .multipart(Form::new().part("document", Part::bytes(b"x".to_vec()).file_name("a.txt")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let response = app
        .http
        .post(app.url("/v1/files"))
        .bearer_auth(&app.api_key)
        .multipart(Form::new().text("other", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let (status, problem) = upload(&app, "empty.txt", "text/plain", Vec::new()).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "file");

    // Without a key, nothing is stored.
    let response = app
        .http
        .post(app.url("/v1/files"))
        .multipart(Form::new().part("file", Part::bytes(b"x".to_vec()).file_name("a.txt")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_file_is_invisible_to_other_tenants() {
    let s3 = LocalS3::start().await;
    let app = app_with(storage(&s3, 3600, 1024 * 1024)).await;
    let (status, file) = upload(&app, "report.pdf", "application/pdf", b"%PDF-1.7".to_vec()).await;
    assert_eq!(status, 201, "{file}");
    let id = file["id"].as_str().unwrap();

    let other = app.other_tenant_key().await;
    let response = app
        .http
        .get(app.url(&format!("/v1/files/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The other tenant's own upload lands under its own prefix.
    let (status, theirs) = upload_as(
        &app,
        &other,
        "report.pdf",
        "application/pdf",
        b"%PDF".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{theirs}");
    assert!(!theirs["url"].as_str().unwrap().contains(&format!("/{id}/")));

    for missing in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        let (status, problem) = app.call("GET", &format!("/v1/files/{missing}"), None).await;
        assert_eq!(status, 404, "{problem}");
    }
}
