//! Turning events into webhook deliveries, and starting them.
//!
//! [`fan_out_forever`] follows the event log from the shared cursor and makes each
//! event's deliveries (`pombo_store::webhooks::deliveries::fan_out`: the deliveries and
//! the cursor's move in one transaction, so a worker that dies mid-way loses nothing and
//! two workers never make one twice). [`start_claimed_forever`] claims deliveries owed a
//! start and starts one workflow each, its id derived from the delivery's (a second start
//! is refused by Temporal), like inbound files ([`crate::media`]).

use std::time::Duration;

use pombo_contract::{
    Priority,
    config::{TemporalConfig, WebhooksConfig},
    webhooks::{WebhookDeliveryInput, workflow_id},
    workflow::task_queue,
};
use pombo_store::{
    Db,
    webhooks::deliveries::{self, Unstarted},
};
use pombo_workflows::WebhookDeliveryWorkflow;
use temporalio_client::{
    Client, WorkflowIdReusePolicy, WorkflowStartOptions, errors::WorkflowStartError,
};

/// How long a worker's claim on a delivery holds.
pub const CLAIM_LEASE: Duration = Duration::from_secs(10);
/// Most deliveries claimed at once, and most events fanned out per transaction.
const BATCH: u64 = 64;
const FAN_OUT_BATCH: u64 = 500;

/// Deliveries run on the low queue: a tenant's own integrations wait behind nobody's
/// alert.
pub const PRIORITY: Priority = Priority::Low;

/// Fans events out into deliveries until dropped; idles `webhooks.poll_millis` when the log
/// has nothing new.
pub async fn fan_out_forever(db: Db, config: WebhooksConfig) {
    let idle = Duration::from_millis(config.poll_millis);
    loop {
        match deliveries::fan_out(&db, FAN_OUT_BATCH).await {
            Ok(0) => tokio::time::sleep(idle).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not fan events out to webhooks; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Starts `delivery`'s workflow; `Ok(())` also when it had started already.
pub async fn start(
    client: &Client,
    db: &Db,
    temporal: &TemporalConfig,
    config: &WebhooksConfig,
    delivery: Unstarted,
) -> Result<(), crate::DispatchError> {
    let schedule_secs =
        deliveries::schedule_of(db, delivery.endpoint_id, &config.retry_schedule_secs).await?;
    let options = WorkflowStartOptions::new(
        task_queue(&temporal.task_queue, PRIORITY),
        workflow_id(delivery.delivery_id),
    )
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .build();
    let input = WebhookDeliveryInput {
        delivery_id: delivery.delivery_id,
        tenant_id: delivery.tenant_id,
        schedule_secs,
        attempt_timeout_secs: config.attempt_timeout_secs,
    };
    match client
        .start_workflow(WebhookDeliveryWorkflow::run, input, options)
        .await
    {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    deliveries::mark_started(db, delivery.delivery_id).await?;
    Ok(())
}

/// A worker's delivery starter: claims deliveries owed a start and starts them, until
/// dropped. A failed start is logged and its claim left to run out.
pub async fn start_claimed_forever(
    client: Client,
    db: Db,
    temporal: TemporalConfig,
    config: WebhooksConfig,
) {
    let idle = Duration::from_millis(config.poll_millis);
    loop {
        let claimed = match deliveries::claim_unstarted(&db, BATCH, CLAIM_LEASE).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim webhook deliveries; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if claimed.is_empty() {
            tokio::time::sleep(idle).await;
            continue;
        }
        // Started side by side: each start is a round trip to Temporal.
        let (client, db, temporal, config) = (&client, &db, &temporal, &config);
        let starts = claimed.iter().map(|delivery| async move {
            (
                delivery.delivery_id,
                start(client, db, temporal, config, *delivery).await,
            )
        });
        for (delivery_id, result) in futures::future::join_all(starts).await {
            if let Err(e) = result {
                tracing::warn!(
                    %delivery_id,
                    error = %e,
                    "webhook delivery not started; it is claimed again when its claim runs out"
                );
            }
        }
    }
}
