//! The chat hub's scheduled checks (`pombo_contract::hub::HubCheck`): started by the
//! Temporal Schedules the worker keeps (`hub.ping_every_secs`,
//! `hub.import_users_every_secs`), one activity over every platform.

use pombo_contract::hub::{HubActivities, HubCheck, HubCheckOutcome};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Default)]
pub struct HubCheckWorkflow {}

#[workflow_methods]
impl HubCheckWorkflow {
    #[run(name = pombo_contract::hub::HUB_CHECK_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        check: HubCheck,
    ) -> WorkflowResult<HubCheckOutcome> {
        Ok(ctx
            .execute_activity(HubActivities::check, check, crate::policy::hub_check())
            .await?)
    }
}
