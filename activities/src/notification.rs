//! The activities of a notification workflow, implementing the definitions declared in
//! `pombo_contract::activities`. Each is idempotent: Temporal may run it again after a
//! crash, so each first reads what the database already records.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};
use tracing::Instrument as _;

use pombo_contract::{
    NotificationStatus,
    activities::{
        self as defs, CheckStatusInput, FallBackInput, FallBackOutput, MarkFailedInput,
        PrepareInput, PrepareOutput, ProviderRef, ReserveSendSlotInput, ReserveSendSlotOutput,
        SendInput, SendOutput, StatusOutput,
    },
    preferences::Decision,
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

use crate::routing::{Providers, ResolveError};
use pombo_providers::{Accepted, DeliveryError, Outbound};

/// Cheap to clone: the batch activities share the same database and provider clients.
#[derive(Clone)]
pub struct NotificationActivities {
    pub(crate) db: Db,
    pub(crate) providers: Arc<Providers>,
    /// Uploaded files the messages refer to (attachments, media, images).
    pub(crate) files: crate::files::SendFiles,
    /// Whose turn it is to write, among this worker's batch chunks (SQLite only).
    pub(crate) writer: Arc<tokio::sync::Mutex<()>>,
    /// Renders the notifications' templates in memory-limited child processes.
    pub(crate) renderer: pombo_renderer::Renderer,
    /// The API's public address, for the links emails carry (unsubscribe, tracking).
    pub(crate) public_base: Option<String>,
}

impl NotificationActivities {
    /// The provider accounts' clients, shared with the other activities that call
    /// providers (inbound media).
    pub fn providers(&self) -> Arc<Providers> {
        self.providers.clone()
    }

    pub fn new(db: Db, providers: Providers, renderer: pombo_renderer::Renderer) -> Self {
        NotificationActivities {
            db,
            renderer,
            providers: Arc::new(providers),
            files: Default::default(),
            writer: Default::default(),
            public_base: None,
        }
    }

    /// Emails of every category but `alert` carry a one-click unsubscribe link to the API
    /// at `base` (`https://pombo.example.com`).
    pub fn with_public_base(mut self, base: Option<String>) -> Self {
        self.public_base = base.map(|b| b.trim_end_matches('/').to_owned());
        self
    }

    /// The email as it goes out when it tracks opens or clicks: its HTML with the pixel and
    /// the tracked links (the stored content keeps the original links, which a click is
    /// redirected to by position). `None`: sent as stored.
    fn tracked(
        &self,
        n: &Notification,
        content: &pombo_contract::content::Content,
    ) -> Option<pombo_contract::content::Content> {
        let (opens, clicks) = (
            n.track_opens.unwrap_or(false),
            n.track_clicks.unwrap_or(false),
        );
        let pombo_contract::content::Content::Email(email) = content else {
            return None;
        };
        let html = email.html.as_deref().filter(|_| opens || clicks)?;
        let base = self.public_base.as_deref()?;
        let token = pombo_store::signed_links::tracking_token(n.id)?;
        let pixel = format!("{base}/v1/t/{token}/open.gif");
        let html = pombo_contract::tracking::rewrite(
            html,
            clicks,
            |position| format!("{base}/v1/t/{token}/click/{position}"),
            opens.then_some(pixel.as_str()),
        );
        let mut email = email.clone();
        email.html = Some(html);
        Some(pombo_contract::content::Content::Email(email))
    }

    /// The one-click unsubscribe link of an email, if it gets one.
    fn unsubscribe_link(&self, n: &Notification) -> Option<pombo_providers::Unsubscribe> {
        if *n.channel != pombo_contract::Channel::Email {
            return None;
        }
        let category = crate::preferences::category(n);
        if category == pombo_contract::preferences::ALERT {
            return None;
        }
        let base = self.public_base.as_deref()?;
        let token = pombo_store::signed_links::unsubscribe_token(n.id, &category)?;
        Some(pombo_providers::Unsubscribe {
            url: format!("{base}/v1/unsubscribe/{token}"),
        })
    }

    /// Where messages' files are read from; without it, a message with files is retried
    /// until a worker that has object storage takes it.
    pub fn with_files(mut self, files: crate::files::SendFiles) -> Self {
        self.files = files;
        self
    }
}

/// Why one step for one notification did not go through. The single-notification
/// activities turn it into an activity failure ([`ActivityError`]); a batch chunk decides
/// per recipient (fail it, try the next account, retry it later).
#[derive(Debug)]
pub(crate) enum StepError {
    /// No retry can help: `kind` is one of [`failure_types`] (`BadNotification`,
    /// `RenderError`, `BadProvider`, `PermanentDeliveryError`).
    Fatal { kind: &'static str, message: String },
    /// Worth another attempt, after `retry_after` when the provider said so.
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Our own database failed: the whole activity attempt is retried.
    Store(StoreError),
}

impl StepError {
    fn fatal(kind: &'static str, message: impl Into<String>) -> Self {
        StepError::Fatal {
            kind,
            message: message.into(),
        }
    }
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        StepError::Store(e)
    }
}

impl From<StepError> for ActivityError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Fatal { kind, message } => non_retryable(kind, message),
            // When the provider said when to come back, that wins over the notification's
            // interval: sooner is refused again.
            StepError::Retryable {
                message,
                retry_after,
            } => ActivityError::application(
                ApplicationFailure::builder(message)
                    .type_name("RetryableDeliveryError".to_owned())
                    .maybe_next_retry_delay(retry_after)
                    .build(),
            ),
            StepError::Store(e) => e.into(),
        }
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

/// Runs `work` while telling Temporal the attempt is alive. A worker that dies stops
/// heartbeating, and its attempt is retried after the heartbeat timeout, not after the
/// (longer) attempt timeout; a live attempt is never declared lost while it works.
pub(crate) async fn with_heartbeats<F: std::future::Future>(
    ctx: &ActivityContext,
    work: F,
) -> F::Output {
    with_progress_heartbeats(ctx, work, || ()).await
}

/// [`with_heartbeats`], each heartbeat carrying `progress()` (shown in the Temporal UI).
pub(crate) async fn with_progress_heartbeats<F, P, D>(
    ctx: &ActivityContext,
    work: F,
    progress: P,
) -> F::Output
where
    F: std::future::Future,
    P: Fn() -> D,
    D: temporalio_common::data_converters::TemporalSerializable + 'static,
{
    let every = ctx
        .info()
        .heartbeat_timeout
        .map(|t| t / 3)
        .unwrap_or(Duration::from_secs(5))
        .max(Duration::from_millis(100));
    tokio::pin!(work);
    // The first beat after one period, not at once: a send that ends sooner (nearly all do)
    // costs Temporal no heartbeat at all — each one is a write of the workflow's state.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticks.tick() => {
                if let Err(e) = ctx.record_heartbeat(progress()).await {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
            }
        }
    }
}

/// How long a provider call may take so that it ends before the attempt's Temporal
/// deadline, leaving a margin to record the outcome. Past the deadline Temporal starts
/// another attempt; one that kept running would then send the same message a second time.
fn before_deadline(ctx: &ActivityContext) -> Option<Duration> {
    let left = ctx
        .info()
        .deadline
        .and_then(|d| d.duration_since(SystemTime::now()).ok())?;
    let margin = (left / 4).min(Duration::from_secs(5));
    Some(left - margin)
}

/// Runs a provider call for at most `limit`; past it, the call counts as a retryable failure.
async fn within<F>(limit: Option<Duration>, call: F) -> Result<Accepted, DeliveryError>
where
    F: std::future::Future<Output = Result<Accepted, DeliveryError>>,
{
    let Some(limit) = limit else {
        return call.await;
    };
    match tokio::time::timeout(limit, call).await {
        Ok(outcome) => outcome,
        Err(_) => Err(DeliveryError::retryable(format!(
            "the provider did not answer within {:.1}s, before the attempt's deadline",
            limit.as_secs_f64()
        ))),
    }
}

/// Records that providers accepted these messages, in the caller's transaction: status
/// `sent` with the provider's message id, the attempt closed, `sent` on the timeline, and
/// the provider callbacks that arrived before we knew the message id applied. A handful of
/// statements for all of them (a batch group's). Returns each one's status after, in order.
pub(crate) async fn record_accepted(
    db: &impl sea_orm::ConnectionTrait,
    sent: &[notifications::Sent<'_>],
) -> Result<Vec<NotificationStatus>, StoreError> {
    let kept = notifications::record_sent(db, sent).await?;
    // Also for one kept from `sent` (cancelled during the call): the provider has it.
    let accepted: Vec<_> = sent
        .iter()
        .map(|s| {
            let event = NewEvent {
                provider_message_id: s.provider_message_id.map(str::to_owned),
                ..NewEvent::new(NotificationStatus::Sent, "worker", "accepted")
            };
            (s.notification_id, event)
        })
        .collect();
    events::insert_all(db, &accepted).await?;
    let claimed = events::claim_parked_all(db, sent).await?;
    let status_in = |list: &[(uuid::Uuid, NotificationStatus)], id| {
        list.iter()
            .find(|(n, _)| *n == id)
            .map(|(_, status)| *status)
    };
    Ok(sent
        .iter()
        .map(|s| {
            status_in(&claimed, s.notification_id)
                .or_else(|| status_in(&kept, s.notification_id))
                .unwrap_or(NotificationStatus::Sent)
        })
        .collect())
}

/// [`record_accepted`] for one message, in its own transaction. Failing here would make
/// Temporal retry the whole send, and the provider would get the message twice, so a
/// database error is retried in place for as long as the attempt may run.
async fn record_accepted_alone(
    db: &impl sea_orm::TransactionTrait,
    sent: notifications::Sent<'_>,
) -> Result<NotificationStatus, StoreError> {
    use sea_orm::TransactionSession as _;
    let mut pause = Duration::from_millis(50);
    loop {
        let once = async {
            let tx = pombo_store::begin_write(db).await?;
            let statuses = record_accepted(&tx, &[sent]).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(statuses[0])
        };
        match once.await {
            Ok(status) => return Ok(status),
            Err(StoreError::Db(e)) => {
                tracing::warn!(notification_id = %sent.notification_id, error = %e, "recording a sent message failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Records a provider's refusal in the caller's transaction: the attempt closed with the
/// error, which becomes the notification's `last_error`. Returns the error to report, which
/// tells whether another attempt may succeed.
pub(crate) async fn record_refusal(
    db: &impl sea_orm::ConnectionTrait,
    n: &Notification,
    account: &ProviderRef,
    attempt_id: uuid::Uuid,
    error: DeliveryError,
) -> Result<StepError, StoreError> {
    let permanent = error.is_permanent();
    let message = match error.code() {
        Some(code) => format!("{} [{code}]", error.message()),
        None => error.message().to_owned(),
    };
    notifications::finish_attempt(
        db,
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
    Ok(match error {
        DeliveryError::Permanent { .. } => {
            StepError::fatal(failure_types::PERMANENT_DELIVERY, message)
        }
        DeliveryError::Retryable { retry_after, .. } => StepError::Retryable {
            message,
            retry_after,
        },
    })
}

/// Renders a loaded notification's content, stores it (also in `n`) and marks it
/// `sending`. Returns the status after; one already past rendering (a retried activity, a
/// redriven workflow) is left as it is.
pub(crate) async fn render_loaded(
    db: &impl sea_orm::ConnectionTrait,
    renderer: &pombo_renderer::Renderer,
    n: &mut Notification,
) -> Result<NotificationStatus, StepError> {
    let status = *n.status;
    if status != NotificationStatus::Pending && status != NotificationStatus::Sending {
        return Ok(status);
    }
    let rendered = crate::render::render(renderer, n)
        .await
        .map_err(render_failure)?;
    store_render(db, n, rendered).await
}

/// What a render that did not succeed means for the notification: a content that cannot
/// render fails it for good, a render that could not run is retried.
pub(crate) fn render_failure(e: crate::render::RenderFailure) -> StepError {
    match e {
        crate::render::RenderFailure::Invalid(e) => {
            StepError::fatal(failure_types::RENDER, e.to_string())
        }
        crate::render::RenderFailure::Unavailable(e) => StepError::Retryable {
            message: format!("{e}: the worker is busy"),
            retry_after: None,
        },
    }
}

/// Stores what [`render_loaded`] rendered (also in `n`) and marks the notification `sending`.
pub(crate) async fn store_render(
    db: &impl sea_orm::ConnectionTrait,
    n: &mut Notification,
    rendered: serde_json::Value,
) -> Result<NotificationStatus, StepError> {
    let status = notifications::store_rendered(db, n.id, n.tenant_id, rendered.clone()).await?;
    if status == NotificationStatus::Sending {
        n.rendered = Some(rendered);
    }
    n.status = status.into();
    Ok(status)
}

/// Records that the notification failed for good, with `reason`, once the sender gives up.
/// Returns the status after (a cancelled one stays cancelled).
pub(crate) async fn mark_failed(
    db: &Db,
    id: uuid::Uuid,
    reason: String,
) -> Result<NotificationStatus, StepError> {
    let status = match notifications::transition(db, id, NotificationStatus::Failed, |row| {
        row.last_error = Set(Some(reason.clone()))
    })
    .await?
    {
        Transition::Applied(row) => *row.status,
        Transition::Refused { current } => current,
    };
    if status == NotificationStatus::Failed {
        events::record(
            db,
            id,
            NewEvent {
                reason: Some(reason),
                ..NewEvent::new(status, "worker", "gave_up")
            },
        )
        .await?;
    }
    Ok(status)
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
    /// Render and route in one local activity: one load of the row and one marker in the
    /// workflow's history instead of two of each.
    #[activity(definition = defs::Prepare)]
    pub async fn prepare(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PrepareInput,
    ) -> Result<PrepareOutput, ActivityError> {
        let mut n = load(&self.db, input.notification_id).await?;
        let is_digest = pombo_store::digests::is_digest(&n);
        if matches!(
            *n.status,
            NotificationStatus::Pending | NotificationStatus::Sending
        ) {
            let held = |status, defer_until| PrepareOutput {
                status,
                providers: Vec::new(),
                defer_until,
            };
            // Asked again without the digest rule when it cannot be digested: it then goes on
            // its own, but still under the cap and the clock.
            let mut digestible = !is_digest;
            loop {
                let now = chrono::Utc::now();
                match crate::preferences::decide(&self.db, &n, now, !digestible).await? {
                    Decision::Send => break,
                    Decision::Digest {
                        closes_at,
                        template,
                    } => {
                        // None: it cannot be digested (no profile, no such template for its
                        // channel), and goes on its own rather than not at all.
                        match crate::preferences::digest(&self.db, &n, closes_at, &template).await?
                        {
                            Some(status) => return Ok(held(status, None)),
                            None => digestible = false,
                        }
                    }
                    Decision::Skip { reason, detail } => {
                        let status = crate::preferences::skip(&self.db, &n, reason, detail).await?;
                        return Ok(held(status, None));
                    }
                    Decision::Defer { until, detail } => {
                        crate::preferences::deferred(&self.db, &n, until, detail).await?;
                        return Ok(held(*n.status, Some(until)));
                    }
                }
            }
        }
        if is_digest && *n.status == NotificationStatus::Pending {
            crate::preferences::fill_digest(&self.db, &self.renderer, &mut n).await?;
        }
        let status = render_loaded(&self.db, &self.renderer, &mut n).await?;
        if status == NotificationStatus::Cancelled {
            return Ok(PrepareOutput {
                status,
                providers: Vec::new(),
                defer_until: None,
            });
        }
        let providers = self.route_loaded(&n).await?;
        Ok(PrepareOutput {
            status,
            providers,
            defer_until: None,
        })
    }

    #[activity(definition = defs::Send)]
    pub async fn send(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SendInput,
    ) -> Result<SendOutput, ActivityError> {
        with_heartbeats(&ctx, self.send_once(&ctx, input)).await
    }

    #[activity(definition = defs::ReserveSendSlot)]
    pub async fn reserve_send_slot(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ReserveSendSlotInput,
    ) -> Result<ReserveSendSlotOutput, ActivityError> {
        let wait = self.providers.reserve_send_slot(&input.provider).await?;
        // Rounded up: a timer that fires a little late keeps the rate, an early one not.
        let wait_ms = wait.as_micros().div_ceil(1000);
        Ok(ReserveSendSlotOutput {
            wait_ms: u64::try_from(wait_ms).unwrap_or(u64::MAX),
        })
    }

    #[activity(definition = defs::CheckStatus)]
    pub async fn check_status(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CheckStatusInput,
    ) -> Result<StatusOutput, ActivityError> {
        let n = load(&self.db, input.notification_id).await?;
        Ok(StatusOutput { status: *n.status })
    }

    #[activity(definition = defs::FallBack)]
    pub async fn fall_back(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FallBackInput,
    ) -> Result<FallBackOutput, ActivityError> {
        let Some(child) = notifications::create_fallback(&self.db, input.notification_id).await?
        else {
            return Ok(FallBackOutput { fallback_id: None });
        };
        let n = load(&self.db, input.notification_id).await?;
        let current = *n.status;
        // A notification a report failed says why in its own words (its `last_error`, the
        // provider's reason), not as a confirmation wait that ran out.
        let why = match (current, &n.last_error) {
            (NotificationStatus::Failed, Some(error)) => format!("failed: {error}"),
            (NotificationStatus::Failed, None) => "failed".to_owned(),
            _ => input.reason,
        };
        // Its own timeline entry, beside the status: `last_error` keeps the provider's reason.
        events::insert(
            &self.db,
            input.notification_id,
            &NewEvent {
                reason: Some(format!(
                    "{why}; falling back to {} (notification {})",
                    child.channel, child.id
                )),
                ..NewEvent::new(current, "worker", "fallback")
            },
        )
        .await?;
        Ok(FallBackOutput {
            fallback_id: Some(child.id),
        })
    }

    #[activity(definition = defs::MarkFailed)]
    pub async fn mark_failed(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: MarkFailedInput,
    ) -> Result<StatusOutput, ActivityError> {
        let status = mark_failed(&self.db, input.notification_id, input.reason).await?;
        Ok(StatusOutput { status })
    }
}

/// A send whose attempt is recorded, ready for the provider call.
pub(crate) struct PreparedSend {
    pub(crate) attempt_id: uuid::Uuid,
    provider: Deliverer,
    content: pombo_contract::content::Content,
    attachments: Vec<pombo_providers::Attachment>,
}

/// Who takes a message: a provider's client, or (in-app) the recipient's inbox.
enum Deliverer {
    Provider(Arc<pombo_providers::Client>),
    Inbox,
}

pub(crate) enum Prepared {
    Ready(PreparedSend),
    /// An earlier attempt sent it (a retry after a crash): its recorded result.
    AlreadySent(SendOutput),
}

/// Records the attempts of checked sends ([`NotificationActivities::check_send`]) as in
/// progress, in one go.
pub(crate) async fn start_attempts(
    db: &impl sea_orm::ConnectionTrait,
    sends: &[(&Notification, &ProviderRef, u32, &PreparedSend)],
) -> Result<(), StoreError> {
    let attempts: Vec<notifications::NewAttempt> = sends
        .iter()
        .map(|(n, account, attempt, send)| notifications::NewAttempt {
            id: send.attempt_id,
            notification_id: n.id,
            attempt: *attempt as i32,
            provider: &account.name,
            provider_kind: &account.kind,
        })
        .collect();
    notifications::start_attempts(db, &attempts).await
}

impl NotificationActivities {
    async fn send_once(
        &self,
        ctx: &ActivityContext,
        input: SendInput,
    ) -> Result<SendOutput, ActivityError> {
        let n = load(&self.db, input.notification_id).await?;
        Ok(self
            .deliver(
                &n,
                &input.provider,
                // The workflow counts the attempts it runs itself (the first one, and those
                // to rate-limited accounts).
                input
                    .attempt
                    .unwrap_or(input.attempts_before + ctx.info().attempt),
                before_deadline(ctx),
            )
            .await?)
    }

    /// The provider accounts for a loaded notification, in failover order.
    pub(crate) async fn route_loaded(
        &self,
        n: &Notification,
    ) -> Result<Vec<ProviderRef>, StepError> {
        Ok(self
            .providers
            .route(
                n.tenant_id,
                *n.channel,
                &n.recipient,
                n.preferred_provider_id,
            )
            .await?)
    }

    /// One attempt (`attempt`, counted per provider account) to hand a loaded, rendered
    /// notification to `account`, recorded as an attempt; the provider call may take at
    /// most `limit`. One already sent is not sent again: its recorded result comes back.
    /// The single-notification `send` activity runs the three steps in a row; a batch chunk
    /// runs each step for several recipients at once, sharing one commit per step.
    pub(crate) async fn deliver(
        &self,
        n: &Notification,
        account: &ProviderRef,
        attempt: u32,
        limit: Option<Duration>,
    ) -> Result<SendOutput, StepError> {
        let send = match self.prepare_send(&self.db, n, account, attempt).await? {
            Prepared::AlreadySent(out) => return Ok(out),
            Prepared::Ready(send) => send,
        };
        let outcome = self.call_provider(n, account, &send, limit).await;
        self.record_outcome(n, account, send.attempt_id, outcome)
            .await
    }

    /// Step one of [`Self::deliver`]: checks the notification may be sent, gathers its
    /// content, files and the account's client, and records the attempt as in progress.
    pub(crate) async fn prepare_send(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        n: &Notification,
        account: &ProviderRef,
        attempt: u32,
    ) -> Result<Prepared, StepError> {
        let prepared = self.check_send(n, account).await?;
        if let Prepared::Ready(send) = &prepared {
            start_attempts(db, &[(n, account, attempt, send)]).await?;
        }
        Ok(prepared)
    }

    /// [`Self::prepare_send`] without recording the attempt: the attempt id is chosen, and
    /// the caller records it with [`start_attempts`] (a batch group, all at once).
    pub(crate) async fn check_send(
        &self,
        n: &Notification,
        account: &ProviderRef,
    ) -> Result<Prepared, StepError> {
        match *n.status {
            status @ (NotificationStatus::Sent
            | NotificationStatus::Delivered
            | NotificationStatus::Read) => {
                return Ok(Prepared::AlreadySent(SendOutput {
                    provider: n.provider.clone().unwrap_or_default(),
                    provider_message_id: n.provider_message_id.clone(),
                    already_sent: true,
                    status,
                }));
            }
            NotificationStatus::Failed
            | NotificationStatus::Cancelled
            | NotificationStatus::Skipped => {
                return Err(StepError::fatal(
                    failure_types::BAD_NOTIFICATION,
                    format!("notification is {}, not sending it", n.status),
                ));
            }
            NotificationStatus::Pending | NotificationStatus::Sending => {}
        }
        let content = crate::render::rendered(n)
            .map_err(|e| StepError::fatal(failure_types::BAD_NOTIFICATION, e))?;
        let (content, attachments) = self.files.resolve(&self.db, n, content).await?;
        let provider = if *n.channel == pombo_contract::Channel::InApp {
            Deliverer::Inbox
        } else {
            match self.providers.resolve(account).await {
                Ok(p) => Deliverer::Provider(p),
                Err(ResolveError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    return Err(StepError::fatal(failure_types::BAD_PROVIDER, e.to_string()));
                }
            }
        };
        Ok(Prepared::Ready(PreparedSend {
            attempt_id: uuid::Uuid::now_v7(),
            provider,
            content,
            attachments,
        }))
    }

    /// Step two of [`Self::deliver`]: the provider call itself, within `limit`.
    pub(crate) async fn call_provider(
        &self,
        n: &Notification,
        account: &ProviderRef,
        send: &PreparedSend,
        limit: Option<Duration>,
    ) -> Result<Accepted, DeliveryError> {
        let started = std::time::Instant::now();
        let unsubscribe = self.unsubscribe_link(n);
        let tracked = self.tracked(n, &send.content);
        // The call's span: what was sent where and how it went, never to whom or what.
        let span = tracing::info_span!(
            "provider.send",
            otel.name = %format_args!("send {}", account.kind),
            otel.kind = "client",
            notification.id = %n.id,
            channel = n.channel.as_str(),
            provider = %account.kind,
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let outcome = match &send.provider {
            Deliverer::Provider(provider) => {
                within(
                    limit,
                    provider.send(Outbound {
                        notification_id: n.id,
                        to: &n.recipient,
                        content: tracked.as_ref().unwrap_or(&send.content),
                        attachments: &send.attachments,
                        unsubscribe: unsubscribe.as_ref(),
                    }),
                )
                .instrument(span.clone())
                .await
            }
            Deliverer::Inbox => {
                crate::inbox::deliver(&self.db, n)
                    .instrument(span.clone())
                    .await
            }
        };
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
        span.record("outcome", outcome_label);
        if outcome.is_err() {
            span.record("otel.status_code", "error");
        }
        // A line per call for whoever reads the worker's debug logs; it carries the trace id.
        span.in_scope(|| {
            tracing::debug!(
                outcome = outcome_label,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "provider answered"
            );
        });
        metrics::counter!(
            "pombo_send_attempts_total",
            "channel" => n.channel.as_str(),
            "provider_type" => account.kind.clone(),
            "outcome" => outcome_label,
        )
        .increment(1);
        outcome
    }

    /// Adds a sent message (not a batch's) to the recipient's conversation with the
    /// account, so their answer finds it there: a chat message (WhatsApp, Instagram,
    /// Telegram) opens one if needed, an SMS joins only one the contact started. Best
    /// effort: the send is recorded already, and failing here must not send it again.
    async fn join_conversation(&self, n: &Notification, account: &ProviderRef) {
        use pombo_contract::{Channel, conversation::MessageKind};
        use pombo_store::conversations::Joining;
        let joining = match *n.channel {
            Channel::Whatsapp | Channel::Instagram | Channel::Telegram => Joining::OpenOrJoin,
            Channel::Sms => Joining::JoinOnly,
            Channel::Email | Channel::Push | Channel::Webhook | Channel::InApp => return,
        };
        if n.batch_id.is_some() {
            return;
        }
        let (kind, text) = n
            .rendered
            .as_ref()
            .map_or((MessageKind::Text, None), MessageKind::of_outbound);
        let through = pombo_store::conversations::Through {
            tenant_id: n.tenant_id,
            channel: *n.channel,
            account: &account.name,
            account_id: account.account_id,
        };
        let joined = pombo_store::conversations::join_sent(
            &self.db,
            through,
            joining,
            &n.recipient,
            n.id,
            kind,
            text,
            chrono::Utc::now(),
        )
        .await;
        if let Err(error) = joined {
            tracing::warn!(notification = %n.id, %error, "a sent message was not added to its conversation");
        }
    }

    /// Step three of [`Self::deliver`]: records what the provider answered (`sent` with its
    /// message id, or the attempt's error) and classifies a failure, in a transaction of
    /// its own (a database error while recording `sent` is retried in place: see
    /// [`record_accepted_alone`]).
    pub(crate) async fn record_outcome(
        &self,
        n: &Notification,
        account: &ProviderRef,
        attempt_id: uuid::Uuid,
        outcome: Result<Accepted, DeliveryError>,
    ) -> Result<SendOutput, StepError> {
        match outcome {
            Ok(accepted) => {
                let status = record_accepted_alone(
                    &self.db,
                    notifications::Sent {
                        notification_id: n.id,
                        tenant_id: n.tenant_id,
                        attempt_id,
                        provider: &account.name,
                        provider_account_id: account.account_id,
                        provider_message_id: accepted.provider_message_id.as_deref(),
                    },
                )
                .await?;
                self.join_conversation(n, account).await;
                let status = if *n.channel == pombo_contract::Channel::InApp {
                    crate::inbox::record_delivered(&self.db, n).await?
                } else {
                    status
                };
                Ok(SendOutput {
                    provider: account.name.clone(),
                    provider_message_id: accepted.provider_message_id,
                    already_sent: false,
                    status,
                })
            }
            Err(error) => Err(record_refusal(&self.db, n, account, attempt_id, error).await?),
        }
    }
}
