//! Files people send, as the fakes keep them: a test ([`MediaStore::put`]) or a person
//! (`POST /_fake/media?id=…` with the bytes and their `Content-Type`) puts a file under an
//! id, and each provider's fake serves it its own documented way: WhatsApp Cloud's media
//! node and lookaside URL, Telegram's `getFile` and file path, Twilio's `MediaUrl`, WAHA's
//! `/api/files/…`, Evolution's `getBase64FromMediaMessage`, Instagram's and Callbell's
//! attachment URLs. An id nobody put is the provider's "not found".

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::FakeState;

/// A file as a person sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

#[derive(Debug, Clone, Default)]
pub struct MediaStore(Arc<Mutex<HashMap<String, Stored>>>);

impl MediaStore {
    /// Keeps `bytes` under `id` (a media id, file id, message key or file name).
    pub fn put(&self, id: &str, bytes: impl Into<Vec<u8>>, content_type: &str) {
        self.0.lock().expect("media lock").insert(
            id.to_owned(),
            Stored {
                bytes: bytes.into(),
                content_type: content_type.to_owned(),
            },
        );
    }

    pub fn get(&self, id: &str) -> Option<Stored> {
        self.0.lock().expect("media lock").get(id).cloned()
    }
}

/// The file's bytes with its content type, or a plain 404.
pub fn serve(stored: Option<Stored>) -> Response {
    match stored {
        Some(file) => (
            [(header::CONTENT_TYPE, file.content_type)],
            Bytes::from(file.bytes),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

#[derive(Deserialize)]
pub struct PutQuery {
    id: String,
}

/// `POST /_fake/media?id=…`: keeps the body under `id`.
pub async fn put(
    State(state): State<FakeState>,
    Query(query): Query<PutQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    state.media.put(&query.id, body.to_vec(), content_type);
    (
        StatusCode::CREATED,
        Json(json!({"id": query.id, "size": body.len()})),
    )
        .into_response()
}
