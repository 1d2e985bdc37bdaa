//! What the API shows of a batch.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pombo_contract::{Channel, NotificationStatus, Priority, batch::workflow_id};
use pombo_store::batches::Batch;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::notifications::view::{NotificationView, WorkflowLink};

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    pub id: Uuid,
    /// `accepted` (stored, its workflow not started yet), `running` or `completed` (every
    /// recipient has its outcome; delivery reports may still move `sent` ones on).
    pub status: String,
    pub channel: Channel,
    pub priority: Priority,
    /// Recipients in the batch: each is a notification (`/v1/notifications/{id}`).
    pub total: i32,
    /// Recipients left out because their own idempotency key was already used.
    pub skipped: i32,
    /// Recipients per notification status; every status is listed, 0 when none.
    #[schema(value_type = Object)]
    pub counts: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub max_attempts: i32,
    pub retry_interval_secs: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    pub workflow: WorkflowLink,
    pub links: BatchLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchLinks {
    #[serde(rename = "self")]
    pub this: String,
    /// The batch's notifications, a page at a time.
    pub notifications: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchMembersPage {
    pub data: Vec<NotificationView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl BatchView {
    pub fn new(batch: Batch, found: BTreeMap<String, i64>, ui_base: &str, namespace: &str) -> Self {
        let mut counts: BTreeMap<String, i64> = NotificationStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), 0))
            .collect();
        counts.extend(found);
        let wf = workflow_id(batch.id);
        BatchView {
            id: batch.id,
            status: batch.status,
            channel: *batch.channel,
            priority: *batch.priority,
            total: batch.total,
            skipped: batch.skipped,
            counts,
            idempotency_key: batch.idempotency_key,
            max_attempts: batch.max_attempts,
            retry_interval_secs: batch.retry_interval_secs,
            send_at: batch.send_at,
            created_at: batch.created_at,
            finished_at: batch.finished_at,
            workflow: WorkflowLink {
                ui_url: format!(
                    "{}/namespaces/{namespace}/workflows/{wf}",
                    ui_base.trim_end_matches('/')
                ),
                workflow_id: wf,
                started: batch.dispatched_at.is_some(),
            },
            links: BatchLinks {
                this: format!("/v1/batches/{}", batch.id),
                notifications: format!("/v1/batches/{}/notifications", batch.id),
            },
        }
    }
}
