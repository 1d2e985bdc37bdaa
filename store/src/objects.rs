//! The S3-compatible object store holding uploaded files (AWS S3, MinIO, the local
//! `pombo-s3`): client construction, making sure the bucket exists, uploads, downloads,
//! deletions and presigned download URLs. The API stores files here (`/v1/files`); the worker
//! reads them back to attach them to emails or to hand providers a fresh URL.
//!
//! The SDK's own HTTPS clients build aws-lc-sys or a second, hyper 0.14 stack; its requests go
//! through [`reqwest`] instead (rustls on ring, already in the build). Bodies are in memory:
//! uploads are buffered up to `storage.max_file_bytes` anyway, to hash them, and downloads
//! ask for at most the caller's cap (a `Range` request), so a large object cannot exhaust it.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use aws_sdk_s3::{
    Client,
    config::{
        BehaviorVersion, Credentials, Region, RequestChecksumCalculation,
        ResponseChecksumValidation,
    },
    error::{DisplayErrorContext, SdkError},
    presigning::PresigningConfig,
    primitives::ByteStream,
    types::{BucketLocationConstraint, CreateBucketConfiguration},
};
use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    },
    orchestrator::{HttpRequest, HttpResponse},
    result::ConnectorError,
    runtime_components::RuntimeComponents,
};
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Utc};
use pombo_contract::config::StorageConfig;
use tokio::sync::OnceCell;

#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreError {
    /// The store could not be reached (connection refused, timeout).
    #[error("object storage is unreachable: {0}")]
    Unavailable(String),
    /// The store answered with an error (bad credentials, no such bucket, …).
    #[error("object storage refused the request: {0}")]
    Refused(String),
    #[error("invalid object storage configuration: {0}")]
    Config(String),
    /// No object under this key (never stored, or deleted).
    #[error("object `{0}` does not exist")]
    NotFound(String),
    /// The object is larger than the caller's cap.
    #[error("object `{key}` is larger than {limit} bytes")]
    TooLarge { key: String, limit: u64 },
}

impl<E, R> From<SdkError<E, R>> for ObjectStoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn from(e: SdkError<E, R>) -> Self {
        let text = DisplayErrorContext(&e).to_string();
        match e {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                ObjectStoreError::Unavailable(text)
            }
            _ => ObjectStoreError::Refused(text),
        }
    }
}

/// A presigned GET of one object.
#[derive(Debug, Clone)]
pub struct PresignedUrl {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

pub struct ObjectStore {
    client: Client,
    bucket: String,
    region: String,
    create_bucket: bool,
    presign_expiry: Duration,
    /// Set once the bucket is known to exist (or is not ours to create).
    bucket_ready: OnceCell<()>,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStore")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// Builds the client; does not connect.
    pub fn new(config: &StorageConfig) -> Result<Self, ObjectStoreError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ObjectStoreError::Config(format!("HTTP client: {e}")))?;
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(Credentials::new(
                config.access_key_id.clone(),
                config.secret_access_key.expose().to_owned(),
                None,
                None,
                "pombo-config",
            ))
            .force_path_style(config.force_path_style)
            .http_client(ReqwestHttpClient(http))
            // Checksums only where S3 requires them: many S3-compatible servers do not
            // understand the SDK's default CRC trailers. Uploads carry their SHA-256 instead.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &config.endpoint {
            url::Url::parse(endpoint).map_err(|e| {
                ObjectStoreError::Config(format!("storage.endpoint `{endpoint}`: {e}"))
            })?;
            builder = builder.endpoint_url(endpoint);
        }
        Ok(ObjectStore {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            region: config.region.clone(),
            create_bucket: config.create_bucket,
            presign_expiry: Duration::from_secs(config.presign_expiry_secs),
            bucket_ready: OnceCell::new(),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// With `create_bucket`, creates the bucket if it is missing; once per process (until
    /// it succeeds). Without, assumes it exists.
    pub async fn ensure_bucket(&self) -> Result<(), ObjectStoreError> {
        if !self.create_bucket {
            return Ok(());
        }
        self.bucket_ready
            .get_or_try_init(|| async {
                match self.client.head_bucket().bucket(&self.bucket).send().await {
                    Ok(_) => return Ok(()),
                    Err(SdkError::ServiceError(e)) if e.err().is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
                let mut create = self.client.create_bucket().bucket(&self.bucket);
                // us-east-1 is S3's default location and must not be named.
                if self.region != "us-east-1" {
                    create = create.create_bucket_configuration(
                        CreateBucketConfiguration::builder()
                            .location_constraint(BucketLocationConstraint::from(
                                self.region.as_str(),
                            ))
                            .build(),
                    );
                }
                match create.send().await {
                    Ok(_) => {
                        tracing::info!(bucket = %self.bucket, "created the storage bucket");
                        Ok(())
                    }
                    // Another process made it meanwhile.
                    Err(SdkError::ServiceError(e)) if e.err().is_bucket_already_owned_by_you() => {
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await
            .map(|_| ())
    }

    /// Stores `body` under `key`; the store checks it against `sha256` (the raw digest).
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        sha256: &[u8],
    ) -> Result<(), ObjectStoreError> {
        use base64::Engine;
        self.ensure_bucket().await?;
        let length = i64::try_from(body.len()).unwrap_or(i64::MAX);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(sha256))
            .body(ByteStream::from(body))
            .send()
            .await?;
        Ok(())
    }

    /// A URL anyone can GET `key` with until it expires (the configured expiry from now).
    pub async fn presign_get(&self, key: &str) -> Result<PresignedUrl, ObjectStoreError> {
        self.presign_get_for(key, self.presign_expiry).await
    }

    /// A URL anyone can GET `key` with for `expiry` from now.
    pub async fn presign_get_for(
        &self,
        key: &str,
        expiry: Duration,
    ) -> Result<PresignedUrl, ObjectStoreError> {
        let start = SystemTime::now();
        let presigning = PresigningConfig::builder()
            .start_time(start)
            .expires_in(expiry)
            .build()
            .map_err(|e| ObjectStoreError::Config(format!("presigning: {e}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning)
            .await?;
        Ok(PresignedUrl {
            url: request.uri().to_owned(),
            expires_at: DateTime::<Utc>::from(start + expiry),
        })
    }

    /// The bytes stored under `key`, refused when there are more than `limit`. Only the
    /// first `limit + 1` bytes are asked for, so an oversized object is never read whole.
    pub async fn get(&self, key: &str, limit: u64) -> Result<Vec<u8>, ObjectStoreError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{limit}"))
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => {
                return Err(ObjectStoreError::NotFound(key.to_owned()));
            }
            // S3 cannot satisfy a range of an empty object; the object is there, and empty.
            Err(SdkError::ServiceError(e))
                if aws_sdk_s3::error::ProvideErrorMetadata::code(e.err())
                    == Some("InvalidRange") =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| ObjectStoreError::Unavailable(format!("reading `{key}`: {e}")))?
            .into_bytes();
        if bytes.len() as u64 > limit {
            return Err(ObjectStoreError::TooLarge {
                key: key.to_owned(),
                limit,
            });
        }
        Ok(bytes.to_vec())
    }

    /// The size in bytes of the object under `key`; [`ObjectStoreError::NotFound`] when
    /// there is none.
    pub async fn size(&self, key: &str) -> Result<u64, ObjectStoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(u64::try_from(head.content_length().unwrap_or_default()).unwrap_or(0)),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => {
                Err(ObjectStoreError::NotFound(key.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the object under `key`; deleting a missing object succeeds (S3's own rule), so
    /// a retried deletion is harmless.
    pub async fn delete(&self, key: &str) -> Result<(), ObjectStoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await?;
        Ok(())
    }

    /// Makes sure the bucket exists without holding up start-up: a store that is down now
    /// is tried again on the first upload.
    pub fn ensure_bucket_in_background(self: &Arc<Self>) {
        if !self.create_bucket {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(e) = store.ensure_bucket().await {
                tracing::warn!(
                    bucket = %store.bucket,
                    error = %e,
                    "object storage not ready; file uploads fail until it is"
                );
            }
        });
    }
}

/// The SDK's HTTP client, on reqwest.
#[derive(Debug, Clone)]
struct ReqwestHttpClient(reqwest::Client);

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // One pooled client with its own timeouts serves every operation.
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for ReqwestHttpClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let method = reqwest::Method::from_bytes(request.method().as_bytes())
                .map_err(|e| ConnectorError::user(e.into()))?;
            let mut outgoing = client.request(method, request.uri());
            for (name, value) in request.headers() {
                outgoing = outgoing.header(name, value);
            }
            let body = request.body().bytes().ok_or_else(|| {
                ConnectorError::user("streaming request bodies are not supported".into())
            })?;
            if !body.is_empty() {
                outgoing = outgoing.body(body.to_vec());
            }
            let response = outgoing.send().await.map_err(connector_error)?;
            let status = response.status().as_u16();
            let headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect();
            let bytes = response.bytes().await.map_err(connector_error)?;
            let mut answer = HttpResponse::new(
                status
                    .try_into()
                    .map_err(|e| ConnectorError::other(Box::new(e), None))?,
                SdkBody::from(bytes),
            );
            for (name, value) in headers {
                answer
                    .headers_mut()
                    .try_append(name, value)
                    .map_err(|e| ConnectorError::other(Box::new(e), None))?;
            }
            Ok(answer)
        })
    }
}

fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}
