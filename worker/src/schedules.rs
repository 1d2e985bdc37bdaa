//! Temporal Schedules the worker keeps: at start-up each is made to match the
//! configuration (created, or updated in place), or deleted when its interval is 0.
//! Temporal then starts its workflow on the schedule, skipping a start while the previous
//! run is still going. Every worker does this at start-up; the last one to start wins, and
//! all of them run the same code.

use std::time::Duration;

use anyhow::Context;
use temporalio_client::{
    Client,
    schedules::{
        CreateScheduleOptions, DeleteScheduleOptions, ScheduleAction, ScheduleError,
        ScheduleOverlapPolicy, ScheduleSpec,
    },
    tonic::Code,
};

/// What the worker did to a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleChange {
    Created,
    Updated,
    Deleted,
    /// Turned off, and there was no schedule.
    Absent,
}

/// Makes the schedule `id` start `action()` every `every`, or deletes it when `every` is
/// `None`.
pub async fn ensure(
    client: &Client,
    id: &str,
    every: Option<Duration>,
    action: impl Fn() -> ScheduleAction,
    note: &str,
) -> anyhow::Result<ScheduleChange> {
    let handle = client.get_schedule_handle(id);
    let Some(every) = every else {
        return match handle.delete(DeleteScheduleOptions::default()).await {
            Ok(()) => Ok(ScheduleChange::Deleted),
            Err(e) if code(&e) == Some(Code::NotFound) => Ok(ScheduleChange::Absent),
            Err(e) => Err(e).with_context(|| format!("deleting the schedule `{id}`")),
        };
    };
    let spec = ScheduleSpec::from_interval(every);
    let created = client
        .create_schedule(
            id,
            CreateScheduleOptions::builder()
                .action(action())
                .spec(spec.clone())
                .overlap_policy(ScheduleOverlapPolicy::Skip)
                .note(note)
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
