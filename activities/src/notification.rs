//! The activities of a notification workflow, implementing the definitions declared in
//! `pombo_contract::activities`. Each is idempotent: Temporal may run it again after a
//! crash, so each first reads what the database already records.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use pombo_contract::{
    Channel, NotificationStatus,
    activities::{self as defs, MarkFailedInput, RenderInput, SendInput, SendOutput, StatusOutput},
    content::RenderedEmail,
    workflow::failure_types,
};
use pombo_store::{
    Db, StoreError,
    notifications::{self, AttemptOutcome, Notification, Transition},
};
use sea_orm::Set;
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::channels::{Accepted, DeliveryError, email::smtp::SmtpProvider};

pub struct NotificationActivities {
    db: Db,
    smtp: SmtpProvider,
}

impl NotificationActivities {
    pub fn new(db: Db, smtp: SmtpProvider) -> Self {
        NotificationActivities { db, smtp }
    }
}

fn non_retryable(type_name: &str, message: String) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message)
            .type_name(type_name.to_owned())
            .non_retryable(true)
            .build(),
    )
}

fn status_of(n: &Notification) -> Result<NotificationStatus, ActivityError> {
    n.status
        .parse()
        .map_err(|e: String| non_retryable(failure_types::BAD_NOTIFICATION, e))
}

/// Runs `work` while telling Temporal the attempt is alive. A worker that dies stops
/// heartbeating, and its attempt is retried after the heartbeat timeout, not after the
/// (longer) attempt timeout; a live attempt is never declared lost while it works.
async fn with_heartbeats<F: std::future::Future>(ctx: &ActivityContext, work: F) -> F::Output {
    let every = ctx
        .info()
        .heartbeat_timeout
        .map(|t| t / 3)
        .unwrap_or(Duration::from_secs(5))
        .max(Duration::from_millis(100));
    tokio::pin!(work);
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticks.tick() => {
                if let Err(e) = ctx.record_heartbeat(()).await {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
            }
        }
    }
}

/// Runs a provider call so that it ends before the attempt's Temporal deadline, leaving a
/// margin to record the outcome. Past the deadline Temporal starts another attempt; one that
/// kept running would then send the same message a second time.
async fn within_deadline<F>(ctx: &ActivityContext, call: F) -> Result<Accepted, DeliveryError>
where
    F: std::future::Future<Output = Result<Accepted, DeliveryError>>,
{
    let Some(left) = ctx
        .info()
        .deadline
        .and_then(|d| d.duration_since(SystemTime::now()).ok())
    else {
        return call.await;
    };
    let margin = (left / 4).min(Duration::from_secs(5));
    match tokio::time::timeout(left - margin, call).await {
        Ok(outcome) => outcome,
        Err(_) => Err(DeliveryError::retryable(format!(
            "the provider did not answer within {:.1}s, before the attempt's deadline",
            (left - margin).as_secs_f64()
        ))),
    }
}

/// Records that the provider accepted the message. Failing here would make Temporal retry
/// the whole send, and the provider would get the message twice, so a database error is
/// retried in place for as long as the attempt may run.
async fn record_sent(
    db: &Db,
    notification_id: uuid::Uuid,
    attempt_id: uuid::Uuid,
    provider: &str,
    provider_message_id: Option<String>,
) -> Result<(), StoreError> {
    let mut pause = Duration::from_millis(50);
    loop {
        match notifications::record_sent(
            db,
            notification_id,
            attempt_id,
            provider,
            provider_message_id.clone(),
        )
        .await
        {
            Ok(_) => return Ok(()),
            Err(StoreError::Db(e)) => {
                tracing::warn!(%notification_id, error = %e, "recording a sent message failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

async fn load(db: &Db, id: uuid::Uuid) -> Result<Notification, ActivityError> {
    match notifications::get(db, id).await {
        Ok(n) => Ok(n),
        Err(StoreError::NotFound) => Err(non_retryable(
            failure_types::BAD_NOTIFICATION,
            format!("notification {id} does not exist"),
        )),
        Err(e) => Err(e.into()),
    }
}

#[activities]
impl NotificationActivities {
    #[activity(definition = defs::Render)]
    pub async fn render(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RenderInput,
    ) -> Result<StatusOutput, ActivityError> {
        let n = load(&self.db, input.notification_id).await?;
        let status = status_of(&n)?;
        if status != NotificationStatus::Pending && status != NotificationStatus::Sending {
            // Already past rendering (a retried activity, or a redriven workflow).
            return Ok(StatusOutput { status });
        }
        let rendered = crate::render::render(&n)
            .map_err(|e| non_retryable(failure_types::RENDER, e.to_string()))?;
        notifications::store_rendered(&self.db, n.id, rendered).await?;
        let status =
            match notifications::transition(&self.db, n.id, NotificationStatus::Sending, |_| {})
                .await?
            {
                Transition::Applied(row) => status_of(&row)?,
                Transition::Refused { current } => current,
            };
        Ok(StatusOutput { status })
    }

    #[activity(definition = defs::Send)]
    pub async fn send(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SendInput,
    ) -> Result<SendOutput, ActivityError> {
        with_heartbeats(&ctx, self.send_once(&ctx, input)).await
    }

    #[activity(definition = defs::MarkFailed)]
    pub async fn mark_failed(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: MarkFailedInput,
    ) -> Result<StatusOutput, ActivityError> {
        let reason = input.reason.clone();
        let status = match notifications::transition(
            &self.db,
            input.notification_id,
            NotificationStatus::Failed,
            |row| row.last_error = Set(Some(reason.clone())),
        )
        .await?
        {
            Transition::Applied(row) => status_of(&row)?,
            Transition::Refused { current } => current,
        };
        Ok(StatusOutput { status })
    }
}

impl NotificationActivities {
    async fn send_once(
        &self,
        ctx: &ActivityContext,
        input: SendInput,
    ) -> Result<SendOutput, ActivityError> {
        let n = load(&self.db, input.notification_id).await?;
        match status_of(&n)? {
            NotificationStatus::Sent | NotificationStatus::Delivered | NotificationStatus::Read => {
                return Ok(SendOutput {
                    provider: n.provider.unwrap_or_default(),
                    provider_message_id: n.provider_message_id,
                    already_sent: true,
                });
            }
            NotificationStatus::Failed | NotificationStatus::Cancelled => {
                return Err(non_retryable(
                    failure_types::BAD_NOTIFICATION,
                    format!("notification is {}, not sending it", n.status),
                ));
            }
            NotificationStatus::Pending | NotificationStatus::Sending => {}
        }
        let Some(rendered) = n.rendered.clone() else {
            return Err(non_retryable(
                failure_types::BAD_NOTIFICATION,
                "notification has no rendered content: render must run first".into(),
            ));
        };
        let channel: Channel = n
            .channel
            .parse()
            .map_err(|e: String| non_retryable(failure_types::BAD_NOTIFICATION, e))?;

        let (provider, outcome) = match channel {
            Channel::Email => {
                let email: RenderedEmail = serde_json::from_value(rendered).map_err(|e| {
                    non_retryable(
                        failure_types::BAD_NOTIFICATION,
                        format!("rendered email: {e}"),
                    )
                })?;
                let provider = crate::channels::email::smtp::PROVIDER;
                let attempt_id = notifications::start_attempt(
                    &self.db,
                    n.id,
                    ctx.info().attempt as i32,
                    provider,
                )
                .await?;
                let outcome =
                    within_deadline(ctx, self.smtp.send(n.id, &n.recipient, &email)).await;
                (provider, (attempt_id, outcome))
            }
            other => {
                return Err(non_retryable(
                    failure_types::BAD_NOTIFICATION,
                    format!("channel `{other}` has no provider in this build"),
                ));
            }
        };

        let (attempt_id, outcome) = outcome;
        match outcome {
            Ok(accepted) => {
                record_sent(
                    &self.db,
                    n.id,
                    attempt_id,
                    provider,
                    accepted.provider_message_id.clone(),
                )
                .await?;
                Ok(SendOutput {
                    provider: provider.to_owned(),
                    provider_message_id: accepted.provider_message_id,
                    already_sent: false,
                })
            }
            Err(DeliveryError::Retryable {
                message: reason, ..
            }) => {
                notifications::finish_attempt(
                    &self.db,
                    attempt_id,
                    n.id,
                    AttemptOutcome::RetryableError,
                    Some(&reason),
                )
                .await?;
                Err(ActivityError::application(ApplicationFailure::new(reason)))
            }
            Err(DeliveryError::Permanent {
                message: reason, ..
            }) => {
                notifications::finish_attempt(
                    &self.db,
                    attempt_id,
                    n.id,
                    AttemptOutcome::PermanentError,
                    Some(&reason),
                )
                .await?;
                Err(non_retryable(failure_types::PERMANENT_DELIVERY, reason))
            }
        }
    }
}
