//! What providers report after accepting a message, and how it reaches the workflow.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::NotificationStatus;

/// The delivery statuses a provider can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub fn as_notification_status(self) -> NotificationStatus {
        match self {
            DeliveryStatus::Sent => NotificationStatus::Sent,
            DeliveryStatus::Delivered => NotificationStatus::Delivered,
            DeliveryStatus::Read => NotificationStatus::Read,
            DeliveryStatus::Failed => NotificationStatus::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.as_notification_status().as_str()
    }
}

/// One status event of one message, parsed from a provider's callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderEvent {
    /// The provider's id of the message, as the send returned it.
    pub provider_message_id: String,
    pub status: DeliveryStatus,
    /// When it happened, by the provider's clock (callbacks arrive late and out of order).
    pub occurred_at: Option<DateTime<Utc>>,
    /// Why it failed, in the provider's words.
    pub reason: Option<String>,
    /// The provider's error code.
    pub code: Option<String>,
    /// The provider's own status word (`undelivered`, `bounce`, `ack 3`…).
    pub raw_status: String,
    /// Our own notification id, when the report carries it back (SendGrid's `custom_args`,
    /// Mailgun's user variables): matches a notification whose provider message id was not
    /// captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<uuid::Uuid>,
    /// The address must not be sent to again on this channel, and why (`hard_bounce`,
    /// `complaint`, `refused`, `unsubscribed`): the provider's report says so. Pombo puts it
    /// on the tenant's suppression list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<String>,
}

/// Name of the notification workflow's signal carrying [`DeliveryUpdate`]s.
pub const DELIVERY_SIGNAL: &str = "delivery_update";

/// A status change recorded for a notification, sent to its workflow as a signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryUpdate {
    /// The notification's status after the event (forward-only, so it may be unchanged).
    pub status: NotificationStatus,
    pub occurred_at: DateTime<Utc>,
    /// `provider:<name>`, `connector` (the generic status endpoint), `operator`.
    pub source: String,
}
