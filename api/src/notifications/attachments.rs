//! Uploaded files named by a notification (email `attachments`, chat `media.file_id`, push
//! `image_file_id`, in its content or its fallback's), checked when it is accepted: each
//! must be one of the tenant's files, still stored, and of a type its use takes (an image
//! for a push or `image` media, …); an email's attachments must fit
//! `storage.max_email_attachment_bytes` together. Otherwise a 422 names the field
//! (`content.attachments[0].file_id`). The worker reads the files again when it sends.

use std::collections::HashMap;

use pombo_contract::{
    Channel,
    content::{Content, FileRef, FileUse},
};
use pombo_store::files;
use serde_json::Value;
use uuid::Uuid;

use super::request::Validated;
use crate::{
    error::{ApiError, FieldError},
    state::AppState,
};

/// Checks every file the notification names; nothing to do for one without files.
pub async fn check(state: &AppState, tenant_id: Uuid, valid: &Validated) -> Result<(), ApiError> {
    let mut uses = Vec::new();
    if let Ok(content) = Content::parse(valid.channel, &valid.content) {
        uses.push((String::new(), content.file_refs()));
    }
    if let Some(content) = valid.fallback.as_ref().and_then(fallback_content) {
        uses.push(("fallback.".into(), content.file_refs()));
    }
    check_refs(state, tenant_id, &uses).await
}

/// Checks the files of one content (a batch's, shared by its recipients).
pub async fn check_content(
    state: &AppState,
    tenant_id: Uuid,
    channel: Channel,
    content: &Value,
) -> Result<(), ApiError> {
    match Content::parse(channel, content) {
        Ok(content) => check_refs(state, tenant_id, &[(String::new(), content.file_refs())]).await,
        Err(_) => Ok(()),
    }
}

/// Checks file references grouped by where they are (a field-path prefix each: an email's
/// attachments must fit the limit within one content).
async fn check_refs(
    state: &AppState,
    tenant_id: Uuid,
    uses: &[(String, Vec<FileRef>)],
) -> Result<(), ApiError> {
    let ids: Vec<Uuid> = uses
        .iter()
        .flat_map(|(_, refs)| refs.iter().map(|r| r.file_id))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let found: HashMap<Uuid, files::File> = files::get_many_for_tenant(&state.db, tenant_id, &ids)
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();

    let limit = state.config.storage.max_email_attachment_bytes;
    let mut errors = Vec::new();
    for (prefix, refs) in uses {
        let mut attached = 0u64;
        for r in refs {
            let field = format!("{prefix}{}", r.field);
            let Some(file) = found.get(&r.file_id) else {
                errors.push(FieldError::new(
                    field,
                    format!("no file `{}`: upload it with POST /v1/files", r.file_id),
                ));
                continue;
            };
            if let Err(reason) = r.usage.accepts(&file.content_type) {
                errors.push(FieldError::new(field, reason));
            }
            if r.usage == FileUse::Attachment {
                attached = attached.saturating_add(file.size_bytes);
            }
        }
        if attached > limit {
            errors.push(FieldError::new(
                format!("{prefix}content.attachments"),
                format!("the attachments total {attached} bytes, over the limit of {limit}"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The content of a validated fallback (`{channel, to, content}`).
fn fallback_content(fallback: &Value) -> Option<Content> {
    let channel: Channel = serde_json::from_value(fallback.get("channel")?.clone()).ok()?;
    Content::parse(channel, fallback.get("content")?).ok()
}
