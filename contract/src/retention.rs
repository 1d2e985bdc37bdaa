//! The retention contract: the workflow that purges personal data past the retention period
//! (`[retention]`), run by a Temporal Schedule, and the activities it calls.
//!
//! The workflow fixes one cutoff per run and calls each purge in batches until one comes back
//! short, so a backlog is worked off in bounded database transactions and a run never holds
//! more than one batch in flight.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use temporalio_common::ActivityError;
use temporalio_macros::activity_definitions;

/// Name under which the retention workflow is registered.
pub const RETENTION_WORKFLOW: &str = "RetentionWorkflow";

/// What the schedule starts the workflow with (from `[retention]` when the worker last
/// created or updated the schedule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionInput {
    /// Purge what has not changed for this many days; 0 purges nothing.
    pub days: u32,
    /// Rows per activity call.
    pub batch_size: u64,
}

/// The cutoff of a run at `now` (the workflow's clock): `days` before it.
pub fn cutoff(now: std::time::SystemTime, days: u32) -> DateTime<Utc> {
    DateTime::<Utc>::from(now) - chrono::Duration::days(i64::from(days))
}

/// One batch of a purge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeInput {
    /// Only what is older than this.
    pub older_than: DateTime<Utc>,
    /// At most this many rows.
    pub limit: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeOutput {
    /// Rows purged by this call; fewer than the limit means nothing is left.
    pub purged: u64,
}

/// What a retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionOutcome {
    /// Notifications whose personal data was purged.
    pub notifications: u64,
    /// Uploaded files deleted from object storage.
    pub files: u64,
    /// False when the run stopped at its batch cap with work left (the next run goes on).
    pub complete: bool,
}

pub struct RetentionActivities;

#[activity_definitions]
impl RetentionActivities {
    /// Purges the personal data of one batch of finished notifications older than the cutoff.
    #[activity(name = "retention_purge_notifications")]
    pub fn purge_notifications(input: PurgeInput) -> Result<PurgeOutput, ActivityError> {
        unimplemented!()
    }

    /// Deletes one batch of uploaded files older than the cutoff from object storage.
    #[activity(name = "retention_purge_files")]
    pub fn purge_files(input: PurgeInput) -> Result<PurgeOutput, ActivityError> {
        unimplemented!()
    }
}

/// The generated marker types, so other crates can implement these definitions.
pub use retention_activities::{PurgeFiles, PurgeNotifications};

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_cutoff_is_whole_days_before_now() {
        let now = UNIX_EPOCH + Duration::from_secs(40 * 86_400 + 5);
        assert_eq!(
            super::cutoff(now, 30).timestamp(),
            10 * 86_400 + 5,
            "30 days before day 40"
        );
    }
}
