//! Uploaded files at send time. Content names files by id (email attachments, chat media,
//! push images); just before a provider gets the message, each is looked up for the
//! notification's tenant and turned into what the provider needs: an email attachment's
//! bytes, downloaded from object storage, or a fresh presigned URL in place of the reference,
//! valid for `storage.provider_url_expiry_secs`. A URL made at request time could expire
//! before a retry or a scheduled send.

use std::{sync::Arc, time::Duration};

use pombo_contract::{
    config::StorageConfig,
    content::{Content, FileRef, FileUse, file_ref_id},
    workflow::failure_types,
};
use pombo_store::{
    Db, StoreError, files,
    notifications::Notification,
    objects::{ObjectStore, ObjectStoreError},
};

use crate::notification::StepError;
use pombo_providers::Attachment;

/// Object storage for the activities, if the worker has one.
#[derive(Clone, Default)]
pub struct SendFiles {
    objects: Option<Arc<ObjectStore>>,
    url_expiry: Duration,
}

/// Why the files of a message could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file or its object is gone: no retry brings it back.
    #[error("{0}")]
    Missing(String),
    /// Object storage cannot be used now (unreachable, refused, not configured).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FileError> for StepError {
    fn from(e: FileError) -> Self {
        match e {
            // Another provider account would meet the same missing file: the notification
            // fails at once, with the reason.
            FileError::Missing(message) => StepError::Fatal {
                kind: failure_types::BAD_NOTIFICATION,
                message,
            },
            FileError::Unavailable(message) => StepError::Retryable {
                message,
                retry_after: None,
            },
            FileError::Store(e) => StepError::Store(e),
        }
    }
}

impl SendFiles {
    pub fn new(objects: Option<Arc<ObjectStore>>, storage: &StorageConfig) -> Self {
        SendFiles {
            objects,
            url_expiry: Duration::from_secs(storage.provider_url_expiry_secs),
        }
    }

    /// A presigned download URL of the tenant's file, with its metadata (the chat hub's
    /// file messages, made at send time so a message that waited hours has a fresh link).
    pub async fn presigned(
        &self,
        db: &Db,
        tenant_id: uuid::Uuid,
        file_id: uuid::Uuid,
    ) -> Result<(files::File, String), FileError> {
        let objects = self.objects.as_ref().ok_or_else(|| {
            FileError::Unavailable(
                "the message has a file, but this worker has no usable object storage (see `[storage]`)"
                    .into(),
            )
        })?;
        let file = files::get_for_tenant(db, tenant_id, file_id)
            .await?
            .ok_or_else(|| {
                FileError::Missing(format!(
                    "file {file_id} no longer exists (deleted by retention?)"
                ))
            })?;
        let url = objects
            .presign_get_for(&file.object_key, self.url_expiry)
            .await
            .map_err(|e| FileError::Unavailable(e.to_string()))?
            .url;
        Ok((file, url))
    }

    /// `content` with every file reference made usable: media and image references replaced
    /// by presigned URLs, email attachments downloaded (in the order given).
    pub async fn resolve(
        &self,
        db: &Db,
        n: &Notification,
        mut content: Content,
    ) -> Result<(Content, Vec<Attachment>), FileError> {
        let refs = content.file_refs();
        if refs.is_empty() {
            return Ok((content, Vec::new()));
        }
        let objects = self.objects.as_ref().ok_or_else(|| {
            FileError::Unavailable(
                "the message has files, but this worker has no usable object storage (see `[storage]`)"
                    .into(),
            )
        })?;
        // The names the caller chose for its attachments, in the order of `refs`.
        let names: Vec<Option<String>> = match &content {
            Content::Email(c) => c.attachments.iter().map(|a| a.filename.clone()).collect(),
            _ => Vec::new(),
        };
        let mut attachments = Vec::new();
        for r in refs {
            let file = files::get_for_tenant(db, n.tenant_id, r.file_id)
                .await?
                .ok_or_else(|| {
                    FileError::Missing(format!(
                        "{}: file {} no longer exists (deleted by retention?)",
                        r.field, r.file_id
                    ))
                })?;
            let gone = |e: ObjectStoreError| match e {
                ObjectStoreError::NotFound(_) => FileError::Missing(format!(
                    "{}: file {} is missing from object storage",
                    r.field, r.file_id
                )),
                // Not the object that was uploaded (its size was recorded then).
                ObjectStoreError::TooLarge { .. } => FileError::Missing(format!(
                    "{}: file {} changed in object storage: {e}",
                    r.field, r.file_id
                )),
                other => FileError::Unavailable(format!("{}: {other}", r.field)),
            };
            match r.usage {
                FileUse::Attachment => {
                    let bytes = objects
                        .get(&file.object_key, file.size_bytes)
                        .await
                        .map_err(gone)?;
                    let name = names.get(attachments.len()).cloned().flatten();
                    attachments.push(Attachment {
                        filename: name.unwrap_or(file.filename),
                        content_type: file.content_type,
                        bytes,
                    });
                }
                FileUse::Media(_) | FileUse::PushImage => {
                    // A URL to nothing would fail at the provider, later and less clearly.
                    objects.size(&file.object_key).await.map_err(gone)?;
                    let url = objects
                        .presign_get_for(&file.object_key, self.url_expiry)
                        .await
                        .map_err(gone)?
                        .url;
                    replace_reference(&mut content, &r, url);
                }
            }
        }
        Ok((content, attachments))
    }
}

/// Puts `url` where `r` points in `content`.
fn replace_reference(content: &mut Content, r: &FileRef, url: String) {
    match content {
        Content::Push(c) => {
            if c.image_url.as_deref().and_then(file_ref_id) == Some(r.file_id) {
                c.image_url = Some(url);
            }
        }
        Content::Whatsapp(c) | Content::Instagram(c) => {
            if let Some(media) = c.media.as_mut()
                && media.file_id() == Some(r.file_id)
            {
                media.url = url;
            }
        }
        Content::Email(_)
        | Content::Sms(_)
        | Content::Telegram(_)
        | Content::Webhook(_)
        | Content::InApp(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use pombo_contract::{Channel, content::Content};
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn references_are_replaced_by_the_url_and_nothing_else_changes() {
        let id = Uuid::now_v7();
        let mut chat = Content::parse(
            Channel::Whatsapp,
            &json!({"media": {"file_id": id, "kind": "image", "caption": "c"}}),
        )
        .unwrap();
        let r = chat.file_refs().remove(0);
        replace_reference(&mut chat, &r, "https://s3.test/x?sig".into());
        let Content::Whatsapp(c) = &chat else {
            panic!("still whatsapp")
        };
        let media = c.media.as_ref().unwrap();
        assert_eq!(media.url, "https://s3.test/x?sig");
        assert_eq!(media.caption.as_deref(), Some("c"));
        assert!(chat.file_refs().is_empty());

        let mut push = Content::parse(
            Channel::Push,
            &json!({"title": "t", "body": "b", "image_file_id": id}),
        )
        .unwrap();
        let r = push.file_refs().remove(0);
        replace_reference(&mut push, &r, "https://s3.test/img".into());
        assert_eq!(
            push.to_value(),
            json!({"title": "t", "body": "b", "image_url": "https://s3.test/img"})
        );
    }
}
