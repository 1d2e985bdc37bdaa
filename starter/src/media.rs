//! Starting the fetch of inbound files, and never losing one.
//!
//! The API stores an inbound message with a file as `pending` before the provider hears
//! its 2xx; it starts nothing, so the callback answers as fast with a file as without. A
//! worker claims pending messages whose fetch has not started ([`start_claimed_forever`]),
//! starts one workflow per message (its id derived from the message's, so a second start
//! from another worker or after a crash is refused by Temporal) and records the start. A
//! worker that dies holding a claim delays those messages by [`CLAIM_LEASE`] at most.

use std::time::Duration;

use pombo_contract::{
    Priority,
    config::TemporalConfig,
    inbound_media::{InboundMediaInput, workflow_id},
    workflow::task_queue,
};
use pombo_store::{Db, inbound_media};
use pombo_workflows::InboundMediaWorkflow;
use temporalio_client::{
    Client, WorkflowIdReusePolicy, WorkflowStartOptions, errors::WorkflowStartError,
};

/// How long a worker's claim on a message holds.
pub const CLAIM_LEASE: Duration = Duration::from_secs(10);
/// Most messages claimed at once.
const BATCH: u64 = 32;
/// How often an idle worker looks for files to fetch: the most a file waits for its fetch
/// to start when nothing else is happening.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// The queue fetches run on: a person waits for an agent to see the file, but an alert
/// being delivered waits for nobody else.
pub const PRIORITY: Priority = Priority::Medium;

/// Starts the fetch of `message_id`'s file; `Ok(())` also when it had started already.
pub async fn start(
    client: &Client,
    db: &Db,
    temporal: &TemporalConfig,
    message_id: uuid::Uuid,
    tenant_id: uuid::Uuid,
) -> Result<(), crate::DispatchError> {
    let options = WorkflowStartOptions::new(
        task_queue(&temporal.task_queue, PRIORITY),
        workflow_id(message_id),
    )
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .build();
    let input = InboundMediaInput {
        message_id,
        tenant_id,
    };
    match client
        .start_workflow(InboundMediaWorkflow::run, input, options)
        .await
    {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    inbound_media::mark_started(db, message_id).await?;
    Ok(())
}

/// A worker's media starter: claims pending inbound files and starts their fetches, until
/// dropped. A failed start is logged and its claim left to run out.
pub async fn start_claimed_forever(client: Client, db: Db, temporal: TemporalConfig) {
    loop {
        let claimed = match inbound_media::claim_unstarted(&db, BATCH, CLAIM_LEASE).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim inbound files to fetch; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if claimed.is_empty() {
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        }
        for message in claimed {
            if let Err(e) = start(
                &client,
                &db,
                &temporal,
                message.message_id,
                message.tenant_id,
            )
            .await
            {
                tracing::warn!(
                    message_id = %message.message_id,
                    error = %e,
                    "inbound file fetch not started; it is claimed again when its claim runs out"
                );
            }
        }
    }
}
