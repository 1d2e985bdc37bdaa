//! What the API shows of a notification.

use chrono::{DateTime, Utc};
use pombo_contract::{Channel, NotificationStatus, Priority, workflow::workflow_id};
use pombo_store::notifications::{Attempt, Notification};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    pub status: NotificationStatus,
    pub channel: Channel,
    /// The recipient; `null` once retention purged the notification's personal data.
    pub to: Option<String>,
    pub priority: Priority,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Send attempts made so far, and allowed in all.
    pub attempts: i32,
    pub max_attempts: i32,
    pub retry_interval_secs: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Not sent before this time (a scheduled send); it stays `pending` until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<DateTime<Utc>>,
    /// When the notification reached each status it has reached.
    pub timestamps: Timestamps,
    /// Every send attempt with its outcome (on single reads; omitted in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptView>>,
    /// The delivery timeline, oldest first: every status reported, by whom, with the
    /// reporter's timestamp (single reads; first 100, the rest at `/events`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<super::timeline::EventView>>,
    pub workflow: WorkflowLink,
    /// The bulk send (`/v1/batches/{id}`) this notification is a recipient of; its
    /// `workflow` is then the batch's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<Uuid>,
    /// The fallback notification sent on another channel, if this one escalated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_id: Option<Uuid>,
    /// For a fallback: the notification it stands in for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_of: Option<Uuid>,
    /// The digest it went out in (its status is then `skipped`, reason `digested`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digested_into: Option<Uuid>,
    /// Its category, for the recipient's preferences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// What its email tracks (absent: nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking: Option<pombo_contract::tracking::Tracking>,
    /// The stored template the content came from: `{id, version, locale}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub template: Option<serde_json::Value>,
    /// The recipient profile the address was taken from (`to` is a copy of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<Uuid>,
    /// The routing rule that chose the channel or the provider account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_rule_id: Option<Uuid>,
    /// The tenant provider account that rule put first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_provider_id: Option<Uuid>,
    /// When retention purged its personal data (recipient, content, data, rendered message,
    /// error texts); its statuses, timestamps and attempts stay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purged_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Timestamps {
    pub pending: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sending: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<DateTime<Utc>>,
    /// A tracked email first opened / a tracked link first followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clicked: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// The provider's attempt number (each provider account counts its own).
    pub attempt: i32,
    /// The provider account's name.
    pub provider: String,
    /// Its type (`smtp`, `twilio`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<String>,
    /// `in_progress`, `sent`, `retryable_error`, `permanent_error` or `lost`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The provider's own error code (Twilio `21211`, SMTP `550`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub started_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where operators find this notification's workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowLink {
    pub workflow_id: String,
    /// False until its workflow has been started.
    pub started: bool,
    pub ui_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPage {
    pub data: Vec<NotificationView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl NotificationView {
    pub fn new(
        n: Notification,
        attempts: Option<Vec<Attempt>>,
        ui_base: &str,
        namespace: &str,
    ) -> Self {
        // A batch's recipients are sent by their batch's workflow. (One an operator redrives
        // runs as its own `notification-<id>` workflow, found by that id.)
        let wf = match n.batch_id {
            Some(batch) => pombo_contract::batch::workflow_id(batch),
            None => workflow_id(n.id),
        };
        NotificationView {
            id: n.id,
            status: *n.status,
            channel: *n.channel,
            to: n.purged_at.is_none().then_some(n.recipient),
            priority: *n.priority,
            notification_type: n.notification_type,
            idempotency_key: n.idempotency_key,
            attempts: n.attempts,
            max_attempts: n.max_attempts,
            retry_interval_secs: n.retry_interval_secs,
            last_error: n.last_error,
            provider: n.provider,
            provider_message_id: n.provider_message_id,
            created_at: n.created_at,
            updated_at: n.updated_at,
            send_at: n.send_at,
            timestamps: Timestamps {
                pending: n.created_at,
                sending: n.sending_at,
                sent: n.sent_at,
                delivered: n.delivered_at,
                read: n.read_at,
                failed: n.failed_at,
                cancelled: n.cancelled_at,
                skipped: n.skipped_at,
                opened: n.opened_at,
                clicked: n.clicked_at,
            },
            attempt_log: attempts.map(|list| {
                list.into_iter()
                    .map(|a| AttemptView {
                        attempt: a.attempt,
                        provider: a.provider,
                        provider_type: a.provider_kind,
                        outcome: a.outcome,
                        error: a.error,
                        error_code: a.error_code,
                        started_at: a.started_at,
                        finished_at: a.finished_at,
                    })
                    .collect()
            }),
            events: None,
            batch_id: n.batch_id,
            fallback_id: n.fallback_id,
            fallback_of: n.parent_id,
            digested_into: n.digested_into,
            category: n.category.clone(),
            tracking: Some(pombo_contract::tracking::Tracking {
                opens: n.track_opens.unwrap_or(false),
                clicks: n.track_clicks.unwrap_or(false),
            })
            .filter(|t| t.opens || t.clicks),
            recipient_id: n.recipient_id,
            routing_rule_id: n.routing_rule_id,
            preferred_provider_id: n.preferred_provider_id,
            purged_at: n.purged_at,
            template: n.template_id.map(|id| {
                serde_json::json!({
                    "id": id,
                    "version": n.template_version,
                    "locale": n.template_locale,
                })
            }),
            workflow: WorkflowLink {
                ui_url: format!(
                    "{}/namespaces/{namespace}/workflows/{wf}",
                    ui_base.trim_end_matches('/')
                ),
                workflow_id: wf,
                started: n.dispatched_at.is_some(),
            },
        }
    }
}
