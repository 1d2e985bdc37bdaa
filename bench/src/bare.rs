//! The baseline: bare one-activity workflows on the same Temporal server, with a worker in
//! this process, started at the same concurrency as Pombo's requests.

use std::time::{Duration, Instant};

use futures::{StreamExt, future::BoxFuture, stream};
use pombo_contract::config::TemporalConfig;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::{
    HasWorkflowDefinition, data_converters::TemporalDeserializable, error::ApplicationFailure,
};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, LocalActivityOptions, Runtime, Worker, WorkerOptions, WorkflowContext,
    WorkflowResult,
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

/// The same activity as a local one: the whole workflow is one workflow task, as a
/// notification whose first attempt goes through is.
#[workflow]
#[derive(Default)]
pub struct BareLocalWorkflow;

#[workflow_methods]
impl BareLocalWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, n: u64) -> WorkflowResult<u64> {
        let out = ctx
            .execute_local_activity(
                BareActivities::echo,
                n,
                LocalActivityOptions::builder()
                    .start_to_close_timeout(Duration::from_secs(30))
                    .build(),
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

/// How bare workflows are started, and which.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    /// Started eagerly: see [`BareWorker`].
    pub eager: bool,
    /// [`BareLocalWorkflow`] instead of [`BareWorkflow`].
    pub local: bool,
}

/// A worker for bare workflows on a task queue of its own, and a client on the worker's own
/// connection: only such a client can start a workflow eagerly (the server hands the first
/// workflow task back in the start's response, to a slot this worker reserved).
pub struct BareWorker {
    pub client: temporalio_client::Client,
    pub task_queue: String,
}

impl BareWorker {
    pub async fn start(temporal: &TemporalConfig) -> anyhow::Result<Self> {
        let task_queue = format!("bench-bare-{}", uuid::Uuid::new_v4().simple());
        let config = temporal.clone();
        let tq = task_queue.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
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
                    .register_workflow::<BareLocalWorkflow>()
                    .expect("workflow")
                    .register_activities(BareActivities)
                    .build();
                let mut worker = Worker::new(&runtime, client.clone(), options).expect("worker");
                let _ = tx.send(client);
                worker.run().await.expect("worker runs");
            });
        });
        Ok(Self {
            client: rx.await?,
            task_queue,
        })
    }

    /// Starts one bare workflow; the returned future ends with it.
    async fn start_one(&self, id: String, i: u64, mode: Mode) -> BoxFuture<'static, ()> {
        let mut options = WorkflowStartOptions::new(self.task_queue.clone(), id).build();
        options.enable_eager_workflow_start = mode.eager;
        if mode.local {
            self.start_as(BareLocalWorkflow::run, i, options).await
        } else {
            self.start_as(BareWorkflow::run, i, options).await
        }
    }

    /// Starts one `workflow`; the future it returns ends with the workflow.
    async fn start_as<W>(
        &self,
        workflow: W,
        i: u64,
        options: WorkflowStartOptions,
    ) -> BoxFuture<'static, ()>
    where
        W: HasWorkflowDefinition<Input = u64> + Send + Sync + 'static,
        W::Output: TemporalDeserializable,
    {
        let handle = self
            .client
            .start_workflow(workflow, i, options)
            .await
            .expect("start");
        Box::pin(async move {
            handle
                .get_result(WorkflowGetResultOptions::default())
                .await
                .expect("result");
        })
    }

    /// `count` workflows started at once; the time each took from its start to its end.
    pub async fn burst(&self, count: usize, mode: Mode) -> Vec<Duration> {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let mut took: Vec<Duration> = stream::iter(0..count)
            .map(|i| {
                let run = &run;
                async move {
                    let t = Instant::now();
                    self.start_one(format!("burst-{run}-{i}"), i as u64, mode)
                        .await
                        .await;
                    t.elapsed()
                }
            })
            .buffer_unordered(count)
            .collect()
            .await;
        took.sort();
        took
    }

    /// Workflows/s of `n` workflows, started like Pombo's accepts (32 starts at a time),
    /// then waited for.
    pub async fn per_second(&self, n: usize, mode: Mode) -> f64 {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let start = Instant::now();
        let ends: Vec<_> = stream::iter(0..n)
            .map(|i| self.start_one(format!("rate-{run}-{i}"), i as u64, mode))
            .buffer_unordered(32)
            .collect()
            .await;
        stream::iter(ends).for_each_concurrent(64, |end| end).await;
        n as f64 / start.elapsed().as_secs_f64()
    }
}

pub async fn workflows_per_second(temporal: &TemporalConfig, n: usize) -> anyhow::Result<f64> {
    Ok(BareWorker::start(temporal)
        .await?
        .per_second(n, Mode::default())
        .await)
}
