//! One durable workflow per notification: render → route → send (retried by Temporal's
//! policy, then failing over to the next provider account) → record. A notification that cannot be sent ends as a *failed workflow*: that is Pombo's
//! dead letter, visible and filterable in the Temporal UI and redriven from there or the API.

use std::time::Duration;

use pombo_contract::{
    NotificationStatus,
    activities::{
        CheckStatusInput, EscalateInput, MarkFailedInput, NotificationActivities, RenderInput,
        RouteInput, RouteOutput, SendInput, SendOutput,
    },
    delivery::DeliveryUpdate,
    workflow::{NotificationWorkflowInput, failure_types, search},
};
use serde::{Deserialize, Serialize};
use temporalio_common::{
    Priority, RetryPolicy, error::ApplicationFailure, protos::temporal::api::failure::v1::Failure,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, SyncWorkflowContext, WorkflowContext,
    WorkflowContextView, WorkflowResult, WorkflowTermination,
};

/// What a completed notification workflow returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationOutcome {
    pub status: NotificationStatus,
    pub provider: String,
    pub provider_message_id: Option<String>,
}

#[workflow]
#[derive(Default)]
pub struct NotificationWorkflow {
    status: Option<NotificationStatus>,
    /// Delivery updates received so far: a change wakes the wait for reports.
    updates: u64,
}

#[workflow_methods]
impl NotificationWorkflow {
    #[run(name = pombo_contract::workflow::NOTIFICATION_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: NotificationWorkflowInput,
    ) -> WorkflowResult<NotificationOutcome> {
        set_status(ctx, NotificationStatus::Pending);
        let id = input.notification_id;

        let rendered = ctx
            .execute_activity(
                NotificationActivities::render,
                RenderInput {
                    notification_id: id,
                },
                bookkeeping_options(&input),
            )
            .await;
        if let Err(e) = rendered {
            return fail(ctx, &input, e).await;
        }
        set_status(ctx, NotificationStatus::Sending);

        let route: RouteOutput = match ctx
            .execute_activity(
                NotificationActivities::route,
                RouteInput {
                    notification_id: id,
                },
                bookkeeping_options(&input),
            )
            .await
        {
            Ok(route) => route,
            Err(e) => return fail(ctx, &input, e).await,
        };
        if route.providers.is_empty() {
            let reason = format!(
                "no provider account can deliver the `{}` channel to this recipient",
                input.channel
            );
            return fail_with(ctx, &input, reason, failure_types::NO_PROVIDER.to_owned()).await;
        }

        // Each account gets the notification's whole retry rule; when it gives up (or
        // refuses for good), the next account takes over.
        let mut last_error = None;
        for provider in route.providers {
            let sent: Result<SendOutput, _> = ctx
                .execute_activity(
                    NotificationActivities::send,
                    SendInput {
                        notification_id: id,
                        provider,
                    },
                    send_options(&input),
                )
                .await;
            match sent {
                Ok(out) => {
                    set_status(ctx, out.status);
                    let status = await_reports(ctx, &input).await;
                    if !matches!(
                        status,
                        NotificationStatus::Delivered | NotificationStatus::Read
                    ) {
                        let reason = format!(
                            "not delivered within {} s (status `{status}`)",
                            input.confirmation_timeout_secs
                        );
                        escalate(ctx, &input, reason).await;
                    }
                    return Ok(NotificationOutcome {
                        status,
                        provider: out.provider,
                        provider_message_id: out.provider_message_id,
                    });
                }
                // Another account cannot fix a notification that is gone or cancelled.
                Err(e) if failure_type(&e) == Some(failure_types::BAD_NOTIFICATION) => {
                    return fail(ctx, &input, e).await;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let error = last_error.expect("at least one provider was tried");
        fail(ctx, &input, error).await
    }

    /// A provider's (or an operator's) report, already recorded in the database by the API.
    #[signal(name = pombo_contract::delivery::DELIVERY_SIGNAL)]
    pub fn delivery_update(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        update: DeliveryUpdate,
    ) {
        if self
            .status
            .is_none_or(|current| current.can_move_to(update.status))
        {
            self.status = Some(update.status);
        }
        self.updates += 1;
    }

    /// The status as the workflow knows it (the API reads the database row, which the
    /// activities keep in step).
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> Option<NotificationStatus> {
        self.status
    }
}

/// Moves the workflow's status forward (a report may already have moved it further) and
/// mirrors it in the `PomboStatus` search attribute.
fn set_status(ctx: &mut WorkflowContext<NotificationWorkflow>, status: NotificationStatus) {
    let status = ctx.state_mut(|s| {
        if s.status.is_none_or(|current| current.can_move_to(status)) {
            s.status = Some(status);
        }
        s.status.unwrap_or(status)
    });
    ctx.upsert_search_attributes([search::STATUS.value_set(status.as_str().to_owned())]);
}

/// Sends the notification's fallback (another channel), once, if it has one. Its own
/// workflow is started by the API's dispatch sweep.
async fn escalate(
    ctx: &mut WorkflowContext<NotificationWorkflow>,
    input: &NotificationWorkflowInput,
    reason: String,
) {
    if !input.has_fallback {
        return;
    }
    // Best effort: a fallback that cannot be created is in the activity's failure, visible
    // in the workflow's history; the notification's own outcome stands.
    let _ = ctx
        .execute_activity(
            NotificationActivities::escalate,
            EscalateInput {
                notification_id: input.notification_id,
                reason,
            },
            bookkeeping_options(input),
        )
        .await;
}

/// After the provider accepted: waits for its reports (signals) until the status is final
/// or the channel's confirmation timeout passes. Reports that come later are still recorded
/// by the API; the workflow just no longer waits for them.
async fn await_reports(
    ctx: &mut WorkflowContext<NotificationWorkflow>,
    input: &NotificationWorkflowInput,
) -> NotificationStatus {
    let current = |ctx: &WorkflowContext<NotificationWorkflow>| {
        ctx.state(|s| s.status.unwrap_or(NotificationStatus::Sent))
    };
    if input.confirmation_timeout_secs == 0 {
        return current(ctx);
    }
    let timeout = Duration::from_secs(input.confirmation_timeout_secs);
    let start = ctx.workflow_time();
    loop {
        let status = current(ctx);
        if status.is_terminal() {
            return status;
        }
        let elapsed = match (start, ctx.workflow_time()) {
            (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let Some(left) = timeout.checked_sub(elapsed).filter(|d| !d.is_zero()) else {
            break;
        };
        let seen = ctx.state(|s| s.updates);
        let timed_out = temporalio_sdk::workflows::select! {
            _ = ctx.timer(left) => true,
            _ = ctx.wait_condition(move |s: &NotificationWorkflow| s.updates != seen) => false,
        };
        set_status(ctx, current(ctx));
        if timed_out {
            break;
        }
    }
    // A signal can be lost (Temporal unreachable when the report came): the database,
    // where the API records every report first, has the last word.
    if let Ok(out) = ctx
        .execute_activity(
            NotificationActivities::check_status,
            CheckStatusInput {
                notification_id: input.notification_id,
            },
            bookkeeping_options(input),
        )
        .await
    {
        set_status(ctx, out.status);
    }
    current(ctx)
}

/// Records the failure, then fails the workflow with the provider's reason so that the
/// Temporal UI shows why, and lists it among failed workflows.
async fn fail(
    ctx: &mut WorkflowContext<NotificationWorkflow>,
    input: &NotificationWorkflowInput,
    error: ActivityExecutionError,
) -> WorkflowResult<NotificationOutcome> {
    // An operator cancelled it (the row is already `cancelled`): end as cancelled.
    if matches!(error, ActivityExecutionError::Cancelled(_)) {
        set_status(ctx, NotificationStatus::Cancelled);
        return Err(WorkflowTermination::cancelled());
    }
    let reason = root_cause(&error);
    let failure_type = failure_type(&error).unwrap_or("DeliveryFailed").to_owned();
    fail_with(ctx, input, reason, failure_type).await
}

async fn fail_with(
    ctx: &mut WorkflowContext<NotificationWorkflow>,
    input: &NotificationWorkflowInput,
    reason: String,
    failure_type: String,
) -> WorkflowResult<NotificationOutcome> {
    // The record must land even if the database blips: retried until it does.
    let recorded = ctx
        .execute_activity(
            NotificationActivities::mark_failed,
            MarkFailedInput {
                notification_id: input.notification_id,
                reason: reason.clone(),
            },
            ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
                .retry_policy(
                    RetryPolicy::builder()
                        .initial_interval(Duration::from_secs(1))
                        .maximum_interval(Duration::from_secs(60))
                        .build(),
                )
                .priority(priority(input))
                .build(),
        )
        .await;
    let status = match recorded {
        Ok(out) => out.status,
        Err(ActivityExecutionError::Cancelled(_)) => NotificationStatus::Cancelled,
        Err(e) => {
            return Err(
                ApplicationFailure::new(format!("recording the failure failed: {e}")).into(),
            );
        }
    };
    // The send refused because an operator cancelled the notification meanwhile.
    if status == NotificationStatus::Cancelled {
        set_status(ctx, NotificationStatus::Cancelled);
        return Err(WorkflowTermination::cancelled());
    }
    escalate(ctx, input, format!("failed: {reason}")).await;
    set_status(ctx, NotificationStatus::Failed);
    Err(ApplicationFailure::builder(reason)
        .type_name(failure_type)
        .non_retryable(true)
        .build()
        .into())
}

fn priority(input: &NotificationWorkflowInput) -> Priority {
    Priority::builder()
        .priority_key(input.priority.temporal_key())
        .build()
}

/// Render and bookkeeping: quick database work, retried briskly on transient errors.
fn bookkeeping_options(input: &NotificationWorkflowInput) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .maximum_interval(Duration::from_secs(30))
                .maximum_attempts(10)
                .non_retryable_error_types([failure_types::RENDER, failure_types::BAD_NOTIFICATION])
                .build(),
        )
        .priority(priority(input))
        .build()
}

/// The send: the notification's own retry rule (the seed's default is 3 tries, 5 minutes
/// apart), with permanent provider refusals never retried.
fn send_options(input: &NotificationWorkflowInput) -> ActivityOptions {
    let interval = Duration::from_secs(input.retry.interval_secs.max(1));
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(input.attempt_timeout_secs))
        .heartbeat_timeout(Duration::from_secs(input.heartbeat_timeout_secs.max(1)))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(interval)
                .backoff_coefficient(1.0)
                .maximum_interval(interval)
                .maximum_attempts(input.retry.max_attempts.max(1))
                .non_retryable_error_types([
                    failure_types::PERMANENT_DELIVERY,
                    failure_types::BAD_NOTIFICATION,
                    failure_types::BAD_PROVIDER,
                ])
                .build(),
        )
        .priority(priority(input))
        .build()
}

/// The innermost failure message: the provider's own words rather than "activity failed".
fn root_cause(error: &ActivityExecutionError) -> String {
    let Some(mut failure) = error.failure() else {
        return error.to_string();
    };
    while let Some(cause) = failure.cause.as_deref() {
        failure = cause;
    }
    if failure.message.is_empty() {
        error.to_string()
    } else {
        failure.message.clone()
    }
}

fn failure_type(error: &ActivityExecutionError) -> Option<&str> {
    use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
    let mut failure: &Failure = error.failure()?;
    loop {
        if let Some(FailureInfo::ApplicationFailureInfo(info)) = &failure.failure_info
            && !info.r#type.is_empty()
        {
            return Some(info.r#type.as_str());
        }
        failure = failure.cause.as_deref()?;
    }
}
