//! The baseline: bare one-activity workflows on the same Temporal server, with a worker in
//! this process, started at the same concurrency as Pombo's requests.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use pombo_contract::config::TemporalConfig;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, Runtime, Worker, WorkerOptions, WorkflowContext, WorkflowResult,
    activities::{ActivityContext, ActivityError},
};

#[workflow]
#[derive(Default)]
pub struct BareWorkflow;

#[workflow_methods]
impl BareWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, n: u64) -> WorkflowResult<u64> {
        let out = ctx
            .execute_activity(
                BareActivities::echo,
                n,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(30)),
            )
            .await
            .map_err(|e| ApplicationFailure::new(e.to_string()))?;
        Ok(out)
    }
}

pub struct BareActivities;

#[activities]
impl BareActivities {
    #[activity]
    pub async fn echo(_ctx: ActivityContext, n: u64) -> Result<u64, ActivityError> {
        Ok(n)
    }
}

pub async fn workflows_per_second(temporal: &TemporalConfig, n: usize) -> anyhow::Result<f64> {
    let task_queue = format!("bench-bare-{}", uuid::Uuid::new_v4().simple());
    let config = temporal.clone();
    let tq = task_queue.clone();
    // The SDK's worker future is not `Send`: it gets a thread and a runtime of its own,
    // two threads as a worker process would have on this machine.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let client = pombo_worker::connect_temporal(&config)
                .await
                .expect("Temporal");
            let runtime = Runtime::from_current_tokio(Default::default()).expect("runtime");
            let options = WorkerOptions::new(tq)
                .register_workflow::<BareWorkflow>()
                .expect("workflow")
                .register_activities(BareActivities)
                .build();
            Worker::new(&runtime, client, options)
                .expect("worker")
                .run()
                .await
                .expect("worker runs");
        });
    });
    let client = pombo_worker::connect_temporal(temporal).await?;
    // Like Pombo's accepts: every workflow is started (32 starts at a time), then waited for.
    let start = Instant::now();
    let handles: Vec<_> = stream::iter(0..n)
        .map(|i| {
            let client = &client;
            let task_queue = &task_queue;
            async move {
                let options =
                    WorkflowStartOptions::new(task_queue.clone(), format!("{task_queue}-{i}"))
                        .build();
                client
                    .start_workflow(BareWorkflow::run, i as u64, options)
                    .await
                    .expect("start")
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    stream::iter(handles)
        .for_each_concurrent(64, |handle| async move {
            handle
                .get_result(WorkflowGetResultOptions::default())
                .await
                .expect("result");
        })
        .await;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}
