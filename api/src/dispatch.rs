//! The API's side of starting notification workflows (see [`pombo_starter`]): with
//! `temporal.starts = "api"` it starts each notification right after storing it; in every
//! mode its sweep starts what nobody started within the grace period, and a redrive starts
//! the reopened notification at once.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use pombo_contract::{
    Priority,
    config::{DeliveryConfig, TemporalConfig, WorkflowStarts},
    delivery::DeliveryUpdate,
    workflow::{task_queue, workflow_id},
};
use pombo_store::{Db, notifications::Notification};
use pombo_workflows::NotificationWorkflow;
use temporalio_client::{
    Client, WorkflowCancelOptions, WorkflowCountOptions, WorkflowSignalOptions,
};
use tokio::sync::{
    Mutex,
    mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel},
};

pub struct Dispatcher {
    db: Db,
    temporal: TemporalConfig,
    delivery: DeliveryConfig,
    client: Mutex<Option<Client>>,
    /// Accepted notifications waiting for their workflow start, one queue per priority
    /// (most urgent first; see [`Dispatcher::enqueue`]).
    queues: [UnboundedSender<Notification>; 3],
    queued: std::sync::Mutex<Option<StartQueues>>,
}

type StartQueues = [UnboundedReceiver<Notification>; 3];

/// The next notification to start: the most urgent one waiting, so that an alert accepted
/// behind a burst of promotions does not wait for all of their starts.
async fn next_start(queues: &mut StartQueues) -> Option<Notification> {
    let [high, medium, low] = queues;
    tokio::select! {
        biased;
        Some(n) = high.recv() => Some(n),
        Some(n) = medium.recv() => Some(n),
        Some(n) = low.recv() => Some(n),
        else => None,
    }
}

pub use pombo_starter::Dispatched;

impl Dispatcher {
    pub fn new(db: Db, temporal: TemporalConfig, delivery: DeliveryConfig) -> Self {
        let [(high, high_rx), (medium, medium_rx), (low, low_rx)] =
            Priority::ALL.map(|_| unbounded_channel());
        Dispatcher {
            db,
            temporal,
            delivery,
            client: Mutex::new(None),
            queues: [high, medium, low],
            queued: std::sync::Mutex::new(Some([high_rx, medium_rx, low_rx])),
        }
    }

    /// With `temporal.starts = "api"`, hands a stored notification to the background
    /// starter and returns at once; otherwise a worker starts it.
    ///
    /// The accept path must not wait for Temporal: the row is already the promise, and a
    /// start costs a round trip (tens of ms under load) that would otherwise be every
    /// caller's latency. If this process dies with starts still queued, the sweep starts
    /// those rows after the grace period; a start that races the sweep is refused by
    /// Temporal as a duplicate, so nothing is sent twice.
    pub fn enqueue(&self, notification: Notification) {
        if self.temporal.starts != WorkflowStarts::Api {
            // A worker claims the stored row and starts it (eagerly).
            return;
        }
        // The receiver lives as long as the process serves; a send can only fail during
        // shutdown, and then the sweep of the next process starts the row.
        let _ = self.queues[notification.priority.index()].send(notification);
    }

    /// Starts queued notifications, a bounded number at once, until the queue closes.
    /// Runs once per process (beside the sweep); a second call returns at once.
    pub async fn run_queue(self: Arc<Self>) {
        use futures::StreamExt;
        let Some(queued) = self.queued.lock().expect("queue lock").take() else {
            return;
        };
        futures::stream::unfold(queued, |mut queues| async move {
            next_start(&mut queues).await.map(|n| (n, queues))
        })
        .for_each_concurrent(pombo_starter::CONCURRENT_STARTS, |n| {
            let this = self.clone();
            async move {
                if let Err(e) = this.dispatch(&n).await {
                    tracing::warn!(
                        notification_id = %n.id,
                        error = %format!("{e:#}"),
                        "workflow not started yet; the dispatch sweep will start it"
                    );
                }
            }
        })
        .await;
    }

    /// The Temporal client, connecting on first use; the API starts and serves reads even
    /// while Temporal is down.
    pub async fn client(&self) -> anyhow::Result<Client> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client =
            pombo_starter::connection::connect(&self.temporal, Some(Duration::from_secs(3)))
                .await?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Starts the workflow of a stored notification and records that it exists.
    pub async fn dispatch(&self, n: &Notification) -> anyhow::Result<Dispatched> {
        let client = self.client().await?;
        match pombo_starter::start(&client, &self.db, &self.temporal, &self.delivery, n, false)
            .await
        {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                // A broken connection is rebuilt on the next call.
                if e.is_connection() {
                    self.client.lock().await.take();
                }
                Err(e.into())
            }
        }
    }

    /// Starts every accepted notification older than `grace` whose start is not recorded.
    /// Returns how many were started.
    pub async fn sweep(&self, grace: Duration) -> anyhow::Result<usize> {
        let cutoff = Utc::now() - chrono::Duration::from_std(grace)?;
        let mut started = 0;
        loop {
            // Claimed like a worker's starter claims them, so the two never start the same
            // one (a worker still starting a backlog is not raced).
            let batch = pombo_store::notifications::claim_unstarted(
                &self.db,
                100,
                pombo_starter::CLAIM_LEASE,
                Some(cutoff),
            )
            .await?;
            if batch.is_empty() {
                return Ok(started);
            }
            for n in &batch {
                if self.dispatch(n).await? == Dispatched::Started {
                    started += 1;
                }
            }
        }
    }

    /// Records `event` on the notification's timeline (moving its status forward if it
    /// may) and, when it is new, tells the workflow: what every report does, whoever makes
    /// it (a provider's callback, the connector, a tracked email).
    pub async fn record_and_signal(
        &self,
        db: &pombo_store::Db,
        notification_id: uuid::Uuid,
        event: pombo_store::events::NewEvent,
    ) -> Result<pombo_store::events::Recorded, pombo_store::StoreError> {
        let (source, occurred_at) = (event.source.clone(), event.occurred_at);
        let recorded = pombo_store::events::record(db, notification_id, event).await?;
        if recorded.new {
            self.signal_delivery(
                notification_id,
                DeliveryUpdate {
                    status: recorded.status,
                    occurred_at: occurred_at.unwrap_or_else(Utc::now),
                    source,
                },
            )
            .await;
        }
        Ok(recorded)
    }

    /// Tells a notification's workflow about a report already recorded in the database.
    /// Best effort: a workflow that has finished no longer listens, and one that misses
    /// the signal re-reads the database before it ends.
    pub async fn signal_delivery(&self, notification_id: uuid::Uuid, update: DeliveryUpdate) {
        let result = async {
            let client = self.client().await?;
            client
                .get_workflow_handle::<NotificationWorkflow>(workflow_id(notification_id))
                .signal(
                    NotificationWorkflow::delivery_update,
                    update,
                    WorkflowSignalOptions::default(),
                )
                .await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::debug!(%notification_id, error = %format!("{e:#}"), "delivery signal not delivered");
        }
    }

    /// Asks Temporal to cancel a notification's workflow (its row is already `cancelled`).
    pub async fn cancel_workflow(&self, notification_id: uuid::Uuid) -> anyhow::Result<()> {
        let client = self.client().await?;
        client
            .get_workflow_handle::<NotificationWorkflow>(workflow_id(notification_id))
            .cancel(WorkflowCancelOptions::default())
            .await?;
        Ok(())
    }

    /// Whether Temporal answers (for `/readyz`).
    pub async fn check(&self) -> anyhow::Result<()> {
        let client = self.client().await?;
        let query = format!(
            "TaskQueue = '{}'",
            task_queue(&self.temporal.task_queue, Priority::High)
        );
        if let Err(e) = client
            .count_workflows(query, WorkflowCountOptions::default())
            .await
        {
            self.client.lock().await.take();
            return Err(e.into());
        }
        Ok(())
    }
}

/// Runs a sweep (`round`: how many it started) forever, every `every`; errors are logged
/// and retried next round. `what` names it in the log: the notification sweep
/// ([`Dispatcher::sweep`]) and the batch sweep (`batches::dispatch::sweep`) both run here.
pub async fn sweep_forever<F, Fut>(what: &'static str, every: Duration, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    loop {
        match round().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(started = n, "{what} sweep started accepted ones"),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "{what} sweep failed; will retry")
            }
        }
        tokio::time::sleep(every).await;
    }
}
