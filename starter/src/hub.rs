//! Waking the hub's forwarders (`pombo_workflows::HubForwardWorkflow`, one per platform):
//! a signal-with-start, so the first forward to a platform starts its forwarder and the
//! next ones wake it. The API wakes a forwarder right after storing what it is owed (best
//! effort: the forward is already the promise); [`wake_waiting_forever`], in every worker,
//! wakes the forwarder of every platform owed a forward older than a few seconds, so a
//! wake lost with an API process, or refused while Temporal was out, delays a forward and
//! never loses it.

use std::time::Duration;

use pombo_contract::{
    Priority,
    config::TemporalConfig,
    hub::{ForwardInput, Wake, forward_workflow_id},
    workflow::task_queue,
};
use pombo_store::{Db, hub::forwards};
use pombo_workflows::HubForwardWorkflow;
use temporalio_client::{Client, WorkflowIdConflictPolicy, WorkflowStartOptions};
use uuid::Uuid;

/// Forwarders run on the medium queue: people wait for their messages, but not before
/// an alert.
pub const PRIORITY: Priority = Priority::Medium;

/// How often the sweep looks, and how old a forward must be for it.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Wakes (starting it when none runs) the forwarder of `platform_id`.
pub async fn wake(
    client: &Client,
    temporal: &TemporalConfig,
    heartbeat_timeout_secs: u64,
    tenant_id: Uuid,
    platform_id: Uuid,
    why: Wake,
) -> Result<(), crate::DispatchError> {
    let options = WorkflowStartOptions::new(
        task_queue(&temporal.task_queue, PRIORITY),
        forward_workflow_id(platform_id),
    )
    // A running forwarder is signalled, not started again.
    .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
    .build();
    let input = ForwardInput {
        platform_id,
        tenant_id,
        heartbeat_timeout_secs,
        failures: 0,
    };
    client
        .signal_with_start_workflow(
            HubForwardWorkflow::run,
            input,
            HubForwardWorkflow::wake,
            why,
            options,
        )
        .await?;
    Ok(())
}

/// Wakes the forwarders of platforms owed old forwards, every [`SWEEP_EVERY`], until
/// dropped.
pub async fn wake_waiting_forever(
    client: Client,
    db: Db,
    temporal: TemporalConfig,
    heartbeat_timeout_secs: u64,
) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let waiting = match forwards::waiting_platforms(&db, SWEEP_EVERY).await {
            Ok(waiting) => waiting,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the hub's waiting forwards; retrying");
                continue;
            }
        };
        for (platform_id, tenant_id) in waiting {
            if let Err(e) = wake(
                &client,
                &temporal,
                heartbeat_timeout_secs,
                tenant_id,
                platform_id,
                Wake::Forward,
            )
            .await
            {
                tracing::warn!(%platform_id, error = %e, "hub forwarder not woken; trying again");
            }
        }
    }
}
