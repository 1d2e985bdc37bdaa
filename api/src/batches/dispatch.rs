//! Starting batch workflows, and never losing one: the same promise as single
//! notifications (`crate::dispatch`). The batch row commits first; its workflow
//! `batch-<id>` is started right after, and if Temporal is unreachable or the API dies in
//! between, the batch keeps `dispatched_at = NULL` and the sweep of any API process starts
//! it later. Temporal refuses a second start of the same id, so sweeping twice is harmless.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use pombo_contract::{
    batch::{BatchWorkflowInput, workflow_id},
    config::DeliveryConfig,
    workflow::{RetrySettings, search, task_queue, weighted_priority},
};
use pombo_store::batches::{self, Batch};
use pombo_workflows::BatchWorkflow;
use temporalio_client::{WorkflowIdReusePolicy, WorkflowStartOptions, errors::WorkflowStartError};
use temporalio_common::search_attributes::SearchAttributes;

use crate::state::AppState;

/// What the batch workflow of `batch` starts with.
pub fn workflow_input(
    batch: &Batch,
    delivery: &DeliveryConfig,
) -> anyhow::Result<BatchWorkflowInput> {
    Ok(BatchWorkflowInput {
        batch_id: batch.id,
        tenant_id: batch.tenant_id,
        channel: *batch.channel,
        priority: *batch.priority,
        total: u32::try_from(batch.total.max(0)).context("batch total")?,
        retry: RetrySettings {
            max_attempts: batch.max_attempts.max(1) as u32,
            interval_secs: batch.retry_interval_secs.max(1) as u64,
        },
        attempt_timeout_secs: delivery.attempt_timeout_secs,
        heartbeat_timeout_secs: delivery.heartbeat_timeout_secs,
        send_at: batch.send_at,
        chunk_size: 0,
        chunks_per_run: 0,
        progress: Default::default(),
        fairness_weight: None,
    })
}

/// Starts the workflow of a stored batch and records that it exists.
pub async fn dispatch(state: &AppState, batch: &Batch) -> anyhow::Result<()> {
    let client = state.dispatcher.client().await?;
    let mut input = workflow_input(batch, &state.config.delivery)?;
    input.fairness_weight = pombo_starter::tenant_weight(&state.db, batch.tenant_id).await;
    let options = WorkflowStartOptions::new(
        task_queue(&state.config.temporal.task_queue, input.priority),
        workflow_id(batch.id),
    )
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .priority(weighted_priority(
        input.priority,
        batch.tenant_id,
        input.fairness_weight,
    ))
    .search_attributes(SearchAttributes::new([
        search::TENANT.value_set(batch.tenant_id.to_string()),
        search::CHANNEL.value_set(input.channel.as_str().to_owned()),
        search::PRIORITY.value_set(input.priority.as_str().to_owned()),
    ]))
    .build();
    match client
        .start_workflow(BatchWorkflow::run, input, options)
        .await
    {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    batches::mark_dispatched(&state.db, batch.id).await?;
    Ok(())
}

/// Starts every accepted batch older than `grace` whose start is not recorded.
pub async fn sweep(state: &AppState, grace: Duration) -> anyhow::Result<usize> {
    let cutoff = Utc::now() - chrono::Duration::from_std(grace)?;
    let mut started = 0;
    loop {
        let waiting = batches::undispatched(&state.db, cutoff, 100).await?;
        if waiting.is_empty() {
            return Ok(started);
        }
        for batch in &waiting {
            dispatch(state, batch).await?;
            started += 1;
        }
    }
}
