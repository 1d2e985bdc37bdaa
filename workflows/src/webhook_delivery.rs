//! The webhook delivery workflow: one event to one endpoint (`pombo_contract::webhooks`).
//! An attempt at once (or none, when the starting worker made it: `first_attempt_failed`),
//! then one after each step of the schedule (jittered, stretched by a
//! receiver's `Retry-After`), on durable timers no worker holds. An attempt the endpoint's
//! circuit breaker holds back is not counted: the workflow waits as told and tries again.
//! The attempt's own failures (the database out) are Temporal's retries of the activity.

use std::time::Duration;

use pombo_contract::webhooks::{
    AttemptInput, AttemptOutcome, DeliveryOutcome, WebhookActivities, WebhookDeliveryInput,
    wait_before,
};
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

/// Failure type of a delivery whose every attempt failed.
pub const DELIVERY_FAILED: &str = "WebhookDeliveryFailed";

#[workflow]
#[derive(Default)]
pub struct WebhookDeliveryWorkflow {}

#[workflow_methods]
impl WebhookDeliveryWorkflow {
    #[run(name = pombo_contract::webhooks::WEBHOOK_DELIVERY_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: WebhookDeliveryInput,
    ) -> WorkflowResult<DeliveryOutcome> {
        let retries = u32::try_from(input.schedule_secs.len()).unwrap_or(u32::MAX);
        let mut attempts = 0u32;
        let mut slot_reserved = false;
        // Most deliveries succeed at once: the starting worker makes the first attempt
        // itself, and a workflow exists only for those that need retries.
        if let Some(first) = &input.first_attempt_failed {
            attempts = 1;
            let wait = wait_before(
                &input.schedule_secs,
                input.delivery_id,
                0,
                first.retry_after_secs,
            );
            ctx.timer(wait).await;
        }
        loop {
            let last = attempts >= retries;
            let outcome = ctx
                .execute_activity(
                    WebhookActivities::attempt,
                    AttemptInput {
                        delivery_id: input.delivery_id,
                        attempt: attempts + 1,
                        last,
                        slot_reserved,
                    },
                    crate::policy::webhook_attempt(input.attempt_timeout_secs),
                )
                .await?;
            match outcome {
                AttemptOutcome::Delivered => {
                    return Ok(DeliveryOutcome::Delivered {
                        attempts: attempts + 1,
                    });
                }
                AttemptOutcome::Abandoned { reason } => {
                    return Ok(DeliveryOutcome::Abandoned { attempts, reason });
                }
                AttemptOutcome::Paused {
                    wait_millis,
                    slot_reserved: reserved,
                } => {
                    slot_reserved = reserved;
                    ctx.timer(Duration::from_millis(wait_millis)).await;
                }
                AttemptOutcome::Failed { retry_after_secs } => {
                    attempts += 1;
                    slot_reserved = false;
                    if last {
                        // Failed in the Temporal UI, like a failed notification: an
                        // operator filters them there (and recovers them through the API).
                        return Err(ApplicationFailure::builder(format!(
                            "every attempt failed ({attempts}); see the endpoint's attempts"
                        ))
                        .type_name(DELIVERY_FAILED.to_owned())
                        .non_retryable(true)
                        .build()
                        .into());
                    }
                    let wait = wait_before(
                        &input.schedule_secs,
                        input.delivery_id,
                        attempts - 1,
                        retry_after_secs,
                    );
                    ctx.timer(wait).await;
                }
            }
        }
    }
}
