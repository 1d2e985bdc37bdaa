//! The contract between whoever starts a notification workflow (the API) and the workflow.
//!
//! The input carries ids and non-sensitive settings only: recipient and content stay in our
//! database (claim check), because Temporal stores workflow history in clear.

use serde::{Deserialize, Serialize};
use temporalio_common::search_attributes::SearchAttributeKey;
use uuid::Uuid;

use crate::{Channel, Priority};

/// Name under which the notification workflow is registered.
pub const NOTIFICATION_WORKFLOW: &str = "NotificationWorkflow";

/// Workflow id of a notification: derived from its id so that Temporal itself rejects a
/// second start of the same notification.
pub fn workflow_id(notification_id: Uuid) -> String {
    format!("notification-{notification_id}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationWorkflowInput {
    pub notification_id: Uuid,
    pub tenant_id: Uuid,
    pub channel: Channel,
    pub priority: Priority,
    pub retry: RetrySettings,
    /// Longest a single send attempt may take in all.
    pub attempt_timeout_secs: u64,
    /// A send attempt that has not heartbeated for this long (its worker died) is retried.
    pub heartbeat_timeout_secs: u64,
    /// How long to wait for the provider's delivery reports after it accepted (0: don't).
    #[serde(default)]
    pub confirmation_timeout_secs: u64,
    /// Whether a fallback on another channel is configured (sent once if this one is not
    /// delivered within the confirmation timeout, or fails).
    #[serde(default)]
    pub has_fallback: bool,
    /// The fallback is spared only by `read`, not by `delivered` (in-app first, email if
    /// not read). Runs started before this existed have `false`: their path is unchanged.
    #[serde(default)]
    pub fallback_unless_read: bool,
    /// Not sent before this time: the workflow waits on a durable timer first.
    #[serde(default)]
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The tenant's weight when it is not 1: the fairness weight of its activities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairness_weight: Option<u32>,
}

impl NotificationWorkflowInput {
    /// How long to wait, at workflow time `now`, before sending: until `send_at`, or not
    /// at all when it has passed.
    pub fn wait_for_send_at(&self, now: std::time::SystemTime) -> std::time::Duration {
        wait_until(self.send_at, now)
    }
}

/// How long to wait, at workflow time `now`, for `send_at`: zero when there is none or it
/// has passed. Shared by notification and batch workflows.
pub fn wait_until(
    send_at: Option<chrono::DateTime<chrono::Utc>>,
    now: std::time::SystemTime,
) -> std::time::Duration {
    send_at
        .and_then(|at| std::time::SystemTime::from(at).duration_since(now).ok())
        .unwrap_or_default()
}

/// The Temporal priority of a notification's workflow and activities: its priority key
/// (high runs first), and its tenant as the fairness key, so that one tenant's backlog
/// (a promotion blast) shares the queue fairly with another tenant's sends of the same
/// priority instead of running ahead of them in arrival order.
pub fn temporal_priority(priority: Priority, tenant_id: Uuid) -> temporalio_common::Priority {
    weighted_priority(priority, tenant_id, None)
}

/// [`temporal_priority`] with the tenant's weight as its fairness weight, so that Temporal's
/// matcher gives a heavier tenant's tasks the same share the starters' claims give it. A
/// weight of 1 (or none: runs started before weights) sets none, as before.
pub fn weighted_priority(
    priority: Priority,
    tenant_id: Uuid,
    weight: Option<u32>,
) -> temporalio_common::Priority {
    let key = tenant_id.simple().to_string();
    match weight.filter(|w| *w > 1) {
        Some(w) => temporalio_common::Priority::builder()
            .priority_key(priority.temporal_key())
            .fairness_key(key)
            .fairness_weight(w as f32)
            .build(),
        None => temporalio_common::Priority::builder()
            .priority_key(priority.temporal_key())
            .fairness_key(key)
            .build(),
    }
}

/// The task queue of one priority, named after the configured base queue.
///
/// Each priority has a queue of its own, polled by its own slots in every worker. Priority
/// keys alone order a backlog inside Temporal's matcher, but a worker that has filled its
/// slots with low-priority tasks makes a high-priority task wait for one of them to end;
/// with a queue per priority, high-priority work always finds free slots of its own.
pub fn task_queue(base: &str, priority: Priority) -> String {
    format!("{base}-{}", priority.as_str())
}

/// The delivery policy lives in [`crate::retry`]; its rule and failure types are used here.
pub use crate::retry::{RetrySettings, failure_types};

/// Custom search attributes, so operators can filter notifications in the Temporal UI.
/// They must be registered on the server (`start-dev --search-attribute NAME=Keyword`).
pub mod search {
    use super::SearchAttributeKey;

    pub const TENANT: SearchAttributeKey<String> = SearchAttributeKey::keyword("PomboTenant");
    pub const CHANNEL: SearchAttributeKey<String> = SearchAttributeKey::keyword("PomboChannel");
    pub const PRIORITY: SearchAttributeKey<String> = SearchAttributeKey::keyword("PomboPriority");
    pub const STATUS: SearchAttributeKey<String> = SearchAttributeKey::keyword("PomboStatus");

    /// Names and types for registering them on a server.
    pub const ALL_KEYWORDS: [&str; 4] = [
        "PomboTenant",
        "PomboChannel",
        "PomboPriority",
        "PomboStatus",
    ];
}
