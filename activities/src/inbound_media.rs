//! The inbound media activities (`pombo_contract::inbound_media`): a file a person sent,
//! downloaded through the provider account the message came through (its credentials, its
//! guarded client: a tenant's account reaches public addresses only) and stored in object
//! storage as a file of the tenant, given to the message.
//!
//! The file's id is the message's, so a retried attempt (after a crash between the upload
//! and the record) overwrites the same object and finds the same row. A content type
//! outside `storage.allowed_content_types` is stored as `application/octet-stream`: what a
//! stranger sends is then downloaded by a browser, never rendered from the bucket's origin.

use std::sync::Arc;

use pombo_contract::{
    activities::ProviderRef,
    config::StorageConfig,
    files::{accepts, clean_filename, essence},
    inbound_media::{
        self as defs, FetchMediaInput, FetchMediaOutput, MediaFailedInput, PERMANENT_MEDIA,
    },
};
use pombo_providers::media::Fetch;
use pombo_store::{Db, StoreError, files::NewFile, inbound_media, objects::ObjectStore};
use sha2::{Digest, Sha256};
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::routing::{Providers, ResolveError};

#[derive(Clone)]
pub struct InboundMediaActivities {
    db: Db,
    providers: Arc<Providers>,
    objects: Option<Arc<ObjectStore>>,
    max_file_bytes: u64,
    allowed_content_types: Vec<String>,
}

impl InboundMediaActivities {
    pub fn new(
        db: Db,
        providers: Arc<Providers>,
        objects: Option<Arc<ObjectStore>>,
        storage: &StorageConfig,
    ) -> Self {
        InboundMediaActivities {
            db,
            providers,
            objects,
            max_file_bytes: storage.max_file_bytes,
            allowed_content_types: storage.allowed_content_types.clone(),
        }
    }

    /// `content_type` if the configuration accepts it, else `application/octet-stream`.
    fn stored_type(&self, content_type: Option<&str>) -> String {
        match content_type {
            Some(given) if accepts(&self.allowed_content_types, given) => essence(given),
            _ => OCTET_STREAM.into(),
        }
    }
}

const OCTET_STREAM: &str = "application/octet-stream";

fn permanent(message: impl Into<String>) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message.into())
            .type_name(PERMANENT_MEDIA.to_owned())
            .non_retryable(true)
            .build(),
    )
}

fn retryable(message: impl Into<String>) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message.into())
            .type_name("RetryableMediaError".to_owned())
            .build(),
    )
}

/// A file name fit to show and to keep: the one the person's app gave (no path, no control
/// characters, at most 200 characters), or the message's kind.
fn filename(given: Option<&str>, kind: &str) -> String {
    clean_filename(given.unwrap_or_default(), 200, kind)
}

#[activities]
impl InboundMediaActivities {
    #[activity(definition = defs::Fetch)]
    pub async fn fetch(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: FetchMediaInput,
    ) -> Result<FetchMediaOutput, ActivityError> {
        // A worker that dies mid-download is noticed by its missing heartbeats, not after
        // the attempt's whole timeout.
        crate::notification::with_heartbeats(&ctx, self.fetch_and_store(input)).await
    }

    #[activity(definition = defs::RecordFailed)]
    pub async fn record_failed(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: MediaFailedInput,
    ) -> Result<(), ActivityError> {
        inbound_media::record_failed(&self.db, input.message_id, &input.error).await?;
        Ok(())
    }
}

impl InboundMediaActivities {
    async fn fetch_and_store(
        &self,
        input: FetchMediaInput,
    ) -> Result<FetchMediaOutput, ActivityError> {
        let message = match inbound_media::to_fetch(&self.db, input.message_id).await {
            Ok(message) => message,
            // Purged by retention meanwhile: nothing is owed any more.
            Err(StoreError::NotFound) => return Ok(FetchMediaOutput { file_id: None }),
            Err(e) => return Err(e.into()),
        };
        if let Some(file_id) = message.file_id {
            return Ok(FetchMediaOutput {
                file_id: Some(file_id),
            });
        }
        let Some(objects) = &self.objects else {
            return Err(retryable(
                "object storage is not usable by this worker (see its log)",
            ));
        };
        let account = ProviderRef {
            account_id: message.account_id,
            name: message.account.clone(),
            kind: String::new(),
            rate_limited: false,
        };
        let client = match self.providers.resolve(&account).await {
            Ok(client) => client,
            Err(ResolveError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(permanent(e.to_string())),
        };
        let fetched = client
            .fetch_media(Fetch {
                reference: &message.media.reference,
                content_type: message.media.content_type.as_deref(),
                limit: self.max_file_bytes,
            })
            .await;
        let fetched = match fetched {
            Ok(Some(fetched)) => fetched,
            Ok(None) => {
                return Err(permanent(format!(
                    "provider account `{}` brings in no files",
                    message.account
                )));
            }
            Err(e) if e.is_permanent() => return Err(permanent(e.message())),
            Err(e) => return Err(retryable(e.message())),
        };
        let content_type = self.stored_type(
            fetched
                .content_type
                .as_deref()
                .or(message.media.content_type.as_deref()),
        );
        let sha256 = Sha256::digest(&fetched.bytes);
        let file_id = message.message_id;
        let object_key = format!("{}/{file_id}/inbound", message.tenant_id);
        let size_bytes = fetched.bytes.len() as u64;
        objects
            .put(&object_key, fetched.bytes, &content_type, &sha256)
            .await
            .map_err(|e| retryable(format!("object storage: {e}")))?;
        let file_id = inbound_media::record_stored(
            &self.db,
            message.message_id,
            NewFile {
                id: file_id,
                tenant_id: message.tenant_id,
                filename: filename(message.media.filename.as_deref(), message.kind.as_str()),
                content_type,
                size_bytes,
                sha256: hex::encode(sha256),
                object_key,
            },
        )
        .await?;
        Ok(FetchMediaOutput {
            file_id: Some(file_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_no_path_and_fall_back_to_the_kind() {
        assert_eq!(filename(Some("../../etc/passwd"), "document"), "passwd");
        assert_eq!(filename(Some("C:\\x\\nota.pdf"), "document"), "nota.pdf");
        assert_eq!(filename(Some(".."), "image"), "image");
        assert_eq!(filename(None, "audio"), "audio");
        assert_eq!(filename(Some("a\u{7}b.jpg"), "image"), "ab.jpg");
    }
}
