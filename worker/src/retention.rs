//! The retention schedule: the worker makes Temporal's Schedule `retention.schedule_id` match
//! `[retention]` at start-up (created, or updated in place), or deletes it when `days` is 0.
//! Temporal then starts a `RetentionWorkflow` on this worker's task queue every
//! `every_secs`, skipping a start while the previous run is still going. Every worker does
//! this at start-up; the last one to start wins, and all of them run the same code.

use std::time::Duration;

use anyhow::Context;
use pombo_contract::{
    Priority,
    config::{RetentionConfig, TemporalConfig},
    retention::RetentionInput,
    workflow::task_queue,
};
use pombo_workflows::RetentionWorkflow;
use temporalio_client::{
    Client,
    schedules::{
        CreateScheduleOptions, DeleteScheduleOptions, ScheduleAction, ScheduleError,
        ScheduleOverlapPolicy, ScheduleSpec,
    },
    tonic::Code,
};

/// What the worker did to the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleChange {
    Created,
    Updated,
    Deleted,
    /// `days = 0` and there was no schedule.
    Absent,
}

/// Creates or updates the retention schedule from `retention`, or deletes it when
/// `retention.days` is 0.
pub async fn ensure_schedule(
    client: &Client,
    temporal: &TemporalConfig,
    retention: &RetentionConfig,
) -> anyhow::Result<ScheduleChange> {
    let id = retention.schedule_id.as_str();
    let handle = client.get_schedule_handle(id);
    if retention.days == 0 {
        return match handle.delete(DeleteScheduleOptions::default()).await {
            Ok(()) => Ok(ScheduleChange::Deleted),
            Err(e) if code(&e) == Some(Code::NotFound) => Ok(ScheduleChange::Absent),
            Err(e) => Err(e).with_context(|| format!("deleting the schedule `{id}`")),
        };
    }
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
    let spec = ScheduleSpec::from_interval(Duration::from_secs(retention.every_secs));
    let created = client
        .create_schedule(
            id,
            CreateScheduleOptions::builder()
                .action(action())
                .spec(spec.clone())
                .overlap_policy(ScheduleOverlapPolicy::Skip)
                .note("retention purge (pombo-worker)")
                .build(),
        )
        .await;
    match created {
        Ok(_) => Ok(ScheduleChange::Created),
        Err(e) if code(&e) == Some(Code::AlreadyExists) => {
            let action = action();
            handle
                .update(
                    move |update| {
                        update
                            .set_spec(spec)
                            .set_action(action)
                            .set_overlap_policy(ScheduleOverlapPolicy::Skip);
                    },
                    Default::default(),
                )
                .await
                .with_context(|| format!("updating the schedule `{id}`"))?;
            Ok(ScheduleChange::Updated)
        }
        Err(e) => Err(e).with_context(|| format!("creating the schedule `{id}`")),
    }
}

fn code(e: &ScheduleError) -> Option<Code> {
    match e {
        ScheduleError::Rpc(status) => Some(status.code()),
        _ => None,
    }
}
