//! One durable workflow per notification: wait for `send_at` (if scheduled) → prepare
//! (render, route) → send (retried by Temporal's policy, then failing over to the next provider
//! account; a rate-limited account's sends each wait for a slot first) → record. A
//! notification that cannot be sent ends as a *failed workflow*: that is Pombo's dead
//! letter, visible and filterable in the Temporal UI and redriven from there or the API.

use std::time::Duration;

use crate::policy;
use pombo_contract::{
    NotificationStatus,
    activities::{
        CheckStatusInput, FallBackInput, MarkFailedInput, NotificationActivities, PrepareInput,
        PrepareOutput, ProviderRef, ReserveSendSlotInput, SendInput, SendOutput,
    },
    delivery::DeliveryUpdate,
    workflow::{NotificationWorkflowInput, failure_types, search, wait_until},
};
use serde::{Deserialize, Serialize};
use temporalio_common::{
    Priority, error::ApplicationFailure, protos::temporal::api::failure::v1::Failure,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, SyncWorkflowContext, TimerResult, WorkflowContext, WorkflowContextView,
    WorkflowResult, WorkflowTermination,
};

/// What a completed notification workflow returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationOutcome {
    pub status: NotificationStatus,
    pub provider: String,
    pub provider_message_id: Option<String>,
}

/// Patch id of ending a run as failed when a delivery report failed its notification (see
/// ARCHITECTURE.md, "Changing a workflow").
pub const REPORTED_FAILURE_FAILS_RUN: &str = "reported-failure-fails-run";

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
        // `PomboStatus` is already `pending`: the start set it (an upsert here would cost
        // the server a history event and a visibility write per notification).
        ctx.state_mut(|s| s.status = Some(NotificationStatus::Pending));
        let id = input.notification_id;

        // A scheduled send waits here, on a durable timer: no worker holds it, a restart
        // loses nothing, and an operator's cancel ends the wait and the workflow. The status
        // stays `pending` meanwhile (the notification shows its `send_at`).
        if let Some(now) = ctx.workflow_time() {
            let wait = input.wait_for_send_at(now);
            if !wait.is_zero() && !sleep(ctx, wait).await {
                return cancelled(ctx);
            }
        }

        // The recipient's preferences are read here, as it is about to go: a notification
        // they hold (quiet hours…) waits on a durable timer and is prepared again, so a
        // choice changed meanwhile is honoured when it wakes.
        let prepared = loop {
            let prepared = ctx
                .execute_local_activity(
                    NotificationActivities::prepare,
                    PrepareInput {
                        notification_id: id,
                    },
                    policy::bookkeeping(),
                )
                .await;
            match prepared {
                Err(e) => return fail(ctx, &input, e).await,
                // Cancelled (the row says so) but the workflow's cancellation never came.
                Ok(out) if out.status == NotificationStatus::Cancelled => return cancelled(ctx),
                Ok(out) if out.status == NotificationStatus::Skipped => {
                    set_status(ctx, NotificationStatus::Skipped);
                    return Ok(NotificationOutcome {
                        status: NotificationStatus::Skipped,
                        provider: String::new(),
                        provider_message_id: None,
                    });
                }
                Ok(PrepareOutput {
                    defer_until: Some(until),
                    ..
                }) => {
                    let wait = ctx
                        .workflow_time()
                        .map(|now| wait_until(Some(until), now))
                        .unwrap_or_default()
                        // A timer of zero fires at once; the activity asks again.
                        .max(Duration::from_millis(1));
                    if !sleep(ctx, wait).await {
                        return cancelled(ctx);
                    }
                }
                Ok(out) => break out,
            }
        };
        // `PomboStatus` says `sending` only once the workflow has to wait (a retry, a rate
        // limit's slot): a first attempt that goes through ends in this very workflow task.
        ctx.state_mut(|s| s.status = Some(NotificationStatus::Sending));

        if prepared.providers.is_empty() {
            let reason = format!(
                "no provider account can deliver the `{}` channel to this recipient",
                input.channel
            );
            return fail_with(ctx, &input, reason, failure_types::NO_PROVIDER.to_owned()).await;
        }

        // Each account gets the notification's whole retry rule; when it gives up (or
        // refuses for good), the next account takes over.
        let mut last_error = None;
        for provider in prepared.providers {
            let sent = if provider.rate_limited {
                send_rate_limited(ctx, &input, provider).await
            } else {
                send_first_here(ctx, &input, provider).await
            };
            let sent: Result<SendOutput, _> = match sent {
                Some(sent) => sent,
                None => return cancelled(ctx),
            };
            match sent {
                Ok(out) => {
                    set_status(ctx, out.status);
                    let status = await_reports(ctx, &input).await;
                    // `read` is final, so waiting for it is the same loop; only what spares
                    // the fallback differs (and only for runs that asked for it).
                    let (spared, wanted) = if input.fallback_unless_read {
                        (status == NotificationStatus::Read, "read")
                    } else {
                        (
                            matches!(
                                status,
                                NotificationStatus::Delivered | NotificationStatus::Read
                            ),
                            "delivered",
                        )
                    };
                    if !spared {
                        let reason = format!(
                            "not {wanted} within {} s (status `{status}`)",
                            input.confirmation_timeout_secs
                        );
                        fall_back(ctx, &input, reason).await;
                    }
                    // A report that failed the notification fails its run too, so that
                    // `ExecutionStatus = 'Failed'` in the Temporal UI lists every failed
                    // notification. Runs begun before this ended Completed, and replay so.
                    if status == NotificationStatus::Failed
                        && ctx.patched(REPORTED_FAILURE_FAILS_RUN)
                    {
                        return Err(ApplicationFailure::builder(
                            "a delivery report said the message failed (see the notification's last_error)",
                        )
                        .type_name(failure_types::REPORTED_FAILED.to_owned())
                        .non_retryable(true)
                        .build()
                        .into());
                    }
                    return Ok(NotificationOutcome {
                        status,
                        provider: out.provider,
                        provider_message_id: out.provider_message_id,
                    });
                }
                // Another account cannot fix a notification that is gone or cancelled.
                Err(e)
                    if matches!(e, ActivityExecutionError::Cancelled(_))
                        || failure_type(&e) == Some(failure_types::BAD_NOTIFICATION) =>
                {
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

/// Sends to an account without a rate limit. The first attempt runs as a local activity,
/// in the workflow task that prepared the notification: when it goes through (nearly
/// always), the notification is sent and recorded in one workflow task, with no activity
/// task through Temporal's queues — half the server's work and one round trip less, which
/// is what lets an alert out fast under load. A crash mid-attempt loses nothing: the
/// workflow task times out and another worker runs it again from the start, as it would
/// retry an activity whose worker stopped heartbeating. Only when the first attempt fails
/// and the rule allows more do the remaining attempts run as a regular activity, after the
/// interval (or the provider's `Retry-After`), retried by Temporal and shown by the Temporal
/// UI as a pending activity with its last failure. `None`: cancelled while waiting.
async fn send_first_here(
    ctx: &mut WorkflowContext<NotificationWorkflow>,
    input: &NotificationWorkflowInput,
    provider: ProviderRef,
) -> Option<Result<SendOutput, ActivityExecutionError>> {
    let first = ctx
        .execute_local_activity(
            NotificationActivities::send,
            SendInput {
                notification_id: input.notification_id,
                provider: provider.clone(),
                attempt: Some(1),
                attempts_before: 0,
            },
            policy::first_attempt(input),
        )
        .await;
    let max_attempts = input.retry.attempts();
    let error = match first {
        Err(e) if max_attempts > 1 && retryable(&e) => e,
        first => return Some(first),
    };
    set_status(ctx, NotificationStatus::Sending);
    if !sleep(
        ctx,
        next_retry_delay(&error).unwrap_or(input.retry.interval()),
    )
    .await
    {
        return None;
    }
    Some(
        ctx.execute_activity(
            NotificationActivities::send,
            SendInput {
                notification_id: input.notification_id,
                provider,
                attempt: None,
                attempts_before: 1,
            },
            policy::send(input, priority(input), max_attempts - 1),
        )
        .await,
    )
}

/// Sends to a rate-limited account. Every attempt first reserves the account's next send
/// slot, shared by all workers, and waits for it on a durable timer (no worker slot is held
/// while waiting), so a burst queues instead of being refused by the provider. Retries must
/// take a slot too, so the workflow runs this account's retries itself, by the
/// notification's rule: Temporal's retry policy would start the next attempt without asking
/// for one. `None`: the workflow was cancelled while waiting.
async fn send_rate_limited(
    ctx: &mut WorkflowContext<NotificationWorkflow>,
    input: &NotificationWorkflowInput,
    provider: ProviderRef,
) -> Option<Result<SendOutput, ActivityExecutionError>> {
    set_status(ctx, NotificationStatus::Sending);
    let max_attempts = input.retry.attempts();
    let interval = input.retry.interval();
    let mut attempt = 1;
    loop {
        let slot = ctx
            .execute_local_activity(
                NotificationActivities::reserve_send_slot,
                ReserveSendSlotInput {
                    provider: provider.clone(),
                },
                policy::bookkeeping(),
            )
            .await;
        match slot {
            Ok(slot) if slot.wait_ms > 0 => {
                if !sleep(ctx, Duration::from_millis(slot.wait_ms)).await {
                    return None;
                }
            }
            Ok(_) => {}
            Err(e) => return Some(Err(e)),
        }
        let sent = ctx
            .execute_activity(
                NotificationActivities::send,
                SendInput {
                    notification_id: input.notification_id,
                    provider: provider.clone(),
                    attempt: Some(attempt),
                    attempts_before: 0,
                },
                policy::send(input, priority(input), 1),
            )
            .await;
        match sent {
            Err(e) if attempt < max_attempts && retryable(&e) => {
                // The provider's `Retry-After`, when it gave one, wins over the interval.
                let pause = next_retry_delay(&e).unwrap_or(interval);
                if !sleep(ctx, pause).await {
                    return None;
                }
                attempt += 1;
            }
            sent => return Some(sent),
        }
    }
}

/// Waits on a durable timer. False when the workflow was cancelled meanwhile.
async fn sleep(ctx: &WorkflowContext<NotificationWorkflow>, wait: Duration) -> bool {
    ctx.timer(wait).await == TimerResult::Fired
}

/// Ends the workflow as cancelled (an operator cancelled the notification; its row is
/// already `cancelled`).
fn cancelled(
    ctx: &mut WorkflowContext<NotificationWorkflow>,
) -> WorkflowResult<NotificationOutcome> {
    set_status(ctx, NotificationStatus::Cancelled);
    Err(WorkflowTermination::cancelled())
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
async fn fall_back(
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
        .execute_local_activity(
            NotificationActivities::fall_back,
            FallBackInput {
                notification_id: input.notification_id,
                reason,
            },
            policy::bookkeeping(),
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
        .execute_local_activity(
            NotificationActivities::check_status,
            CheckStatusInput {
                notification_id: input.notification_id,
            },
            policy::bookkeeping(),
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
        return cancelled(ctx);
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
    let recorded = ctx
        .execute_activity(
            NotificationActivities::mark_failed,
            MarkFailedInput {
                notification_id: input.notification_id,
                reason: reason.clone(),
            },
            policy::until_recorded(priority(input)),
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
    fall_back(ctx, input, format!("failed: {reason}")).await;
    set_status(ctx, NotificationStatus::Failed);
    Err(ApplicationFailure::builder(reason)
        .type_name(failure_type)
        .non_retryable(true)
        .build()
        .into())
}

fn priority(input: &NotificationWorkflowInput) -> Priority {
    pombo_contract::workflow::weighted_priority(
        input.priority,
        input.tenant_id,
        input.fairness_weight,
    )
}

/// The failure and each of its causes, outermost first: the activity's failure wraps the
/// application failure the activity raised, which may wrap the provider's.
fn causes(error: &ActivityExecutionError) -> impl Iterator<Item = &Failure> {
    std::iter::successors(error.failure(), |f| f.cause.as_deref())
}

/// The application failures in the chain (what activities raised, with their type, retry
/// flag and asked-for delay).
fn application_failures(
    error: &ActivityExecutionError,
) -> impl Iterator<Item = &temporalio_common::protos::temporal::api::failure::v1::ApplicationFailureInfo>
{
    use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
    causes(error).filter_map(|f| match &f.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) => Some(info),
        _ => None,
    })
}

/// The innermost failure message: the provider's own words rather than "activity failed".
pub(crate) fn root_cause(error: &ActivityExecutionError) -> String {
    match causes(error).last() {
        Some(innermost) if !innermost.message.is_empty() => innermost.message.clone(),
        _ => error.to_string(),
    }
}

/// Whether [`policy::send`]'s retry policy would retry this failed send.
fn retryable(error: &ActivityExecutionError) -> bool {
    matches!(error, ActivityExecutionError::Failed(_))
        && !application_failures(error).any(|info| {
            info.non_retryable || policy::SEND_NON_RETRYABLE.contains(&info.r#type.as_str())
        })
}

/// The delay the activity asked for before its next attempt (a provider's `Retry-After`).
fn next_retry_delay(error: &ActivityExecutionError) -> Option<Duration> {
    application_failures(error)
        .find_map(|info| info.next_retry_delay.as_ref())
        .map(|delay| Duration::new(delay.seconds.max(0) as u64, delay.nanos.max(0) as u32))
}

/// The type of the outermost application failure that has one.
fn failure_type(error: &ActivityExecutionError) -> Option<&str> {
    application_failures(error)
        .map(|info| info.r#type.as_str())
        .find(|t| !t.is_empty())
}
