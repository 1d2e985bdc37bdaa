//! The webhook delivery contract: one workflow per event × endpoint (a *delivery*), which
//! POSTs the event to the tenant's endpoint on a schedule until it answers 2xx or the
//! schedule is spent.
//!
//! Why a workflow per delivery: its retry schedule (up to a day and more) is durable timers
//! no worker holds, a crash mid-attempt is an activity retried by Temporal, and an operator
//! sees a failing delivery in the Temporal UI like a failing notification. The body is
//! fixed when the event is fanned out (ids and statuses only, no personal data), so every
//! attempt signs the same bytes under the same `webhook-id`.
//!
//! Which attempt waits how long is decided here, in pure functions the workflow calls
//! ([`wait_before`]): a schedule like Svix's with ±20% jitter derived from the delivery's
//! id (deterministic, so replays agree), a receiver's `Retry-After` honoured within
//! [scheduled, 2 × scheduled].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_common::ActivityError;
use temporalio_macros::activity_definitions;
use uuid::Uuid;

/// Name under which the workflow is registered.
pub const WEBHOOK_DELIVERY_WORKFLOW: &str = "WebhookDeliveryWorkflow";

/// The workflow of one delivery: a second start (two workers, a start after a crash) is
/// refused by Temporal.
pub fn workflow_id(delivery_id: Uuid) -> String {
    format!("webhook-delivery-{delivery_id}")
}

/// Svix's schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
/// Most webhook POSTs a worker has open at once (first attempts and the activity's alike):
/// what a worker asks of receivers, and of its own sockets.
pub const MOST_POSTS_AT_ONCE: usize = 512;

pub const DEFAULT_SCHEDULE_SECS: [u64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDeliveryInput {
    pub delivery_id: Uuid,
    pub tenant_id: Uuid,
    /// Seconds to wait before each retry, in order; its length is the number of retries.
    pub schedule_secs: Vec<u64>,
    /// Bound of one attempt (the POST and its records), in seconds.
    pub attempt_timeout_secs: u64,
    /// The worker that started this workflow made the first attempt itself, and it failed:
    /// the workflow begins with the first retry's wait. (`None`, and in runs started before
    /// this existed: the workflow makes the first attempt.)
    #[serde(default)]
    pub first_attempt_failed: Option<FirstAttemptFailed>,
}

/// What a worker's own first attempt came to, when it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstAttemptFailed {
    /// The receiver's `Retry-After`, in seconds.
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptInput {
    pub delivery_id: Uuid,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// No retry follows this one: a failure fails the delivery.
    pub last: bool,
    /// The attempt holds a slot of the endpoint's rate limit already (it was told to wait
    /// for it): it goes without taking another.
    #[serde(default)]
    pub slot_reserved: bool,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The endpoint answered 2xx: the delivery succeeded.
    Delivered,
    /// It did not (an answer other than 2xx, a timeout, a refused target). The receiver's
    /// `Retry-After`, in seconds, when it sent one with a 429 or 503.
    Failed { retry_after_secs: Option<u64> },
    /// Nothing was sent: the endpoint is cooling down after failing many times in a row, or
    /// this attempt's slot of its rate limit is ahead (`slot_reserved`: the next try holds
    /// it). Wait this long and try again; it is not an attempt.
    Paused {
        wait_millis: u64,
        #[serde(default)]
        slot_reserved: bool,
    },
    /// Nothing was sent and nothing will be: the endpoint was deleted or disabled. The
    /// delivery is failed (a recover resends it once the endpoint is enabled again).
    Abandoned { reason: String },
}

/// How a delivery ended, when it did not fail (a failed one fails its workflow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Delivered { attempts: u32 },
    Abandoned { attempts: u32, reason: String },
}

/// The jitter of retry `retry` (0 for the first retry) of a delivery: a factor in
/// [0.8, 1.2], the same every time it is asked (the workflow replays it).
pub fn jitter(delivery_id: Uuid, retry: u32) -> f64 {
    // FNV-1a over the id and the retry's number: spreads retries of deliveries that failed
    // together without any randomness in the workflow.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in delivery_id.as_bytes().iter().chain(&retry.to_le_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Clamped: 0.8 + 0.4 × 1.0 is 1.2000000000000002 in floating point.
    (0.8 + 0.4 * ((hash % 10_001) as f64 / 10_000.0)).min(1.2)
}

/// How long to wait before retry `retry` (0 for the first retry): the schedule's step with
/// its jitter, or the receiver's `Retry-After` if it asked for longer, at most twice the
/// step (a receiver cannot park a delivery for days).
pub fn wait_before(
    schedule_secs: &[u64],
    delivery_id: Uuid,
    retry: u32,
    retry_after_secs: Option<u64>,
) -> Duration {
    let step = schedule_secs
        .get(retry as usize)
        .or(schedule_secs.last())
        .copied()
        .unwrap_or(0);
    let scheduled = Duration::from_secs(step).mul_f64(jitter(delivery_id, retry));
    match retry_after_secs {
        Some(asked) => Duration::from_secs(asked).clamp(scheduled, scheduled * 2),
        None => scheduled,
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not settled: waiting for its start, for an attempt or for its next retry.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// The schedule was spent (or the endpoint was disabled or deleted) without a 2xx.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Succeeded,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown delivery status `{s}`"))
    }
}

/// One condition of an endpoint's payload filter: the value at `path` (dot-separated keys
/// into the delivered body, e.g. `data.status`) equals `equals`, or is one of `in`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterCondition {
    /// `type`, `data.status`, `data.notification_id`, … (at most 8 keys).
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub equals: Option<serde_json::Value>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub one_of: Option<Vec<serde_json::Value>>,
}

impl FilterCondition {
    /// Whether `body` satisfies it (a missing path satisfies nothing).
    pub fn holds(&self, body: &serde_json::Value) -> bool {
        let found = self
            .path
            .split('.')
            .try_fold(body, |value, key| value.get(key));
        match (found, &self.equals, &self.one_of) {
            (Some(value), Some(equals), _) => value == equals,
            (Some(value), None, Some(options)) => options.contains(value),
            _ => false,
        }
    }

    /// What is wrong with it, if anything.
    pub fn problem(&self) -> Option<String> {
        let keys: Vec<&str> = self.path.split('.').collect();
        if self.path.len() > 200 || keys.len() > 8 || keys.iter().any(|k| k.is_empty()) {
            return Some("`path`: 1 to 8 dot-separated keys, at most 200 characters".into());
        }
        let scalar = |v: &serde_json::Value| !(v.is_object() || v.is_array());
        match (&self.equals, &self.one_of) {
            (Some(v), None) if scalar(v) => None,
            (None, Some(options))
                if (1..=50).contains(&options.len()) && options.iter().all(scalar) =>
            {
                None
            }
            _ => Some(
                "exactly one of `equals` (a string, number, boolean or null) and `in` (1 to 50 of them)"
                    .into(),
            ),
        }
    }
}

/// Whether `body` passes every condition of `filter` (none: everything passes).
pub fn passes(filter: &[FilterCondition], body: &serde_json::Value) -> bool {
    filter.iter().all(|c| c.holds(body))
}

pub struct WebhookActivities;

#[activity_definitions]
impl WebhookActivities {
    /// One attempt: reads the delivery and its endpoint, POSTs the signed body (unless the
    /// endpoint is cooling down, at its rate limit, disabled or gone) and records the
    /// attempt, the delivery's state and the endpoint's health in one transaction.
    #[activity(name = "webhook_attempt")]
    pub fn attempt(input: AttemptInput) -> Result<AttemptOutcome, ActivityError> {
        unimplemented!()
    }
}

/// The generated marker types, so other crates can implement these definitions.
pub use webhook_activities::Attempt;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_twenty_percent_and_is_repeatable() {
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..200 {
            let id = Uuid::new_v4();
            for retry in 0..8 {
                let j = jitter(id, retry);
                assert!((0.8..=1.2).contains(&j), "{j}");
                assert_eq!(j, jitter(id, retry));
                seen_low |= j < 0.9;
                seen_high |= j > 1.1;
            }
        }
        assert!(seen_low && seen_high, "jitter spreads both ways");
    }

    #[test]
    fn retry_after_is_honoured_between_the_step_and_twice_the_step() {
        let id = Uuid::new_v4();
        let schedule = [100];
        let scheduled = wait_before(&schedule, id, 0, None);
        assert_eq!(wait_before(&schedule, id, 0, Some(1)), scheduled);
        assert_eq!(
            wait_before(&schedule, id, 0, Some(150)),
            Duration::from_secs(150).clamp(scheduled, scheduled * 2)
        );
        assert_eq!(wait_before(&schedule, id, 0, Some(100_000)), scheduled * 2);
    }

    #[test]
    fn payload_filters_match_paths_by_equality_or_membership() {
        let body = serde_json::json!({"type": "notification.failed", "data": {"status": "failed", "n": 3}});
        let cond = |path: &str,
                    equals: Option<serde_json::Value>,
                    one_of: Option<Vec<serde_json::Value>>| {
            FilterCondition {
                path: path.into(),
                equals,
                one_of,
            }
        };
        assert!(cond("data.status", Some("failed".into()), None).holds(&body));
        assert!(!cond("data.status", Some("sent".into()), None).holds(&body));
        assert!(cond("data.n", None, Some(vec![1.into(), 3.into()])).holds(&body));
        assert!(!cond("data.missing", Some(serde_json::Value::Null), None).holds(&body));
        assert!(passes(&[], &body));
        assert!(cond("a..b", Some(1.into()), None).problem().is_some());
        assert!(cond("data.status", None, None).problem().is_some());
        assert!(
            cond("data.status", Some(serde_json::json!({})), None)
                .problem()
                .is_some()
        );
        assert!(
            cond("data.status", Some(1.into()), Some(vec![]))
                .problem()
                .is_some()
        );
        assert!(
            cond("data.status", Some("x".into()), None)
                .problem()
                .is_none()
        );
    }

    #[test]
    fn retries_past_the_schedule_wait_its_last_step() {
        let id = Uuid::new_v4();
        let w = wait_before(&[1, 10], id, 5, None);
        assert!(w >= Duration::from_secs(8) && w <= Duration::from_secs(12));
    }
}
