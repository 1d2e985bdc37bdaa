//! Activity definitions: names and input/output types, without implementations.
//!
//! Workflows call these; the `pombo-activities` crate implements them with
//! `#[activity(definition = …)]`, which checks at compile time that the types match.

use serde::{Deserialize, Serialize};
use temporalio_common::ActivityError;
use temporalio_macros::activity_definitions;
use uuid::Uuid;

use crate::NotificationStatus;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepareInput {
    pub notification_id: Uuid,
}

/// A provider account, named without its settings (workflow history is stored in clear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRef {
    /// The tenant's account, or `None` for a server-wide account from the configuration.
    pub account_id: Option<Uuid>,
    pub name: String,
    /// The provider type (`twilio`, `smtp`, …).
    pub kind: String,
    /// The account has a send rate limit: each send first reserves a slot
    /// ([`NotificationActivities::reserve_send_slot`]).
    #[serde(default)]
    pub rate_limited: bool,
}

/// A notification ready to send: its status after rendering (`sending`, or where a
/// retried or redriven workflow finds it) and the provider accounts to try, in order: the
/// next one takes over when one fails for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepareOutput {
    pub status: NotificationStatus,
    pub providers: Vec<ProviderRef>,
    /// The recipient's preferences hold it until then (quiet hours, a delivery window, a
    /// frequency cap): the workflow waits on a durable timer and prepares again. Absent in
    /// histories from before preferences, which so replay unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defer_until: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendInput {
    pub notification_id: Uuid,
    pub provider: ProviderRef,
    /// The attempt's number when the workflow counts the attempts itself (the first one,
    /// and every attempt to a rate-limited account); `None`: Temporal's own attempt number,
    /// after `attempts_before`.
    #[serde(default)]
    pub attempt: Option<u32>,
    /// Attempts to this account before Temporal's retry policy took over (the first one,
    /// run as a local activity).
    #[serde(default)]
    pub attempts_before: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReserveSendSlotInput {
    pub provider: ProviderRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReserveSendSlotOutput {
    /// How long to wait before sending, in milliseconds (0: send now).
    pub wait_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendOutput {
    pub provider: String,
    pub provider_message_id: Option<String>,
    /// True when an earlier attempt had already sent it (a retry after a crash): the
    /// activity then returns the recorded result instead of sending twice.
    pub already_sent: bool,
    /// The status right after sending: already `delivered` or `read` when provider
    /// callbacks outran the send's own record.
    pub status: NotificationStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkFailedInput {
    pub notification_id: Uuid,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckStatusInput {
    pub notification_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FallBackInput {
    pub notification_id: Uuid,
    /// Why: not delivered in time, or failed.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FallBackOutput {
    /// The fallback notification (created once; the same id on a retry).
    pub fallback_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusOutput {
    pub status: NotificationStatus,
}

pub struct NotificationActivities;

#[activity_definitions]
impl NotificationActivities {
    /// Loads the notification, renders its content, stores the result, marks it `sending`,
    /// and chooses the provider accounts for it, in failover order.
    #[activity(name = "prepare")]
    pub fn prepare(input: PrepareInput) -> Result<PrepareOutput, ActivityError> {
        unimplemented!()
    }

    /// Hands the rendered message to one provider and records the attempt.
    #[activity(name = "send")]
    pub fn send(input: SendInput) -> Result<SendOutput, ActivityError> {
        unimplemented!()
    }

    /// Reserves the provider account's next send slot (shared by every worker) and says how
    /// long to wait for it. Accounts without a rate limit (any more) need no wait.
    #[activity(name = "reserve_send_slot")]
    pub fn reserve_send_slot(
        input: ReserveSendSlotInput,
    ) -> Result<ReserveSendSlotOutput, ActivityError> {
        unimplemented!()
    }

    /// Reads the recorded status (reports may have reached the database while a signal to
    /// the workflow was lost).
    #[activity(name = "check_status")]
    pub fn check_status(input: CheckStatusInput) -> Result<StatusOutput, ActivityError> {
        unimplemented!()
    }

    /// Creates the notification's fallback on another channel, once. (Registered as
    /// `escalate`, its first name: recorded histories name it so.)
    #[activity(name = "escalate")]
    pub fn fall_back(input: FallBackInput) -> Result<FallBackOutput, ActivityError> {
        unimplemented!()
    }

    /// Records the final failure once the workflow gives up.
    #[activity(name = "mark_failed")]
    pub fn mark_failed(input: MarkFailedInput) -> Result<StatusOutput, ActivityError> {
        unimplemented!()
    }
}

/// The generated marker types, so other crates can implement these definitions.
pub use notification_activities::{
    CheckStatus, FallBack, MarkFailed, Prepare, ReserveSendSlot, Send,
};
