//! The files resource: a tenant uploads a file (`POST /v1/files`, `multipart/form-data` with
//! one `file` part) to attach to notifications; it is stored in S3-compatible object storage
//! under `<tenant>/<file id>/<name>` and answered with a presigned download URL.
//! `GET /v1/files/{id}` gives its metadata with a fresh URL. Another tenant's file reads as
//! not found.
//!
//! Limits (`[storage]`): files larger than `max_file_bytes` are refused with 413, content
//! types outside `allowed_content_types` with 415 (the problem lists the allowed ones). The
//! content type is the part's own `Content-Type`, and the bytes must be of that type
//! ([`sniff`]: a text file sent as `image/png` is a 422 on `file`).

mod sniff;

use crate::extract::PathParams;
use axum::{
    Json,
    body::Body,
    extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_contract::files::{accepts, essence};
use pombo_store::files::{self, File, NewFile};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub use pombo_store::objects::{ObjectStore, ObjectStoreError};

use crate::auth::{Authorized, CanRead, CanSend};
use crate::{
    error::{ApiError, Problem},
    state::AppState,
};

/// Room for the multipart framing around the file (boundaries, part headers).
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// Longest file name kept, in characters.
const MAX_FILENAME_CHARS: usize = 255;
/// Longest file name used in the object key, in bytes.
const MAX_KEY_NAME_BYTES: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    // The API-wide body limit is for JSON; uploads have their own (`max_file_bytes`).
    let (schemas, paths, upload) = routes!(upload);
    OpenApiRouter::new()
        .routes((schemas, paths, upload.layer(DefaultBodyLimit::disable())))
        .routes(routes!(read))
}

/// A stored file, with a presigned URL to download it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    pub id: Uuid,
    /// As uploaded, without any path.
    pub filename: String,
    pub content_type: String,
    /// In bytes.
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// A presigned GET URL of the object store; anyone holding it can download the file
    /// until `url_expires_at`. Ask `GET /v1/files/{id}` for a fresh one.
    pub url: String,
    pub url_expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// The upload form: one part named `file`.
#[derive(ToSchema)]
#[allow(dead_code)] // Only describes the form in the OpenAPI document.
pub struct UploadForm {
    /// The file. Its part's `filename` and `Content-Type` are kept.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Why an upload was refused, beyond the API's usual errors.
#[derive(Debug)]
pub enum UploadError {
    Api(ApiError),
    /// 413: the file (or the whole body) is over the limit.
    TooLarge {
        limit: u64,
    },
    /// 415: the file's content type is not allowed.
    ContentType {
        got: String,
        allowed: Vec<String>,
    },
    /// 415: the body is not `multipart/form-data`.
    NotMultipart,
    /// 400: the multipart body cannot be parsed.
    Malformed(String),
}

impl From<ApiError> for UploadError {
    fn from(e: ApiError) -> Self {
        UploadError::Api(e)
    }
}

impl From<ObjectStoreError> for UploadError {
    fn from(e: ObjectStoreError) -> Self {
        UploadError::Api(store_error(e))
    }
}

impl From<pombo_store::StoreError> for UploadError {
    fn from(e: pombo_store::StoreError) -> Self {
        UploadError::Api(e.into())
    }
}

fn store_error(e: ObjectStoreError) -> ApiError {
    match e {
        ObjectStoreError::Unavailable(reason) => {
            tracing::warn!(%reason, "object storage unavailable");
            ApiError::Unavailable("object storage is unavailable; retry later".into())
        }
        e => ApiError::Internal(e.into()),
    }
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        let (status, slug, title, detail, extra) = match self {
            UploadError::Api(e) => return e.into_response(),
            UploadError::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "File too large",
                format!("the file is larger than the limit of {limit} bytes"),
                ("limit_bytes", serde_json::json!(limit)),
            ),
            UploadError::ContentType { got, allowed } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                format!(
                    "files of type `{got}` are not accepted; allowed: {}",
                    allowed.join(", ")
                ),
                ("allowed_content_types", serde_json::json!(allowed)),
            ),
            UploadError::NotMultipart => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the file as `multipart/form-data` with one part named `file`".into(),
                ("expected", serde_json::json!("multipart/form-data")),
            ),
            UploadError::Malformed(reason) => (
                StatusCode::BAD_REQUEST,
                "malformed-multipart",
                "Malformed multipart body",
                reason,
                ("expected", serde_json::json!("multipart/form-data")),
            ),
        };
        let problem = Problem {
            kind: format!("https://pombo.dev/problems/{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors: Vec::new(),
        };
        // RFC 9457 extension member beside the standard ones.
        let mut body = serde_json::to_value(problem).unwrap_or_default();
        body[extra.0] = extra.1;
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::error::PROBLEM_JSON),
        );
        response
    }
}

/// Upload a file: `multipart/form-data` with one part named `file`.
#[utoipa::path(
    post, path = "/v1/files", tag = "files",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored; `url` downloads it until `url_expires_at`", body = FileView),
        (status = 400, description = "Malformed multipart body", body = Problem),
        (status = 413, description = "The file is larger than `storage.max_file_bytes` (`limit_bytes`)", body = Problem),
        (status = 415, description = "Not multipart, or a content type outside `allowed_content_types` (listed)", body = Problem),
        (status = 422, description = "No `file` part, an empty file, an unknown part, or content that is not of the part's `Content-Type` (a text file sent as `image/png`)", body = Problem),
        (status = 503, description = "Object storage unavailable", body = Problem),
    ),
    security(("api_key" = ["send"]))
)]
pub async fn upload(
    State(state): State<AppState>,
    tenant: Authorized<CanSend>,
    request: Request,
) -> Result<Response, UploadError> {
    let storage = &state.config.storage;
    let limit = storage.max_file_bytes;
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !is_multipart {
        return Err(UploadError::NotMultipart);
    }
    let body_limit = limit.saturating_add(MULTIPART_OVERHEAD);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > body_limit) {
        return Err(UploadError::TooLarge { limit });
    }
    // Bounds the whole body, whatever its framing says.
    let request = request.map(|body| {
        Body::new(http_body_util::Limited::new(
            body,
            usize::try_from(body_limit).unwrap_or(usize::MAX),
        ))
    });
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|_| UploadError::NotMultipart)?;
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UploadError::TooLarge { limit }
        } else {
            UploadError::Malformed(e.body_text())
        }
    };

    let mut upload: Option<Upload> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            return Err(ApiError::field(name, "unknown part: send one part named `file`").into());
        }
        if upload.is_some() {
            return Err(ApiError::field("file", "send one `file` part, not several").into());
        }
        let content_type = field
            .content_type()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or("application/octet-stream")
            .to_owned();
        if !accepts(&storage.allowed_content_types, &content_type) {
            return Err(UploadError::ContentType {
                got: essence(&content_type),
                allowed: storage.allowed_content_types.clone(),
            });
        }
        let filename = clean_filename(field.file_name().unwrap_or_default());
        let mut hasher = Sha256::new();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(UploadError::TooLarge { limit });
            }
            hasher.update(&chunk);
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Err(ApiError::field("file", "the file is empty").into());
        }
        if let Some(reason) = sniff::mismatch(&essence(&content_type), &bytes) {
            return Err(ApiError::field("file", reason).into());
        }
        upload = Some(Upload {
            filename,
            content_type,
            sha256: hasher.finalize().into(),
            bytes,
        });
    }
    let Some(upload) = upload else {
        return Err(ApiError::field(
            "file",
            "missing: send the file as a multipart part named `file`",
        )
        .into());
    };

    let id = Uuid::now_v7();
    let object_key = format!("{}/{id}/{}", tenant.id, key_name(&upload.filename));
    let size = upload.bytes.len() as u64;
    state
        .object_store
        .put(
            &object_key,
            upload.bytes,
            &upload.content_type,
            &upload.sha256,
        )
        .await?;
    let file = files::create(
        &state.db,
        NewFile {
            id,
            tenant_id: tenant.id,
            filename: upload.filename,
            content_type: upload.content_type,
            size_bytes: size,
            sha256: hex::encode(upload.sha256),
            object_key,
        },
    )
    .await?;
    let view = view(&state, file).await?;
    let location = HeaderValue::from_str(&format!("/v1/files/{id}")).ok();
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// A file's metadata with a fresh presigned download URL.
#[utoipa::path(
    get, path = "/v1/files/{id}", tag = "files",
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 200, description = "The file, with a fresh `url`", body = FileView),
        (status = 503, description = "Object storage unavailable", body = Problem),
        (status = 404, description = "No such file for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<FileView>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no file `{id}`"));
    let file_id: Uuid = id.parse().map_err(|_| not_found())?;
    let file = files::get_for_tenant(&state.db, tenant.id, file_id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(view(&state, file).await?))
}

struct Upload {
    filename: String,
    content_type: String,
    sha256: [u8; 32],
    bytes: Vec<u8>,
}

async fn view(state: &AppState, file: File) -> Result<FileView, ApiError> {
    let presigned = state
        .object_store
        .presign_get(&file.object_key)
        .await
        .map_err(store_error)?;
    Ok(FileView {
        id: file.id,
        filename: file.filename,
        content_type: file.content_type,
        size: file.size_bytes,
        sha256: file.sha256,
        url: presigned.url,
        url_expires_at: presigned.expires_at,
        created_at: file.created_at,
    })
}

/// The uploader's file name without any directories or control characters, at most
/// [`MAX_FILENAME_CHARS`]; `file` when nothing is left.
fn clean_filename(raw: &str) -> String {
    pombo_contract::files::clean_filename(raw, MAX_FILENAME_CHARS, "file")
}

/// The file name as used in object keys: ASCII letters, digits, `.`, `-` and `_` only (others
/// become `_`), no leading dot, at most [`MAX_KEY_NAME_BYTES`].
fn key_name(filename: &str) -> String {
    let mapped: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches('.');
    let mut name: String = trimmed.chars().take(MAX_KEY_NAME_BYTES).collect();
    if name.chars().all(|c| c == '_') {
        name = "file".into();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_match_exactly_or_by_wildcard() {
        let list = vec!["image/png".to_owned(), "audio/*".to_owned()];
        assert!(accepts(&list, "image/png"));
        assert!(accepts(&list, "Image/PNG; charset=binary"));
        assert!(accepts(&list, "audio/ogg"));
        assert!(!accepts(&list, "image/svg+xml"));
        assert!(!accepts(&list, "application/octet-stream"));
        assert!(!accepts(&list, "audio"));
    }

    #[test]
    fn file_names_lose_paths_and_keys_are_safe() {
        assert_eq!(clean_filename("C:\\Users\\ana\\foto.png"), "foto.png");
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("a\u{0}b\n.txt"), "ab.txt");
        assert_eq!(clean_filename(""), "file");
        assert_eq!(clean_filename(".."), "file");
        assert_eq!(key_name("relatório final.pdf"), "relat_rio_final.pdf");
        assert_eq!(key_name("..hidden"), "hidden");
        assert_eq!(key_name("日本"), "file");
        assert_eq!(key_name(&"x".repeat(300)).len(), MAX_KEY_NAME_BYTES);
    }
}
