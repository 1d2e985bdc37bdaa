//! Starting the workflow of a stored notification, and never losing one.
//!
//! The API stores the notification first (that is the accepted promise); its workflow is
//! started after. Until a start is recorded (`dispatched_at`), the row is owed one: a worker
//! claims it ([`start_claimed_forever`]), or the API's sweep takes it once it has waited
//! `api.dispatch_grace_secs`. Whoever starts it, a second start of the same notification is
//! refused by Temporal (the workflow id is derived from the notification id; a running or
//! completed workflow blocks another start), so a start that races another is always safe.
//! Only a failed workflow's id can start again: a redrive reopens the notification
//! (`dispatched_at = NULL` again) and the same path starts its new run.

pub mod connection;
pub mod hub;
pub mod media;
pub mod webhooks;

use std::{sync::Arc, time::Duration};

use pombo_contract::{
    config::{DeliveryConfig, TemporalConfig},
    workflow::{
        NotificationWorkflowInput, RetrySettings, search, task_queue, weighted_priority,
        workflow_id,
    },
};
use pombo_store::{Db, StoreError, notifications::Notification};
use pombo_telemetry::FutureExt as _;
use pombo_workflows::NotificationWorkflow;
use temporalio_client::{
    Client, WorkflowIdReusePolicy, WorkflowStartOptions, errors::WorkflowStartError,
};
use temporalio_common::search_attributes::SearchAttributes;
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    Started,
    /// Its workflow already existed (a retried request, a second sweep, another worker).
    AlreadyStarted,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("stored notification cannot be started: {0}")]
    Invalid(String),
    #[error(transparent)]
    Temporal(#[from] WorkflowStartError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DispatchError {
    /// Whether the connection to Temporal failed (the caller should connect again).
    pub fn is_connection(&self) -> bool {
        matches!(self, DispatchError::Temporal(WorkflowStartError::Rpc(_)))
    }
}

/// Starts the workflow of a stored notification and records that it exists. `eager`: ask
/// Temporal to hand the first workflow task back in the start's response, to a worker
/// registered on `client`'s own connection (when none has a free slot, the start is an
/// ordinary one).
pub async fn start(
    client: &Client,
    db: &Db,
    temporal: &TemporalConfig,
    delivery: &DeliveryConfig,
    n: &Notification,
    eager: bool,
) -> Result<Dispatched, DispatchError> {
    let (channel, priority) = (*n.channel, *n.priority);
    let fallback = n.fallback.as_ref();
    // A fallback may say how long to wait, and for what (`delivered` or `read`).
    let confirmation_timeout_secs = fallback
        .and_then(|f| f.get("after_secs"))
        .and_then(|secs| secs.as_u64())
        .unwrap_or_else(|| delivery.confirmation_timeout_secs.of(channel));
    let input = NotificationWorkflowInput {
        notification_id: n.id,
        tenant_id: n.tenant_id,
        channel,
        priority,
        retry: RetrySettings {
            max_attempts: n.max_attempts.max(1) as u32,
            interval_secs: n.retry_interval_secs.max(1) as u64,
        },
        attempt_timeout_secs: delivery.attempt_timeout_secs,
        heartbeat_timeout_secs: delivery.heartbeat_timeout_secs,
        confirmation_timeout_secs,
        has_fallback: fallback.is_some(),
        fallback_unless_read: fallback
            .and_then(|f| f.get("unless"))
            .and_then(|u| u.as_str())
            == Some("read"),
        send_at: n.send_at,
        fairness_weight: tenant_weight(db, n.tenant_id).await,
    };
    let mut options = WorkflowStartOptions::new(
        task_queue(&temporal.task_queue, priority),
        workflow_id(n.id),
    )
    // A notification whose workflow completed is never started again; one whose
    // workflow failed may be, after an operator reopened it (a redrive).
    .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicateFailedOnly)
    .priority(weighted_priority(
        priority,
        n.tenant_id,
        input.fairness_weight,
    ))
    .search_attributes(SearchAttributes::new([
        search::TENANT.value_set(n.tenant_id.to_string()),
        search::CHANNEL.value_set(channel.as_str().to_owned()),
        search::PRIORITY.value_set(priority.as_str().to_owned()),
        search::STATUS.value_set(n.status.as_str().to_owned()),
    ]))
    .build();
    options.enable_eager_workflow_start = eager;
    // The trace of the request that accepted it continues here, whichever process starts.
    let outcome = match client
        .start_workflow(NotificationWorkflow::run, input, options)
        .with_context(pombo_telemetry::context_of(n.trace_context.as_deref()))
        .await
    {
        Ok(_) => Dispatched::Started,
        Err(WorkflowStartError::AlreadyStarted { .. }) => Dispatched::AlreadyStarted,
        Err(e) => return Err(e.into()),
    };
    pombo_store::notifications::mark_dispatched(db, n.id).await?;
    Ok(outcome)
}

/// How long a worker's claim on an unstarted notification holds: a start takes
/// milliseconds, so this only bounds how long a worker that died mid-claim delays them.
pub const CLAIM_LEASE: Duration = Duration::from_secs(10);
/// Starts in flight at once from one process: each is one round trip to Temporal, so a
/// dozen or so keep up with hundreds of accepts a second. More do not start faster on a
/// busy server, they only queue inside it and contend for its CPU: on the embedded server,
/// 1.48–1.66 notifications per bare workflow with 16 against 1.15–1.44 with 32 (see the
/// README's benchmark).
pub const CONCURRENT_STARTS: usize = 16;
/// How often an idle worker looks for notifications to start: the most an accepted
/// notification waits for its start when nothing else is happening.
const IDLE_POLL: Duration = Duration::from_millis(20);

/// A worker's starter: claims stored notifications whose workflow has not started, most
/// urgent first, and starts them eagerly through `client`, which must be the connection the
/// worker's own task-queue workers are registered on. It claims only as many as it has
/// starts free, so what it holds is what it is starting, and claims again as each start
/// ends (no round waits for its slowest start). Runs until dropped; a failed start is
/// logged and its claim left to run out, so the row is started again later.
pub async fn start_claimed_forever(
    client: Client,
    db: Db,
    temporal: TemporalConfig,
    delivery: DeliveryConfig,
) {
    let free = Arc::new(Semaphore::new(CONCURRENT_STARTS));
    let context = Arc::new((client, db, temporal, delivery));
    loop {
        let first = free.clone().acquire_owned().await.expect("never closed");
        let room = 1 + free.available_permits() as u64;
        let claimed =
            match pombo_store::notifications::claim_unstarted(&context.1, room, CLAIM_LEASE, None)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    drop(first);
                    tracing::warn!(error = %e, "could not claim notifications to start; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
        if claimed.is_empty() {
            drop(first);
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        }
        let mut first = Some(first);
        // Most urgent first, tenants in turn within a priority: they were claimed in that order.
        for n in claimed {
            let permit = match first.take() {
                Some(permit) => permit,
                None => free.clone().acquire_owned().await.expect("never closed"),
            };
            let context = context.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let (client, db, temporal, delivery) = &*context;
                if let Err(e) = start(client, db, temporal, delivery, &n, true).await {
                    tracing::warn!(
                        notification_id = %n.id,
                        error = %e,
                        "workflow not started; it is claimed again when its claim runs out"
                    );
                }
            });
        }
    }
}

/// How long a tenant's weight is remembered between reads.
const WEIGHT_TTL: Duration = Duration::from_secs(10);

/// A tenant's weight when it is not 1 (its share of Temporal's fairness, as of the claims),
/// read at most every [`WEIGHT_TTL`] per tenant: not a read per start. Batches' starts
/// (in the API) read it too.
pub async fn tenant_weight(db: &Db, tenant_id: uuid::Uuid) -> Option<u32> {
    static WEIGHTS: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<uuid::Uuid, (u32, std::time::Instant)>>,
    > = std::sync::LazyLock::new(Default::default);
    let cached = WEIGHTS
        .lock()
        .expect("weights lock")
        .get(&tenant_id)
        .filter(|(_, at)| at.elapsed() < WEIGHT_TTL)
        .map(|(w, _)| *w);
    let weight = match cached {
        Some(weight) => weight,
        None => {
            // Unknown (a read that failed): weight 1, as before weights.
            let weight = pombo_store::tenants::get(db, tenant_id)
                .await
                .map(|t| u32::try_from(t.weight).unwrap_or(1))
                .unwrap_or(1);
            WEIGHTS
                .lock()
                .expect("weights lock")
                .insert(tenant_id, (weight, std::time::Instant::now()));
            weight
        }
    };
    (weight > 1).then_some(weight)
}
