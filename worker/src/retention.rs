//! The retention schedule: `retention.schedule_id` starts a `RetentionWorkflow` on this
//! worker's task queue every `every_secs` (see [`crate::schedules`]), or is deleted when
//! `days` is 0.

use std::time::Duration;

use pombo_contract::{
    Priority,
    config::{RetentionConfig, TemporalConfig},
    retention::RetentionInput,
    workflow::task_queue,
};
use pombo_workflows::RetentionWorkflow;
use temporalio_client::{Client, schedules::ScheduleAction};

pub use crate::schedules::ScheduleChange;

/// Creates or updates the retention schedule from `retention`, or deletes it when
/// `retention.days` is 0.
pub async fn ensure_schedule(
    client: &Client,
    temporal: &TemporalConfig,
    retention: &RetentionConfig,
) -> anyhow::Result<ScheduleChange> {
    let id = retention.schedule_id.as_str();
    let action = || {
        ScheduleAction::start_workflow(
            RetentionWorkflow::run,
            RetentionInput {
                days: retention.days,
                batch_size: retention.batch_size,
            },
            // Purging waits for sending: it runs with the promotions.
            task_queue(&temporal.task_queue, Priority::Low),
            // Temporal appends each run's scheduled time to this id.
            id,
        )
    };
    let every = (retention.days > 0).then(|| Duration::from_secs(retention.every_secs));
    crate::schedules::ensure(client, id, every, action, "retention purge (pombo-worker)").await
}
