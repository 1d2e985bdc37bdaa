//! The delivery policy, in one place: how many attempts a send gets, how far apart, and
//! which failures no attempt can fix. A notification carries its rule ([`RetrySettings`]:
//! the request's `retry`, else `delivery.max_attempts` / `delivery.retry_interval_secs`,
//! the seed's 3 tries 5 minutes apart), within [`MAX_ATTEMPTS`] and [`INTERVAL_SECS`].
//! `workflows/src/policy.rs` turns it into Temporal's retry policies (one per kind of
//! activity); each provider module classifies its answers as retryable (with the provider's
//! `Retry-After`) or permanent; the [`failure_types`] below are what the workflows never retry.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::config::DeliveryConfig;

/// Send attempts in all (the first included) a request may ask for.
pub const MAX_ATTEMPTS: RangeInclusive<u32> = 1..=10;
/// Seconds between attempts a request may ask for.
pub const INTERVAL_SECS: RangeInclusive<u64> = 1..=86_400;

/// How the send step is retried. The source document's rule is 3 tries, 5 minutes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub interval_secs: u64,
}

impl RetrySettings {
    /// Attempts per provider account: at least the one.
    pub fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }

    /// The pause between attempts: at least a second.
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.interval_secs.max(1))
    }
}

impl RetrySettings {
    /// The rule a request asks for, each part it leaves out taken from `defaults`; every
    /// part out of its range is an error naming its field under `retry`.
    pub fn resolve(
        max_attempts: Option<u32>,
        interval_secs: Option<u64>,
        defaults: &DeliveryConfig,
    ) -> (RetrySettings, Vec<(&'static str, &'static str)>) {
        let rule = RetrySettings {
            max_attempts: max_attempts.unwrap_or(defaults.max_attempts),
            interval_secs: interval_secs.unwrap_or(defaults.retry_interval_secs),
        };
        let mut errors = Vec::new();
        if !MAX_ATTEMPTS.contains(&rule.max_attempts) {
            errors.push(("retry.max_attempts", "must be between 1 and 10"));
        }
        if !INTERVAL_SECS.contains(&rule.interval_secs) {
            errors.push(("retry.interval_secs", "must be between 1 and 86400 seconds"));
        }
        (rule, errors)
    }
}

/// Type names of activity failures the workflow must not retry.
pub mod failure_types {
    /// The provider refused for good (bad address, refused credentials, 4xx but 429).
    pub const PERMANENT_DELIVERY: &str = "PermanentDeliveryError";
    /// A template placeholder had no value, or the template does not parse.
    pub const RENDER: &str = "RenderError";
    /// The notification row is gone or malformed: retrying cannot help.
    pub const BAD_NOTIFICATION: &str = "BadNotification";
    /// The provider account is gone or its settings cannot work: the next one is tried.
    pub const BAD_PROVIDER: &str = "BadProvider";
    /// No provider account can deliver the notification's channel.
    pub const NO_PROVIDER: &str = "NoProvider";
    /// The provider accepted the message, then a delivery report said it failed (the
    /// notification workflow's own failure, not an activity's).
    pub const REPORTED_FAILED: &str = "ReportedFailed";
}
