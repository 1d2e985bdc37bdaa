//! The activities of a notification workflow, implementing the definitions declared in
//! `pombo_contract::activities`. Each is idempotent: Temporal may run it again after a
//! crash, so each first reads what the database already records.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use pombo_contract::{
    Channel, NotificationStatus,
    activities::{
        self as defs, CheckStatusInput, EscalateInput, EscalateOutput, MarkFailedInput,
        RenderInput, RouteInput, RouteOutput, SendInput, SendOutput, StatusOutput,
    },
    workflow::failure_types,
};
use pombo_store::{
    Db, StoreError,
    events::{self, NewEvent},
    notifications::{self, AttemptOutcome, Notification, Transition},
};
use sea_orm::Set;
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::{
    channels::{Accepted, DeliveryError, Outbound},
    routing::{Providers, ResolveError},
};

pub struct NotificationActivities {
    db: Db,
    providers: Providers,
}

impl NotificationActivities {
    pub fn new(db: Db, providers: Providers) -> Self {
        NotificationActivities { db, providers }
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

    #[activity(definition = defs::Route)]
    pub async fn route(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RouteInput,
    ) -> Result<RouteOutput, ActivityError> {
        let n = load(&self.db, input.notification_id).await?;
        let channel: Channel = n
            .channel
            .parse()
            .map_err(|e: String| non_retryable(failure_types::BAD_NOTIFICATION, e))?;
        let providers = self
            .providers
            .route(n.tenant_id, channel, &n.recipient)
            .await?;
        Ok(RouteOutput { providers })
    }

    #[activity(definition = defs::Send)]
    pub async fn send(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SendInput,
    ) -> Result<SendOutput, ActivityError> {
        with_heartbeats(&ctx, self.send_once(&ctx, input)).await
    }

    #[activity(definition = defs::CheckStatus)]
    pub async fn check_status(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CheckStatusInput,
    ) -> Result<StatusOutput, ActivityError> {
        let n = load(&self.db, input.notification_id).await?;
        Ok(StatusOutput {
            status: status_of(&n)?,
        })
    }

    #[activity(definition = defs::Escalate)]
    pub async fn escalate(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: EscalateInput,
    ) -> Result<EscalateOutput, ActivityError> {
        let Some(child) = notifications::escalate(&self.db, input.notification_id).await? else {
            return Ok(EscalateOutput { fallback_id: None });
        };
        let current = status_of(&load(&self.db, input.notification_id).await?)?;
        events::record(
            &self.db,
            input.notification_id,
            NewEvent {
                reason: Some(format!(
                    "{}; falling back to {} (notification {})",
                    input.reason, child.channel, child.id
                )),
                ..NewEvent::new(current, "worker", "fallback")
            },
        )
        .await?;
        Ok(EscalateOutput {
            fallback_id: Some(child.id),
        })
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
        if status == NotificationStatus::Failed {
            events::record(
                &self.db,
                input.notification_id,
                NewEvent {
                    reason: Some(input.reason),
                    ..NewEvent::new(status, "worker", "gave_up")
                },
            )
            .await?;
        }
        Ok(StatusOutput { status })
    }
}

impl NotificationActivities {
    /// Adds `sent` to the timeline and applies provider callbacks that arrived before we
    /// knew the message id. Returns the status after both.
    async fn after_sent(
        &self,
        id: uuid::Uuid,
        account: &str,
        provider_message_id: Option<&str>,
    ) -> Result<NotificationStatus, StoreError> {
        let recorded = events::record(
            &self.db,
            id,
            NewEvent {
                provider_message_id: provider_message_id.map(str::to_owned),
                ..NewEvent::new(NotificationStatus::Sent, "worker", "accepted")
            },
        )
        .await?;
        let Some(message_id) = provider_message_id else {
            return Ok(recorded.status);
        };
        Ok(events::claim_parked(&self.db, account, id, message_id)
            .await?
            .unwrap_or(recorded.status))
    }

    async fn send_once(
        &self,
        ctx: &ActivityContext,
        input: SendInput,
    ) -> Result<SendOutput, ActivityError> {
        let n = load(&self.db, input.notification_id).await?;
        match status_of(&n)? {
            status @ (NotificationStatus::Sent
            | NotificationStatus::Delivered
            | NotificationStatus::Read) => {
                return Ok(SendOutput {
                    provider: n.provider.unwrap_or_default(),
                    provider_message_id: n.provider_message_id,
                    already_sent: true,
                    status,
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
        let content = crate::render::rendered(&n)
            .map_err(|e| non_retryable(failure_types::BAD_NOTIFICATION, e))?;
        let account = &input.provider;
        let provider = match self.providers.resolve(account).await {
            Ok(p) => p,
            Err(ResolveError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(non_retryable(failure_types::BAD_PROVIDER, e.to_string())),
        };

        let attempt_id = notifications::start_attempt(
            &self.db,
            n.id,
            ctx.info().attempt as i32,
            &account.name,
            &account.kind,
        )
        .await?;
        let started = std::time::Instant::now();
        let outcome = within_deadline(
            ctx,
            provider.send(Outbound {
                notification_id: n.id,
                to: &n.recipient,
                content: &content,
            }),
        )
        .await;
        metrics::histogram!(
            "pombo_provider_call_seconds",
            "provider_type" => account.kind.clone(),
        )
        .record(started.elapsed().as_secs_f64());
        let outcome_label = match &outcome {
            Ok(_) => "sent",
            Err(e) if e.is_permanent() => "permanent_error",
            Err(_) => "retryable_error",
        };
        metrics::counter!(
            "pombo_send_attempts_total",
            "channel" => n.channel.clone(),
            "provider_type" => account.kind.clone(),
            "outcome" => outcome_label,
        )
        .increment(1);

        match outcome {
            Ok(accepted) => {
                record_sent(
                    &self.db,
                    n.id,
                    attempt_id,
                    &account.name,
                    accepted.provider_message_id.clone(),
                )
                .await?;
                let status = self
                    .after_sent(n.id, &account.name, accepted.provider_message_id.as_deref())
                    .await?;
                Ok(SendOutput {
                    provider: account.name.clone(),
                    provider_message_id: accepted.provider_message_id,
                    already_sent: false,
                    status,
                })
            }
            Err(error) => {
                let permanent = error.is_permanent();
                let message = match error.code() {
                    Some(code) => format!("{} [{code}]", error.message()),
                    None => error.message().to_owned(),
                };
                notifications::finish_attempt(
                    &self.db,
                    attempt_id,
                    n.id,
                    if permanent {
                        AttemptOutcome::PermanentError
                    } else {
                        AttemptOutcome::RetryableError
                    },
                    Some(&message),
                    error.code(),
                )
                .await?;
                let message = format!("{}: {message}", account.name);
                Err(match error {
                    DeliveryError::Permanent { .. } => {
                        non_retryable(failure_types::PERMANENT_DELIVERY, message)
                    }
                    DeliveryError::Retryable { retry_after, .. } => {
                        // When the provider said when to come back, that wins over the
                        // notification's interval: sooner is refused again.
                        ActivityError::application(
                            ApplicationFailure::builder(message)
                                .type_name("RetryableDeliveryError".to_owned())
                                .maybe_next_retry_delay(retry_after)
                                .build(),
                        )
                    }
                })
            }
        }
    }
}
