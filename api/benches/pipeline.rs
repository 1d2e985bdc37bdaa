//! `make bench`: end-to-end notifications/s (accept → render → send over SMTP to maildev →
//! recorded) against, in the same process and on the same Temporal server, bare
//! one-activity workflows/s; and the API's accept latency. Prints figures, asserts nothing.
//!
//! N is `POMBO_BENCH_N` (default 200); the database is SQLite unless `POMBO_TEST_DB=postgres`.

#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use pombo_contract::NotificationStatus;
use pombo_store::notifications::ListFilter;
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("POMBO_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let concurrency = 16;
    let app = support::spawn_app().await;

    // 1. Full pipeline.
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    let mut pending = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    for i in 0..n {
        let body = support::email_request(&support::unique_email(&format!("bench{i}")));
        let app = &app;
        pending.push(async move {
            let t = Instant::now();
            app.send(&body).await;
            t.elapsed()
        });
        if pending.len() >= concurrency {
            latencies.push(pending.next().await.unwrap());
        }
    }
    while let Some(l) = pending.next().await {
        latencies.push(l);
    }
    let accepted = start.elapsed();
    let filter = ListFilter {
        status: Some(NotificationStatus::Sent),
        limit: n as u64 + 1,
        ..Default::default()
    };
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap();
    loop {
        let sent = pombo_store::notifications::list(&app.db, tenant.id, &filter)
            .await
            .unwrap()
            .len();
        if sent >= n {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "only {sent}/{n} sent after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pipeline = start.elapsed();

    // 2. Bare one-activity workflows, same server, a worker in this process.
    let task_queue = format!("bench-bare-{}", uuid::Uuid::new_v4().simple());
    let temporal = app.config.temporal.clone();
    let tq = task_queue.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let client = pombo_worker::connect_temporal(&temporal).await.unwrap();
            let runtime = Runtime::from_current_tokio(Default::default()).unwrap();
            let options = WorkerOptions::new(tq)
                .register_workflow::<BareWorkflow>()
                .unwrap()
                .register_activities(BareActivities)
                .build();
            Worker::new(&runtime, client, options)
                .unwrap()
                .run()
                .await
                .unwrap();
        });
    });
    let client = app.temporal().await;
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let options =
            WorkflowStartOptions::new(task_queue.clone(), format!("{task_queue}-{i}")).build();
        handles.push(
            client
                .start_workflow(BareWorkflow::run, i as u64, options)
                .await
                .unwrap(),
        );
    }
    for handle in handles {
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap();
    }
    let bare = start.elapsed();

    latencies.sort();
    let per_s = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "\nPombo pipeline benchmark, N = {n}, database = {}",
        app.config.database_url.split(':').next().unwrap()
    );
    println!("{:<46} {:>10}", "measure", "value");
    println!(
        "{:<46} {:>10.1}",
        "notifications/s (accept → sent via SMTP)",
        per_s(pipeline)
    );
    println!(
        "{:<46} {:>10.1}",
        "bare one-activity workflows/s (same server)",
        per_s(bare)
    );
    println!(
        "{:<46} {:>10.2}",
        "ratio notifications / bare",
        per_s(pipeline) / per_s(bare)
    );
    println!(
        "{:<46} {:>10.1}",
        "accepted/s (POST, concurrency 16)",
        per_s(accepted)
    );
    println!(
        "{:<46} {:>10.1}",
        "accept latency p50 (ms)",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3
    );
    println!(
        "{:<46} {:>10.1}",
        "accept latency p99 (ms)",
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
}
