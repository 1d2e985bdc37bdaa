//! The retention workflow, started by the Temporal Schedule `retention.schedule_id` every
//! `retention.every_secs`: purges the personal data of notifications and the uploaded
//! files older than `retention.days` (the two side by side), one batch per activity call
//! until a batch comes back short. The cutoff is fixed once per run from workflow time, so a replay computes the
//! same one. A run stops after [`MAX_BATCHES`] batches of each kind and reports itself
//! incomplete; the next scheduled run goes on from there, so one run's history stays small.

use pombo_contract::retention::{
    PurgeInput, PurgeOutput, RetentionActivities, RetentionInput, RetentionOutcome, cutoff,
};
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, WorkflowContext, WorkflowResult, workflows::join_all,
};

/// Most activity calls of each kind in one run.
pub const MAX_BATCHES: u32 = 200;

/// Patch id of running the notification and file purges concurrently (see [`ctx.patched`]).
///
/// [`ctx.patched`]: temporalio_sdk::WorkflowContext::patched
pub const PURGE_CONCURRENTLY: &str = "retention-purge-concurrently";

#[derive(Clone, Copy)]
enum Purge {
    Notifications,
    Files,
}

/// Purges one kind of data in batches until a batch comes back short (`true`: all done) or
/// [`MAX_BATCHES`] have run; how many items were purged.
async fn purge(
    ctx: &WorkflowContext<RetentionWorkflow>,
    kind: Purge,
    batch: &PurgeInput,
) -> Result<(u64, bool), ActivityExecutionError> {
    let mut purged = 0;
    for _ in 0..MAX_BATCHES {
        let out: PurgeOutput = match kind {
            Purge::Notifications => {
                ctx.execute_activity(
                    RetentionActivities::purge_notifications,
                    batch.clone(),
                    crate::policy::purge(),
                )
                .await?
            }
            Purge::Files => {
                ctx.execute_activity(
                    RetentionActivities::purge_files,
                    batch.clone(),
                    crate::policy::purge(),
                )
                .await?
            }
        };
        purged += out.purged;
        if out.purged < batch.limit {
            return Ok((purged, true));
        }
    }
    Ok((purged, false))
}

#[workflow]
#[derive(Default)]
pub struct RetentionWorkflow {}

#[workflow_methods]
impl RetentionWorkflow {
    #[run(name = pombo_contract::retention::RETENTION_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: RetentionInput,
    ) -> WorkflowResult<RetentionOutcome> {
        if input.days == 0 {
            // Keep forever: the worker deletes the schedule, but a run may already be due.
            return Ok(RetentionOutcome {
                complete: true,
                ..RetentionOutcome::default()
            });
        }
        let Some(now) = ctx.workflow_time() else {
            return Err(ApplicationFailure::new("the workflow has no time yet").into());
        };
        let batch = PurgeInput {
            older_than: cutoff(now, input.days),
            limit: input.batch_size.max(1),
        };

        // The two purges touch different data (rows; objects and their rows), so a run that
        // began under this code runs them side by side: a run takes as long as the longer
        // one instead of both. Runs begun before kept the old order, one after the other,
        // and replay it (ARCHITECTURE.md, "Changing a workflow").
        let ((notifications, notifications_done), (files, files_done)) =
            if ctx.patched(PURGE_CONCURRENTLY) {
                let mut both = join_all([
                    purge(ctx, Purge::Notifications, &batch),
                    purge(ctx, Purge::Files, &batch),
                ])
                .await
                .into_iter();
                let (Some(notifications), Some(files)) = (both.next(), both.next()) else {
                    unreachable!("join_all returns one result per future");
                };
                (notifications?, files?)
            } else {
                let notifications = purge(ctx, Purge::Notifications, &batch).await?;
                (notifications, purge(ctx, Purge::Files, &batch).await?)
            };

        Ok(RetentionOutcome {
            notifications,
            files,
            complete: notifications_done && files_done,
        })
    }
}
