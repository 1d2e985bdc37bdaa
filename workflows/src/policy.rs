//! Every retry and timeout policy of the workflows' activities, in one file: the
//! Temporal side of the delivery policy whose rule, limits and permanent failure types are
//! in `pombo_contract::retry`. A workflow picks one of these per activity; none builds its
//! own. (Changing one changes what new schedules carry, never the order of commands: the
//! replay tests stay green.)

use std::time::Duration;

use pombo_contract::workflow::{NotificationWorkflowInput, failure_types};
use temporalio_common::{Priority, RetryPolicy};
use temporalio_sdk::{ActivityOptions, LocalActivityOptions};

/// Prepare (render, route) and the other bookkeeping: quick database work in the worker
/// that runs the workflow, as *local* activities. Each costs no round trip through
/// Temporal's task queue (only a marker in the history), which roughly halves the work per
/// notification. They are idempotent, so a worker that dies mid-way just has them run again
/// by the next worker. (A send's first attempt is a local activity too, with its own options:
/// [`first_attempt`]; its retries are regular activities: [`send`].)
pub(crate) fn bookkeeping() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .maximum_interval(Duration::from_secs(30))
                .maximum_attempts(10)
                .non_retryable_error_types([failure_types::RENDER, failure_types::BAD_NOTIFICATION])
                .build(),
        )
        .build()
}

/// The first attempt of a send, as a local activity: the attempt's timeout, no retry (the
/// workflow hands the next attempts to a regular activity). A long provider call keeps the
/// workflow task open: the SDK extends it with workflow-task heartbeats.
pub(crate) fn first_attempt(input: &NotificationWorkflowInput) -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(input.attempt_timeout_secs))
        .retry_policy(RetryPolicy::builder().maximum_attempts(1).build())
        .build()
}

/// Failures of a send that no retry can fix.
pub(crate) const SEND_NON_RETRYABLE: [&str; 3] = [
    failure_types::PERMANENT_DELIVERY,
    failure_types::BAD_NOTIFICATION,
    failure_types::BAD_PROVIDER,
];

/// The send: the notification's own retry rule (the seed's default is 3 tries, 5 minutes
/// apart), with permanent provider refusals never retried. `max_attempts` is what is left
/// of the rule after the first attempt (`send_first_here`), or 1 when the workflow runs
/// the retries itself (`send_rate_limited`).
pub(crate) fn send(
    input: &NotificationWorkflowInput,
    priority: Priority,
    max_attempts: u32,
) -> ActivityOptions {
    let interval = input.retry.interval();
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(input.attempt_timeout_secs))
        .heartbeat_timeout(Duration::from_secs(input.heartbeat_timeout_secs.max(1)))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(interval)
                .backoff_coefficient(1.0)
                .maximum_interval(interval)
                .maximum_attempts(max_attempts.max(1))
                .non_retryable_error_types(SEND_NON_RETRYABLE)
                .build(),
        )
        .priority(priority)
        .build()
}

/// A record that must land even if the database blips (a failure, a batch's end): retried
/// until it does.
pub(crate) fn until_recorded(priority: Priority) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .maximum_interval(Duration::from_secs(60))
                .build(),
        )
        .priority(priority)
        .build()
}

/// A chunk: long enough for a few hundred recipients behind a slow or rate-limited provider,
/// while the heartbeats tell a dead worker within the heartbeat timeout. Retried until it
/// runs: a chunk only fails when the database is out, and the batch should outlast that.
pub(crate) fn chunk(heartbeat_timeout_secs: u64, priority: Priority) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(6 * 3600))
        .heartbeat_timeout(Duration::from_secs(heartbeat_timeout_secs.max(1)))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .maximum_interval(Duration::from_secs(60))
                .build(),
        )
        .priority(priority)
        .build()
}

/// A batch is a few hundred row updates or object deletions; a database or object store
/// that is down now is tried a few times, then the run fails (visible in the Temporal UI)
/// and the next scheduled run tries again.
pub(crate) fn purge() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(300))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(5))
                .maximum_interval(Duration::from_secs(60))
                .maximum_attempts(5)
                .build(),
        )
        .build()
}

/// A file a person sent, fetched from the provider: a provider that is down now is tried
/// again with backoff for about half an hour (1 s, 2 s, 4 s, … up to 10 minutes apart, 12
/// attempts),
/// while refusals no retry can change fail at once. Each attempt is bounded by the download
/// of the largest file accepted.
pub(crate) fn media_fetch() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(300))
        .heartbeat_timeout(Duration::from_secs(30))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(600))
                .maximum_attempts(12)
                .non_retryable_error_types([pombo_contract::inbound_media::PERMANENT_MEDIA])
                .build(),
        )
        .build()
}

/// One webhook attempt: the POST's bound plus its records. Retried (the database out, the
/// worker gone) with backoff; the attempt number is the workflow's, so a retried attempt
/// is recorded once and the receiver drops the repeat by its `webhook-id`.
pub(crate) fn webhook_attempt(attempt_timeout_secs: u64) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(attempt_timeout_secs + 30))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .maximum_interval(Duration::from_secs(60))
                .build(),
        )
        .build()
}

/// A round of a hub platform's queue: up to a hundred POSTs of ten seconds at most, with
/// heartbeats so that a dead worker's round is taken up by another within the heartbeat
/// timeout. Retried while the database is out (a platform that is down is not an error:
/// the round says so and the workflow waits).
pub(crate) fn hub_drain(heartbeat_timeout_secs: u64) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(1800))
        .heartbeat_timeout(Duration::from_secs(heartbeat_timeout_secs.max(1)))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .maximum_interval(Duration::from_secs(60))
                .build(),
        )
        .build()
}

/// A scheduled check of every hub platform: ten seconds at most per platform, one after
/// another, heartbeating. Tried a few times (the database out); the next scheduled run
/// tries again anyway.
pub(crate) fn hub_check() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(3600))
        .heartbeat_timeout(Duration::from_secs(60))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(5))
                .maximum_interval(Duration::from_secs(60))
                .maximum_attempts(3)
                .build(),
        )
        .build()
}
