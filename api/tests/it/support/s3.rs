//! A real S3-compatible server for tests: s3s-fs in this process on a free loopback port,
//! checking SigV4 signatures and the expiry of presigned URLs; and uploads through
//! `POST /v1/files`.

use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder,
};
use pombo_contract::config::{Secret, StorageConfig};
use reqwest::multipart::{Form, Part};
use s3s::{auth::SimpleAuth, service::S3ServiceBuilder};
use serde_json::Value;

use super::TestApp;

const ACCESS_KEY: &str = "pombo-test";
const SECRET_KEY: &str = "pombo-test-secret";
pub const BUCKET: &str = "test-files";
/// Distinct from `presign_expiry_secs`, so a provider's URL is recognisably its own.
pub const PROVIDER_URL_EXPIRY_SECS: u64 = 7200;

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

/// Uploads `bytes` as `key`'s tenant: the status and the answer's JSON.
pub async fn upload_as(
    app: &TestApp,
    key: &str,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
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
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Uploads as the app's tenant and expects it stored: the file's JSON.
pub async fn upload(app: &TestApp, name: &str, content_type: &str, bytes: Vec<u8>) -> Value {
    let (status, file) = upload_as(app, &app.api_key, name, content_type, bytes).await;
    assert_eq!(status, 201, "{file}");
    file
}

/// Bytes that start like a PNG, with every byte value in them.
pub fn png_bytes(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..len.saturating_sub(bytes.len())).map(|i| (i * 31 % 256) as u8));
    bytes
}
