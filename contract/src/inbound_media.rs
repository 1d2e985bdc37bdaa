//! The inbound media contract: one workflow per inbound message that carries a file,
//! which fetches it from the provider into object storage.
//!
//! The message is stored (and the provider answered) before anything is fetched; a worker
//! then starts this workflow for it (`pombo_starter::media`). The fetch is one activity
//! retried with backoff while the provider fails transiently; a refusal that no retry can
//! change (the file is gone, too large, the target refused) or the last failed attempt
//! records a media error on the message, which keeps its text and the provider's reference.

use serde::{Deserialize, Serialize};
use temporalio_common::ActivityError;
use temporalio_macros::activity_definitions;
use uuid::Uuid;

/// Name under which the workflow is registered.
pub const INBOUND_MEDIA_WORKFLOW: &str = "InboundMediaWorkflow";

/// The workflow of `message_id`'s file: one per message, so a second start (two workers, a
/// start after a crash) is refused by Temporal.
pub fn workflow_id(message_id: Uuid) -> String {
    format!("inbound-media-{message_id}")
}

/// Failure type of a fetch that no retry can fix.
pub const PERMANENT_MEDIA: &str = "PermanentMediaError";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMediaInput {
    pub message_id: Uuid,
    pub tenant_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchMediaInput {
    pub message_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchMediaOutput {
    /// The stored file; `None` when there is nothing to fetch any more (the message was
    /// purged by retention meanwhile).
    pub file_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaFailedInput {
    pub message_id: Uuid,
    /// Why, as the last attempt said (no personal data: provider errors are cleaned).
    pub error: String,
}

/// What a fetch ended with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMediaOutcome {
    pub file_id: Option<Uuid>,
    pub error: Option<String>,
}

pub struct InboundMediaActivities;

#[activity_definitions]
impl InboundMediaActivities {
    /// Downloads the message's file through its provider account and stores it as a file of
    /// the tenant, given to the message. Idempotent: a retry after a crash finds the file.
    #[activity(name = "fetch_inbound_media")]
    pub fn fetch(input: FetchMediaInput) -> Result<FetchMediaOutput, ActivityError> {
        unimplemented!()
    }

    /// Records that the file could not be fetched.
    #[activity(name = "record_media_failed")]
    pub fn record_failed(input: MediaFailedInput) -> Result<(), ActivityError> {
        unimplemented!()
    }
}

/// The generated marker types, so other crates can implement these definitions.
pub use inbound_media_activities::{Fetch, RecordFailed};
