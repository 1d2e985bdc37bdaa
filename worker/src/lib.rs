//! The Pombo worker: connects to the database and Temporal, and hosts the notification
//! workflow and its activities on the configured task queue. Any number of workers may run
//! against one Temporal server; Temporal spreads the work and re-runs what a dead one held.

use std::{future::Future, str::FromStr, time::Duration};

use anyhow::Context;
use pombo_activities::{NotificationActivities, routing::Providers};
use pombo_contract::{Config, config::TemporalConfig};
use pombo_workflows::NotificationWorkflow;
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, Url};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

/// Runs a worker until `shutdown` resolves, then drains in-flight tasks and returns.
///
/// The returned future is not `Send` (the SDK's worker runs on the current thread): run it
/// from `main` or a dedicated runtime.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let db = pombo_store::open(&config.database_url)
        .await
        .context("opening the database")?;
    let keyring = pombo_store::sealed::Keyring::from_config(&config.encryption)?;
    let providers = Providers::new(&config, db.clone(), keyring)?;
    let client = connect_temporal(&config.temporal).await?;

    let runtime = Runtime::from_current_tokio(Default::default())?;
    let options = WorkerOptions::new(config.temporal.task_queue.clone())
        .register_workflow::<NotificationWorkflow>()?
        .register_activities(NotificationActivities::new(db, providers))
        // A worker that dies mid-task: its sticky workflow tasks move to other workers fast.
        .sticky_queue_schedule_to_start_timeout(Duration::from_secs(5))
        .graceful_shutdown_period(Duration::from_secs(10))
        .build();
    let mut worker = Worker::new(&runtime, client, options)?;
    let stop = worker.shutdown_handle();
    tracing::info!(task_queue = %config.temporal.task_queue, "worker started");

    let run = worker.run();
    tokio::pin!(run);
    tokio::select! {
        result = &mut run => result?,
        () = shutdown => {
            tracing::info!("shutting down: finishing in-flight tasks");
            stop();
            run.await?;
        }
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// Connects to Temporal, waiting for it while it starts (as under `make run`, where the
/// server and the worker start together).
pub async fn connect_temporal(config: &TemporalConfig) -> anyhow::Result<Client> {
    let url = Url::from_str(&config.address)
        .with_context(|| format!("temporal.address `{}` is not a URL", config.address))?;
    let mut delay = Duration::from_millis(200);
    let mut waited = Duration::ZERO;
    loop {
        match Connection::connect(ConnectionOptions::new(url.clone()).build()).await {
            Ok(connection) => {
                return Ok(Client::new(
                    connection,
                    ClientOptions::new(config.namespace.clone()).build(),
                )?);
            }
            Err(e) if waited < Duration::from_secs(60) => {
                tracing::warn!(address = %config.address, error = %e, "Temporal not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                waited += delay;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("connecting to Temporal at {}", config.address));
            }
        }
    }
}
