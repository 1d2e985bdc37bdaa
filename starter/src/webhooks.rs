//! Turning events into webhook deliveries, and starting them.
//!
//! [`fan_out_forever`] follows the event log from the shared cursor and makes each
//! event's deliveries (`pombo_store::webhooks::deliveries::fan_out`: the deliveries and
//! the cursor's move in one transaction, so a worker that dies mid-way loses nothing and
//! two workers never make one twice). It writes as many of them as the worker has room for
//! already claimed by the worker, and starts those at once; [`start_claimed_forever`] claims
//! the rest (an ordered endpoint's, one at a time; what did not fit; a claim run out). A
//! start makes the delivery's first attempt in the worker (most succeed: no workflow is
//! needed for them) and starts a workflow for those that need retries, its id derived from
//! the delivery's (a second start is refused by Temporal), like inbound files
//! ([`crate::media`]). A worker that dies mid-attempt leaves the claim to run out: another
//! worker attempts again (at least once; the receiver drops a repeat by its `webhook-id`).

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;

use pombo_contract::{
    Priority,
    config::{TemporalConfig, WebhooksConfig},
    webhooks::{
        AttemptOutcome, FirstAttemptFailed, MOST_POSTS_AT_ONCE, WebhookDeliveryInput, workflow_id,
    },
    workflow::task_queue,
};
use pombo_store::{
    Db,
    webhooks::{
        deliveries::{self, Delivery},
        endpoints::{self, EndpointRow},
    },
};
use pombo_workflows::WebhookDeliveryWorkflow;
use temporalio_client::{
    Client, WorkflowIdReusePolicy, WorkflowStartOptions, errors::WorkflowStartError,
};

/// How long a worker's claim on a delivery holds.
pub const CLAIM_LEASE: Duration = Duration::from_secs(10);
/// Most deliveries claimed at once, and most events fanned out per transaction.
const BATCH: u64 = 128;
const FAN_OUT_BATCH: u64 = 500;

/// Deliveries run on the low queue: a tenant's own integrations wait behind nobody's
/// alert.
pub const PRIORITY: Priority = Priority::Low;

/// A worker's own first attempt of a delivery, given its claimed row and its endpoint's
/// (`None`: deleted) and whether no retry would follow a failure: the attempt the activity
/// makes, without a workflow. `None` when it could not be made (the database out): the
/// workflow then makes it.
pub type FirstAttempt = Arc<
    dyn Fn(Delivery, Option<EndpointRow>, bool) -> BoxFuture<'static, Option<AttemptOutcome>>
        + Send
        + Sync,
>;

/// Makes `delivery`'s first attempt (when `first` is given) and starts its workflow if
/// retries are owed; `Ok(())` also when it had started already.
pub async fn start(
    client: &Client,
    db: &Db,
    temporal: &TemporalConfig,
    config: &WebhooksConfig,
    first: Option<&FirstAttempt>,
    delivery: Delivery,
    endpoint: Option<EndpointRow>,
) -> Result<(), crate::DispatchError> {
    let schedule_secs = endpoint
        .as_ref()
        .map(|row| endpoints::retry_schedule(row, &config.retry_schedule_secs))
        .unwrap_or_else(|| config.retry_schedule_secs.clone());
    let (delivery_id, tenant_id) = (delivery.id, delivery.tenant_id);
    let mut first_attempt_failed = None;
    if let Some(first) = first {
        match first(delivery, endpoint, schedule_secs.is_empty()).await {
            // Settled (no longer pending, so never claimed again): recorded by the attempt,
            // nothing more is owed.
            Some(AttemptOutcome::Delivered | AttemptOutcome::Abandoned { .. }) => return Ok(()),
            Some(AttemptOutcome::Failed { .. }) if schedule_secs.is_empty() => return Ok(()),
            Some(AttemptOutcome::Failed { retry_after_secs }) => {
                first_attempt_failed = Some(FirstAttemptFailed { retry_after_secs });
            }
            // Held back (a pause, a rate limit) or not made: the workflow makes it.
            Some(AttemptOutcome::Paused { .. }) | None => {}
        }
    }
    let options = WorkflowStartOptions::new(
        task_queue(&temporal.task_queue, PRIORITY),
        workflow_id(delivery_id),
    )
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .build();
    let input = WebhookDeliveryInput {
        delivery_id,
        tenant_id,
        schedule_secs,
        attempt_timeout_secs: config.attempt_timeout_secs,
        first_attempt_failed,
    };
    match client
        .start_workflow(WebhookDeliveryWorkflow::run, input, options)
        .await
    {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    deliveries::mark_started(db, delivery_id).await?;
    Ok(())
}

/// Deliveries a worker works on at once (first attempts and starts): twice the POSTs it
/// has open at once, so that as many wait for their records to commit as are being sent.
const IN_FLIGHT: usize = 2 * MOST_POSTS_AT_ONCE;
/// The room a fan-out waits for (deliveries the worker can start at once), and how long it
/// waits before making deliveries it cannot take (durable all the same, for whichever
/// worker has room to claim them).
const ROOM: u32 = 64;
const ROOM_WAIT: Duration = Duration::from_secs(1);

/// A worker's delivery starts, shared by its fan-out (which starts the deliveries it takes
/// as it makes them) and its claim loop (which starts the rest): one bound on what is in
/// flight. Each delivery is a task of its own, so a slow receiver holds up nobody else's.
#[derive(Clone)]
pub struct Starts {
    client: Client,
    db: Db,
    temporal: TemporalConfig,
    config: WebhooksConfig,
    first: Option<FirstAttempt>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Starts {
    /// `first`: the worker's own first attempt (`None`: every delivery's workflow makes
    /// all of its attempts).
    pub fn new(
        client: Client,
        db: Db,
        temporal: TemporalConfig,
        config: WebhooksConfig,
        first: Option<FirstAttempt>,
    ) -> Self {
        Starts {
            client,
            db,
            temporal,
            config,
            first,
            permits: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
        }
    }

    /// How long a claim holds: it outlives the first attempt it covers, including its wait
    /// for a POST slot behind the worker's other deliveries.
    fn lease(&self) -> Duration {
        let rounds = IN_FLIGHT.div_ceil(MOST_POSTS_AT_ONCE) as u32;
        Duration::from_secs(self.config.attempt_timeout_secs) * rounds + CLAIM_LEASE
    }

    fn idle(&self) -> Duration {
        Duration::from_millis(self.config.poll_millis)
    }

    /// Starts a claimed delivery in a task of its own once a slot is free. A failure is
    /// logged and its claim left to run out. False when the worker is stopping.
    async fn spawn(&self, delivery: Delivery, endpoint: Option<EndpointRow>) -> bool {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        let starts = self.clone();
        let delivery_id = delivery.id;
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = start(
                &starts.client,
                &starts.db,
                &starts.temporal,
                &starts.config,
                starts.first.as_ref(),
                delivery,
                endpoint,
            )
            .await
            {
                tracing::warn!(
                    delivery_id = %delivery_id,
                    error = %e,
                    "webhook delivery not started; it is claimed again when its claim runs out"
                );
            }
        });
        true
    }
}

/// Fans events out into deliveries until dropped, starting those it takes for this worker
/// (as many as it has room for, none of an ordered endpoint: the claim loop starts the
/// rest); idles `webhooks.poll_millis` when the log has nothing new.
pub async fn fan_out_forever(starts: Starts) {
    loop {
        // Room for what it makes, so that a burst is taken by the fan-out as it goes
        // rather than left to claims.
        let most = match tokio::time::timeout(ROOM_WAIT, starts.permits.acquire_many(ROOM)).await {
            Ok(Ok(room)) => {
                drop(room);
                starts.permits.available_permits()
            }
            Ok(Err(_)) => return,
            Err(_) => 0,
        };
        let take = deliveries::TakeFirst {
            most,
            lease: starts.lease(),
        };
        match deliveries::fan_out(&starts.db, FAN_OUT_BATCH, take).await {
            Ok(fanned) if fanned.events == 0 => tokio::time::sleep(starts.idle()).await,
            Ok(fanned) => {
                for (delivery, endpoint) in fanned.taken {
                    if !starts.spawn(delivery, Some(endpoint)).await {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not fan events out to webhooks; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// A worker's claim loop: claims deliveries owed a start (what no fan-out took, an
/// ordered endpoint's next, a claim run out), makes their first attempt and starts a
/// workflow for those that need retries, until dropped.
pub async fn start_claimed_forever(starts: Starts) {
    loop {
        let free = starts.permits.available_permits().min(BATCH as usize) as u64;
        if free == 0 {
            tokio::time::sleep(starts.idle()).await;
            continue;
        }
        let claimed = match deliveries::claim_unstarted(&starts.db, free, starts.lease()).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim webhook deliveries; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if claimed.is_empty() {
            tokio::time::sleep(starts.idle()).await;
            continue;
        }
        // The batch's endpoints in one read (fresh: a pause or a disabling is seen at once).
        let rows = match endpoints::rows_by_id(&starts.db, claimed.iter().map(|d| d.endpoint_id))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not read webhook endpoints; the claims run out and are taken again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for delivery in claimed {
            let endpoint = rows.get(&delivery.endpoint_id).cloned();
            if !starts.spawn(delivery, endpoint).await {
                return;
            }
        }
    }
}
