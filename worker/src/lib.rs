//! The Pombo worker: connects to the database and Temporal, and hosts the notification
//! workflow and its activities on the task queue of each priority. Any number of workers may run
//! against one Temporal server; Temporal spreads the work and re-runs what a dead one held.

pub mod hub;
pub mod priority_gate;
pub mod retention;
pub mod schedules;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use pombo_activities::{
    BatchActivities, HubActivities, InboundMediaActivities, NotificationActivities,
    RetentionActivities, WebhookActivities, files::SendFiles, routing::Providers,
};
use pombo_config::Config;
use pombo_contract::{
    Priority,
    config::{TemporalConfig, WorkflowStarts},
    workflow::task_queue,
};
use pombo_store::objects::ObjectStore;
use pombo_workflows::{
    BatchWorkflow, HubCheckWorkflow, HubForwardWorkflow, InboundMediaWorkflow,
    NotificationWorkflow, RetentionWorkflow, WebhookDeliveryWorkflow,
};
use temporalio_client::Client;
use temporalio_sdk::{
    Runtime, Worker, WorkerOptions,
    runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder},
};

/// Runs a worker until `shutdown` resolves, then drains in-flight tasks and returns.
///
/// The returned future is not `Send` (the SDK's worker runs on the current thread): run it
/// from `main` or a dedicated runtime.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let _metrics = match config.worker_metrics_listen {
        Some(address) => Some(serve_metrics(address).await?),
        None => None,
    };
    let db = pombo_store::open(&config.database_url)
        .await
        .context("opening the database")?;
    let keyring = pombo_store::sealed::Keyring::from_config(&config.encryption)?;
    pombo_store::sealed::install(keyring.clone());
    let providers = Providers::new(&config, db.clone(), keyring)?;
    let client = connect_temporal(&config.temporal).await?;
    let objects = object_store(&config);
    match retention::ensure_schedule(&client, &config.temporal, &config.retention).await {
        Ok(change) => tracing::info!(
            schedule = %config.retention.schedule_id,
            days = config.retention.days,
            ?change,
            "retention schedule"
        ),
        // Sending matters more than purging: the next start tries again.
        Err(e) => tracing::error!(error = %format!("{e:#}"), "retention schedule not set"),
    }
    match hub::ensure_schedules(&client, &config.temporal, &config.hub).await {
        Ok((ping, import)) => tracing::info!(?ping, ?import, "chat hub schedules"),
        Err(e) => tracing::error!(error = %format!("{e:#}"), "chat hub schedules not set"),
    }

    let renderer = pombo_renderer::Renderer::start(&config.render)
        .await
        .context("starting the render processes")?;
    let activities = NotificationActivities::new(db.clone(), providers, renderer)
        .with_files(SendFiles::new(objects.clone(), &config.storage))
        .with_public_base(api_base(&config));
    let inbound_media = InboundMediaActivities::new(
        db.clone(),
        activities.providers(),
        objects.clone(),
        &config.storage,
    );
    let retention =
        RetentionActivities::new(db.clone(), objects.clone(), config.retention.event_days);
    let webhooks = WebhookActivities::new(
        db.clone(),
        activities.providers().outbound().policy(),
        &config.webhooks,
    )
    .context("building the webhook client")?;
    let wake_forwarder: pombo_activities::hub::WakeForwarder = {
        let (client, temporal) = (client.clone(), config.temporal.clone());
        let heartbeat = config.delivery.heartbeat_timeout_secs;
        Arc::new(move |tenant_id, platform_id| {
            let (client, temporal) = (client.clone(), temporal.clone());
            Box::pin(async move {
                let why = pombo_contract::hub::Wake::PlatformUp;
                if let Err(e) = pombo_starter::hub::wake(
                    &client,
                    &temporal,
                    heartbeat,
                    tenant_id,
                    platform_id,
                    why,
                )
                .await
                {
                    tracing::warn!(%platform_id, error = %e, "hub forwarder not woken; the sweep will");
                }
            })
        })
    };
    let hub_activities = HubActivities::new(db.clone(), activities.providers().outbound().policy())
        .context("building the hub's client")?
        .with_wake(wake_forwarder)
        .with_files(SendFiles::new(objects.clone(), &config.storage));
    let runtime = Runtime::from_current_tokio(Default::default())?;
    // One SDK worker per priority queue, each with slots of its own (see
    // `pombo_contract::workflow::task_queue`): every workflow and activity type is
    // registered on each, since a batch or a purge runs at its own priority too.
    let gate = priority_gate::PriorityGate::new(
        Duration::from_millis(config.temporal.yield_to_urgent_ms)
            .min(Duration::from_secs(config.delivery.heartbeat_timeout_secs) / 2),
    );
    let mut workers = Vec::with_capacity(Priority::ALL.len());
    for priority in Priority::ALL {
        let queue = task_queue(&config.temporal.task_queue, priority);
        let slots = config.temporal.slots.of(priority);
        let options = WorkerOptions::new(queue.clone())
            .register_workflow::<NotificationWorkflow>()?
            .register_workflow::<BatchWorkflow>()?
            .register_workflow::<RetentionWorkflow>()?
            .register_workflow::<InboundMediaWorkflow>()?
            .register_workflow::<WebhookDeliveryWorkflow>()?
            .register_workflow::<HubForwardWorkflow>()?
            .register_workflow::<HubCheckWorkflow>()?
            .register_activities(retention.clone())
            .register_activities(hub_activities.clone())
            .register_activities(webhooks.clone())
            .register_activities(inbound_media.clone())
            .register_activities(activities.clone())
            .register_activities(BatchActivities::new(activities.clone()))
            .tuner(fixed_slots(slots))
            .activity_inbound_interceptor(gate.interceptor(priority))
            // A worker that dies mid-task: its sticky workflow tasks move to other workers fast.
            .sticky_queue_schedule_to_start_timeout(Duration::from_secs(5))
            // Every activity goes through Temporal's matcher, which orders a backlog by
            // priority and fairness key. Eager execution hands a workflow's next activity
            // straight back to the worker that completed its workflow task, past the queue.
            .max_eager_activity_reservations_per_workflow_task(0)
            .graceful_shutdown_period(Duration::from_secs(10))
            .build();
        workers.push(Worker::new(&runtime, client.clone(), options)?);
        tracing::info!(task_queue = %queue, slots, "worker started");
    }
    let stops: Vec<_> = workers.iter().map(|w| w.shutdown_handle()).collect();
    // This process's starter: on the connection its workers are registered on, so that
    // Temporal hands each new workflow's first task straight back to them.
    let starter = (config.temporal.starts == WorkflowStarts::Worker).then(|| {
        AbortOnDrop(tokio::spawn(pombo_starter::start_claimed_forever(
            client.clone(),
            db.clone(),
            config.temporal.clone(),
            config.delivery.clone(),
        )))
    });

    // Files people send in: fetched whichever process starts notifications.
    let media_starter = AbortOnDrop(tokio::spawn(pombo_starter::media::start_claimed_forever(
        client.clone(),
        db.clone(),
        config.temporal.clone(),
    )));

    // Webhooks: events fanned out into deliveries, and their workflows started.
    let first_attempt: pombo_starter::webhooks::FirstAttempt = {
        let webhooks = Arc::new(webhooks.clone());
        Arc::new(move |delivery, endpoint, last| {
            let webhooks = webhooks.clone();
            Box::pin(async move {
                let delivery_id = delivery.id;
                match webhooks.first_attempt(delivery, endpoint, last).await {
                    Ok(outcome) => Some(outcome),
                    Err(e) => {
                        tracing::warn!(%delivery_id, error = ?e, "first webhook attempt not made; its workflow makes it");
                        None
                    }
                }
            })
        })
    };
    let webhook_starts = pombo_starter::webhooks::Starts::new(
        client.clone(),
        db.clone(),
        config.temporal.clone(),
        config.webhooks.clone(),
        config
            .webhooks
            .first_attempt_in_worker
            .then_some(first_attempt),
    );
    let webhook_fan_out = AbortOnDrop(tokio::spawn(pombo_starter::webhooks::fan_out_forever(
        webhook_starts.clone(),
    )));
    let webhook_starter = AbortOnDrop(tokio::spawn(
        pombo_starter::webhooks::start_claimed_forever(webhook_starts),
    ));

    // The hub: forwarders of platforms owed old forwards woken (a lost wake delays, never
    // loses).
    let hub_waker = AbortOnDrop(tokio::spawn(pombo_starter::hub::wake_waiting_forever(
        client.clone(),
        db.clone(),
        config.temporal.clone(),
        config.delivery.heartbeat_timeout_secs,
    )));

    let run = futures::future::try_join_all(workers.iter_mut().map(|w| w.run()));
    tokio::pin!(run);
    tokio::select! {
        result = &mut run => { result?; }
        () = shutdown => {
            tracing::info!("shutting down: finishing in-flight tasks");
            // Nothing new is claimed; a claim cut short runs out and another process starts it.
            drop(starter);
            drop(media_starter);
            drop(webhook_fan_out);
            drop(webhook_starter);
            drop(hub_waker);
            stops.iter().for_each(|stop| stop());
            run.await?;
        }
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// The same number of slots for each kind of task of one queue.
fn fixed_slots(slots: usize) -> TunerHolder {
    TunerHolder::builder()
        .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(slots))
        .activity_task_slot_supplier(FixedSizeSlotSupplier::new(slots))
        .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(slots))
        .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
        .build()
}

/// The object storage of uploaded files, for attachments and retention. A configuration
/// that cannot work leaves the worker without it (messages with files then wait for one
/// that has it) rather than stopping every other send.
fn object_store(config: &Config) -> Option<Arc<ObjectStore>> {
    match ObjectStore::new(&config.storage) {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => {
            tracing::error!(error = %e, "object storage unusable; files cannot be sent or purged");
            None
        }
    }
}

/// Re-seals provider credentials and personal data (notifications, recipients, contacts,
/// messages) sealed with any key other than `encryption.current_key`: after it, older keys
/// can be removed.
pub async fn reseal(config: &Config) -> anyhow::Result<()> {
    let db = pombo_store::open(&config.database_url)
        .await
        .context("opening the database")?;
    let keyring = pombo_store::sealed::Keyring::from_config(&config.encryption)?
        .context("encryption.keys is empty: nothing to re-seal with")?;
    pombo_store::sealed::install(Some(keyring.clone()));
    let accounts = pombo_store::provider_accounts::reseal_all(&db, &keyring).await?;
    let notifications = pombo_store::notifications::reseal_all(&db).await?;
    let recipients = pombo_store::recipients::reseal_all(&db).await?;
    let conversations = pombo_store::conversations::reseal_all(&db).await?;
    tracing::info!(
        accounts,
        notifications,
        recipients,
        conversations,
        key = keyring.current_key_id(),
        "re-sealed"
    );
    println!(
        "re-sealed {accounts} provider accounts, {notifications} notifications, {recipients} recipient profiles and {conversations} contacts and messages with key `{}`",
        keyring.current_key_id()
    );
    Ok(())
}

/// Serves the process's Prometheus metrics (`GET /metrics`) on `address` in the background,
/// until the returned guard is dropped.
async fn serve_metrics(address: SocketAddr) -> anyhow::Result<AbortOnDrop> {
    let handle = pombo_activities::telemetry::install_recorder()
        .context("installing the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address} (worker_metrics_listen) for the metrics"))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                handle.render(),
            )
        }),
    );
    tracing::info!(%address, "worker metrics listening");
    Ok(AbortOnDrop(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the worker metrics server stopped");
        }
    })))
}

/// Stops a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects to Temporal, waiting for it while it starts (as under `make run`, where the
/// server and the worker start together).
pub async fn connect_temporal(config: &TemporalConfig) -> anyhow::Result<Client> {
    use pombo_starter::connection::{ConnectError, connect};
    let mut delay = Duration::from_millis(200);
    let mut waited = Duration::ZERO;
    loop {
        match connect(config, None).await {
            Ok(client) => return Ok(client),
            Err(e @ ConnectError::Unreachable { .. }) if waited < Duration::from_secs(60) => {
                tracing::warn!(error = %e, "Temporal not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                waited += delay;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The API's address as a person's mail client reaches it: `api.public_url`, else the
/// address the API listens on (`make run`); `None` when neither says (a port picked at
/// start), and emails then carry no unsubscribe link.
fn api_base(config: &Config) -> Option<String> {
    if let Some(url) = &config.api.public_url {
        return Some(url.clone());
    }
    let listen = config.listen;
    (listen.port() != 0 && !listen.ip().is_unspecified()).then(|| format!("http://{listen}"))
}
