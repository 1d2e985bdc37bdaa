//! One durable workflow per bulk send (`batch-<id>`), not one per recipient: it pages
//! through the batch's recipients in chunk activities, a few at once, each sending up to
//! [`CHUNK_SIZE`](pombo_contract::batch::CHUNK_SIZE) recipients. A recipient whose attempt
//! failed in a way worth retrying comes back from its chunk and is tried again, alone or
//! with others that are due, after the retry interval on a durable timer, up to its
//! attempts per provider account (the chunk fails it over to the next account, or fails it
//! for good). After every
//! [`CHUNKS_PER_RUN`](pombo_contract::batch::CHUNKS_PER_RUN) chunks the workflow continues
//! as new, carrying only its offset and the recipients waiting for a retry, so a run's
//! history stays a few hundred events for any batch size.

use std::time::{Duration, SystemTime};

use pombo_contract::{
    batch::{
        BatchActivities, BatchProgress, BatchWorkflowInput, CONCURRENT_CHUNKS, ChunkWork,
        FinishBatchInput, PendingRetry, RetryItem, SendChunkInput,
    },
    workflow::{wait_until, weighted_priority},
};
use serde::{Deserialize, Serialize};
use temporalio_common::{Priority, error::ApplicationFailure};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ContinueAsNewOptions, WorkflowContext, WorkflowResult,
    WorkflowTermination, workflows::join_all,
};

/// What a completed batch workflow returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchOutcome {
    pub total: u32,
    /// Recipients per status when the batch completed.
    pub counts: std::collections::BTreeMap<String, i64>,
}

#[workflow]
#[derive(Default)]
pub struct BatchWorkflow {}

#[workflow_methods]
impl BatchWorkflow {
    #[run(name = pombo_contract::batch::BATCH_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: BatchWorkflowInput,
    ) -> WorkflowResult<BatchOutcome> {
        // A scheduled batch waits on a durable timer: no worker holds it meanwhile.
        let wait = wait_until(input.send_at, now(ctx));
        if !wait.is_zero() {
            ctx.timer(wait).await;
        }

        let chunk_size = input.chunk_size();
        let interval_ms = input.retry.interval().as_millis() as u64;
        let mut next_offset = input.progress.next_offset;
        let mut pending = input.progress.retries.clone();
        let mut chunks_run = 0;
        loop {
            let now_ms = unix_ms(now(ctx));
            let mut wave: Vec<ChunkWork> = Vec::new();
            // Retries that are due first: they have waited already.
            pending.sort_by_key(|p| p.due_unix_ms);
            while wave.len() < CONCURRENT_CHUNKS as usize
                && pending.first().is_some_and(|p| p.due_unix_ms <= now_ms)
            {
                let due = pending
                    .iter()
                    .take(chunk_size as usize)
                    .take_while(|p| p.due_unix_ms <= now_ms)
                    .count();
                let items: Vec<RetryItem> = pending.drain(..due).map(|p| p.item).collect();
                wave.push(ChunkWork::Retry { items });
            }
            while wave.len() < CONCURRENT_CHUNKS as usize && next_offset < input.total {
                let limit = chunk_size.min(input.total - next_offset);
                wave.push(ChunkWork::Range {
                    offset: next_offset,
                    limit,
                });
                next_offset += limit;
            }
            if wave.is_empty() {
                let Some(first) = pending.first() else {
                    break;
                };
                ctx.timer(Duration::from_millis(
                    first.due_unix_ms.saturating_sub(now_ms),
                ))
                .await;
                continue;
            }

            chunks_run += wave.len() as u32;
            let options = crate::policy::chunk(input.heartbeat_timeout_secs, priority(&input));
            let sends = wave.into_iter().map(|work| {
                ctx.execute_activity(
                    BatchActivities::send_chunk,
                    SendChunkInput {
                        batch_id: input.batch_id,
                        work,
                        attempt_timeout_secs: input.attempt_timeout_secs,
                    },
                    options.clone(),
                )
            });
            let results = join_all(sends).await;
            let done_ms = unix_ms(now(ctx));
            for result in results {
                let out = match result {
                    Ok(out) => out,
                    // Chunks retry until they run (only a database outage fails one, and
                    // that passes); what ends here is a cancellation of the batch itself.
                    Err(ActivityExecutionError::Cancelled(_)) => {
                        return Err(WorkflowTermination::cancelled());
                    }
                    Err(e) => {
                        return Err(ApplicationFailure::new(format!("a chunk failed: {e}")).into());
                    }
                };
                for item in out.retry {
                    // The provider's Retry-After wins when it asks for longer.
                    let wait = interval_ms.max(item.retry_after_ms.unwrap_or(0));
                    pending.push(PendingRetry {
                        due_unix_ms: done_ms + wait,
                        item,
                    });
                }
            }

            let more = next_offset < input.total || !pending.is_empty();
            if more && chunks_run >= input.chunks_per_run() {
                let next = BatchWorkflowInput {
                    progress: BatchProgress {
                        next_offset,
                        retries: pending,
                        runs: input.progress.runs + 1,
                    },
                    ..input
                };
                let never = ctx.continue_as_new(next, ContinueAsNewOptions::default())?;
                match never {}
            }
        }

        let finished = ctx
            .execute_activity(
                BatchActivities::finish_batch,
                FinishBatchInput {
                    batch_id: input.batch_id,
                },
                crate::policy::until_recorded(priority(&input)),
            )
            .await;
        match finished {
            Ok(out) => Ok(BatchOutcome {
                total: input.total,
                counts: out.counts,
            }),
            Err(ActivityExecutionError::Cancelled(_)) => Err(WorkflowTermination::cancelled()),
            Err(e) => {
                Err(ApplicationFailure::new(format!("completing the batch failed: {e}")).into())
            }
        }
    }
}

fn now(ctx: &WorkflowContext<BatchWorkflow>) -> SystemTime {
    ctx.workflow_time().unwrap_or(SystemTime::UNIX_EPOCH)
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn priority(input: &BatchWorkflowInput) -> Priority {
    weighted_priority(input.priority, input.tenant_id, input.fairness_weight)
}
