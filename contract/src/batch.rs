//! The contract of bulk sends: the batch workflow's input and its activity definitions.
//!
//! A batch is **one** workflow, not one per recipient: a workflow per recipient costs some
//! ten Temporal actions, and a namespace's action rate (and the embedded server's
//! workflows/s) would cap a bulk send far below what the providers take. The workflow runs
//! chunk activities instead, each sending up to [`CHUNK_SIZE`] recipients; every recipient
//! is still a notification row with its own status, attempts and timeline. Like the
//! notification workflow, the input carries ids and settings only: recipients and content
//! stay in the database (claim check).

use serde::{Deserialize, Serialize};
use temporalio_common::ActivityError;
use temporalio_macros::activity_definitions;
use uuid::Uuid;

use crate::{Channel, Priority, activities::ProviderRef, workflow::RetrySettings};

/// Name under which the batch workflow is registered.
pub const BATCH_WORKFLOW: &str = "BatchWorkflow";

/// Most recipients in one batch request.
pub const MAX_RECIPIENTS: usize = 10_000;
/// Recipients per chunk activity.
pub const CHUNK_SIZE: u32 = 200;
/// Chunk activities of one batch running at once.
pub const CONCURRENT_CHUNKS: u32 = 4;
/// Chunks one workflow run executes before it continues as new, which keeps each run's
/// history small (a few hundred events) however large the batch.
pub const CHUNKS_PER_RUN: u32 = 20;

/// Workflow id of a batch: derived from its id, so Temporal itself refuses a second start.
pub fn workflow_id(batch_id: Uuid) -> String {
    format!("batch-{batch_id}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchWorkflowInput {
    pub batch_id: Uuid,
    pub tenant_id: Uuid,
    pub channel: Channel,
    pub priority: Priority,
    /// Recipients (notification rows) in the batch.
    pub total: u32,
    /// Every recipient's retry rule: attempts per provider account, and the wait between.
    pub retry: RetrySettings,
    /// Longest one provider call may take.
    pub attempt_timeout_secs: u64,
    /// A chunk that has not heartbeated for this long (its worker died) is retried.
    pub heartbeat_timeout_secs: u64,
    /// Not sent before this time: the workflow waits on a durable timer first.
    #[serde(default)]
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Recipients per chunk (0: [`CHUNK_SIZE`]).
    #[serde(default)]
    pub chunk_size: u32,
    /// Chunks per workflow run before continuing as new (0: [`CHUNKS_PER_RUN`]).
    #[serde(default)]
    pub chunks_per_run: u32,
    /// Where an earlier run stopped (continue-as-new).
    #[serde(default)]
    pub progress: BatchProgress,
    /// The tenant's weight when it is not 1: the fairness weight of its chunks, so a heavier
    /// tenant's chunks get the share of the matcher its notifications get (absent in runs
    /// started before weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairness_weight: Option<u32>,
}

impl BatchWorkflowInput {
    pub fn chunk_size(&self) -> u32 {
        if self.chunk_size == 0 {
            CHUNK_SIZE
        } else {
            self.chunk_size
        }
    }

    pub fn chunks_per_run(&self) -> u32 {
        if self.chunks_per_run == 0 {
            CHUNKS_PER_RUN
        } else {
            self.chunks_per_run
        }
    }
}

/// What a run hands to the next one when it continues as new.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchProgress {
    /// Members (in id order) before this offset have had their first pass.
    pub next_offset: u32,
    /// Recipients waiting for another attempt.
    pub retries: Vec<PendingRetry>,
    /// Runs before this one.
    pub runs: u32,
}

/// A recipient to try again at `due_unix_ms` (workflow time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRetry {
    pub due_unix_ms: u64,
    pub item: RetryItem,
}

/// A recipient whose last attempt failed in a way worth retrying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryItem {
    pub notification_id: Uuid,
    /// The account to try again (failover moves on only when it has had all its attempts).
    pub provider: ProviderRef,
    /// The number of the next attempt on that account (1 is the first).
    pub attempt: u32,
    /// The provider asked to wait this long (`Retry-After`), in milliseconds.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

/// Which recipients a chunk sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkWork {
    /// First pass: the batch's members `offset..offset + limit`, in id order.
    Range { offset: u32, limit: u32 },
    /// Recipients due for another attempt.
    Retry { items: Vec<RetryItem> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendChunkInput {
    pub batch_id: Uuid,
    pub work: ChunkWork,
    /// Longest one provider call may take.
    pub attempt_timeout_secs: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SendChunkOutput {
    /// Handed to a provider by this chunk.
    pub sent: u32,
    /// Failed for good by this chunk (permanent refusals, attempts exhausted on every account).
    pub failed: u32,
    /// Left alone: already sent, failed or cancelled (a retried chunk, an operator's cancel).
    pub skipped: u32,
    /// To be tried again after the retry interval.
    pub retry: Vec<RetryItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishBatchInput {
    pub batch_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishBatchOutput {
    /// Recipients per status when the batch completed.
    pub counts: std::collections::BTreeMap<String, i64>,
}

pub struct BatchActivities;

#[activity_definitions]
impl BatchActivities {
    /// Renders, routes and sends each recipient of the chunk (failing over between provider
    /// accounts), recording every attempt; returns the recipients to retry later.
    #[activity(name = "send_chunk")]
    pub fn send_chunk(input: SendChunkInput) -> Result<SendChunkOutput, ActivityError> {
        unimplemented!()
    }

    /// Marks the batch completed.
    #[activity(name = "finish_batch")]
    pub fn finish_batch(input: FinishBatchInput) -> Result<FinishBatchOutput, ActivityError> {
        unimplemented!()
    }
}

/// The generated marker types, so other crates can implement these definitions.
pub use batch_activities::{FinishBatch, SendChunk};
