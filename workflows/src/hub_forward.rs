//! The hub's forwarder: one long-lived workflow per chat platform
//! (`pombo_contract::hub`), draining the platform's queue of forwards in order. Woken by a
//! signal when a forward is stored or the platform says it is back (`POST /hub/ping`);
//! otherwise it sleeps on a durable timer: a minute when idle (to notice a lost wake), a
//! growing backoff while the platform is down. Nothing is lost while it waits: the
//! forwards are rows, and the next round starts from the oldest pending one. It continues
//! as new every [`ROUNDS_PER_RUN`] rounds so its history stays small, and ends when the
//! platform is removed.

use pombo_contract::hub::{
    DrainOutcome, ForwardInput, HubActivities, IDLE_RECHECK, ROUNDS_PER_RUN, Wake, backoff,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ContinueAsNewOptions, SyncWorkflowContext, WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Default)]
pub struct HubForwardWorkflow {
    /// Wakes received so far (any reason): a change ends an idle wait.
    wakes: u64,
    /// Of which the platform said it is back: a change ends a wait for a platform down.
    ups: u64,
}

#[workflow_methods]
impl HubForwardWorkflow {
    #[run(name = pombo_contract::hub::HUB_FORWARD_WORKFLOW)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: ForwardInput) -> WorkflowResult<()> {
        let mut failures = input.failures;
        for _ in 0..ROUNDS_PER_RUN {
            // Wakes before the round are covered by it: only later ones cut the wait short.
            let (wakes, ups) = ctx.state(|s| (s.wakes, s.ups));
            let outcome = ctx
                .execute_activity(
                    HubActivities::drain,
                    input,
                    crate::policy::hub_drain(input.heartbeat_timeout_secs),
                )
                .await?;
            let (wait, down) = match outcome {
                DrainOutcome::Gone => return Ok(()),
                DrainOutcome::More { .. } => {
                    failures = 0;
                    continue;
                }
                DrainOutcome::Drained { .. } => {
                    failures = 0;
                    (IDLE_RECHECK, false)
                }
                DrainOutcome::Down { .. } => {
                    failures = failures.saturating_add(1);
                    (backoff(failures), true)
                }
            };
            temporalio_sdk::workflows::select! {
                _ = ctx.timer(wait) => {},
                _ = ctx.wait_condition(move |s: &HubForwardWorkflow| {
                    if down { s.ups != ups } else { s.wakes != wakes }
                }) => {},
            };
        }
        let next = ForwardInput { failures, ..input };
        let never = ctx.continue_as_new(next, ContinueAsNewOptions::default())?;
        match never {}
    }

    /// Something is owed to the platform, or it says it is back: drain now.
    #[signal(name = pombo_contract::hub::WAKE_SIGNAL)]
    pub fn wake(&mut self, _ctx: &mut SyncWorkflowContext<Self>, why: Wake) {
        self.wakes += 1;
        if why == Wake::PlatformUp {
            self.ups += 1;
        }
    }
}
