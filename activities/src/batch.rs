//! The activities of a batch workflow (`pombo_contract::batch`): a chunk renders, routes
//! and sends each of its recipients through the very steps the single-notification
//! activities use (`render_loaded`, `route_loaded`, `prepare_send` → `call_provider` →
//! `record_outcome`, `mark_failed`), so every recipient gets the same records: attempts,
//! timeline, status, provider message id.
//!
//! What differs is how the writes are grouped. A single notification commits each step on
//! its own; a chunk renders all its recipients in one transaction, and sends them a group
//! at a time: the group's attempts are opened in one transaction, its provider calls run
//! at once, and their outcomes are recorded in one transaction. On a database whose writers take turns (SQLite) or pay for each commit
//! (PostgreSQL), that is what lets a batch go many times faster than single sends.
//!
//! A chunk is idempotent: Temporal may run it again after a worker died, and recipients
//! already sent, failed or cancelled are left alone. Failover between provider accounts
//! happens inside the chunk; a retryable failure goes back to the workflow, which tries
//! that recipient again after the retry interval on a durable timer.

use std::{
    collections::{HashMap, VecDeque, hash_map::Entry},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use pombo_contract::{
    Channel, NotificationStatus,
    activities::{ProviderRef, SendOutput},
    batch::{
        self as defs, ChunkWork, FinishBatchInput, FinishBatchOutput, RetryItem, SendChunkInput,
        SendChunkOutput,
    },
    workflow::failure_types,
};
use pombo_store::{
    StoreError, batches,
    notifications::{self, Notification},
};
use sea_orm::DatabaseTransaction;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::{
    notification::{
        NotificationActivities, Prepared, PreparedSend, StepError, mark_failed, record_accepted,
        record_refusal, render_failure, start_attempts, store_render, with_progress_heartbeats,
    },
    routing::Candidates,
};
use pombo_providers::{Accepted, DeliveryError};

/// Recipients of one chunk sent at once (one group): their provider calls run
/// concurrently, and their attempts and outcomes share a commit each.
const GROUP: usize = 50;

pub struct BatchActivities {
    inner: NotificationActivities,
}

impl BatchActivities {
    pub fn new(notifications: NotificationActivities) -> Self {
        BatchActivities {
            inner: notifications,
        }
    }
}

/// A recipient of a chunk: its row, the account to go back to (a retry) and the number of
/// the attempt on it.
type Member = (Notification, Option<ProviderRef>, u32);

/// A recipient on its way: its accounts in failover order, the one being tried, and the
/// attempt on it.
struct Active {
    n: Notification,
    providers: Vec<ProviderRef>,
    index: usize,
    attempt: u32,
    last_error: String,
}

impl Active {
    fn account(&self) -> &ProviderRef {
        &self.providers[self.index]
    }
}

/// Calls whose slots are this close together go (and are recorded) together.
const WAVE: Duration = Duration::from_millis(200);

/// The group's members (their indices) in waves by slot time: a wave holds the calls due
/// within [`WAVE`] of its first. All waits zero (no rate limit): one wave.
fn waves(waits: &[Duration]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..waits.len()).collect();
    order.sort_by_key(|&i| waits[i]);
    let mut waves: Vec<Vec<usize>> = Vec::new();
    let mut first = Duration::ZERO;
    for i in order {
        match waves.last_mut() {
            Some(wave) if waits[i] - first <= WAVE => wave.push(i),
            _ => {
                first = waits[i];
                waves.push(vec![i]);
            }
        }
    }
    waves
}

/// Whether the recipient still needs its content rendered (a retry has it already).
fn needs_rendering(n: &Notification) -> bool {
    match *n.status {
        NotificationStatus::Pending => true,
        NotificationStatus::Sending => n.rendered.is_none(),
        _ => false,
    }
}

/// What a chunk did with one recipient.
enum Outcome {
    Sent,
    Failed,
    Skipped,
    Retry(RetryItem),
}

/// A chunk's write transaction. On SQLite it takes the write lock up front, so that it waits
/// its turn instead of failing at once when another writer overtakes it; and the worker's
/// chunks take turns in the worker first. SQLite has one writer at a time, and one that finds
/// the lock taken sleeps in SQLite's busy handler, up to 100 ms a time, however soon the lock
/// is free: with four chunks writing at once that sleep, not the work, set the batch's pace.
/// Waiting here, a chunk starts the moment the previous one commits.
struct Write {
    tx: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Write {
    async fn commit(self) -> Result<(), sea_orm::DbErr> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for Write {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

#[activities]
impl BatchActivities {
    #[activity(definition = defs::SendChunk)]
    pub async fn send_chunk(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SendChunkInput,
    ) -> Result<SendChunkOutput, ActivityError> {
        let done = AtomicU32::new(0);
        // Heartbeats carry how many recipients of the chunk are done (the Temporal UI shows
        // them), and let a dead worker's chunk be retried after the heartbeat timeout.
        with_progress_heartbeats(&ctx, self.send_all(&input, &done), || {
            done.load(Ordering::Relaxed)
        })
        .await
    }

    #[activity(definition = defs::FinishBatch)]
    pub async fn finish_batch(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FinishBatchInput,
    ) -> Result<FinishBatchOutput, ActivityError> {
        let db = &self.inner.db;
        let batch = batches::finish(db, input.batch_id).await?;
        let counts = batches::counts(db, batch.id).await?;
        tracing::info!(batch_id = %batch.id, ?counts, "batch completed");
        Ok(FinishBatchOutput { counts })
    }
}

impl BatchActivities {
    async fn begin(&self) -> Result<Write, StoreError> {
        let db = &self.inner.db;
        let turn = match db.get_database_backend() {
            sea_orm::DbBackend::Sqlite => Some(self.inner.writer.clone().lock_owned().await),
            _ => None,
        };
        let tx = pombo_store::begin_write(db).await?;
        Ok(Write { tx, _turn: turn })
    }

    async fn send_all(
        &self,
        input: &SendChunkInput,
        done: &AtomicU32,
    ) -> Result<SendChunkOutput, ActivityError> {
        let db = &self.inner.db;
        let limit = Duration::from_secs(input.attempt_timeout_secs.max(1));
        let members: Vec<Member> = match &input.work {
            ChunkWork::Range { offset, limit } => {
                batches::members(db, input.batch_id, u64::from(*offset), u64::from(*limit))
                    .await?
                    .into_iter()
                    .map(|n| (n, None, 1))
                    .collect()
            }
            ChunkWork::Retry { items } => {
                let ids: Vec<_> = items.iter().map(|i| i.notification_id).collect();
                batches::members_by_id(db, input.batch_id, &ids)
                    .await?
                    .into_iter()
                    .filter_map(|n| {
                        let item = items.iter().find(|i| i.notification_id == n.id)?;
                        Some((n, Some(item.provider.clone()), item.attempt.max(1)))
                    })
                    .collect()
            }
        };

        let mut out = SendChunkOutput::default();
        let mut tally = |outcome: Outcome| {
            match outcome {
                Outcome::Sent => out.sent += 1,
                Outcome::Failed => out.failed += 1,
                Outcome::Skipped => out.skipped += 1,
                Outcome::Retry(item) => out.retry.push(item),
            }
            done.fetch_add(1, Ordering::Relaxed);
        };

        let members = self.drop_suppressed(members, &mut tally).await?;
        let (members, unrenderable) = self.render_all(members).await?;
        for (id, error) in unrenderable {
            tally(self.step_failed(id, error).await?);
        }
        let mut queue = VecDeque::with_capacity(members.len());
        // A batch's members share a tenant and (nearly always) a channel: their candidate
        // accounts are read once, not once per recipient.
        let mut candidates = HashMap::new();
        for member in members {
            match self.start(member, &mut candidates).await? {
                Ok(active) => queue.push_back(active),
                Err(outcome) => tally(outcome),
            }
        }
        // Groups until every recipient is sent, failed, or handed back for a retry; one
        // that needs its next account goes back in the queue.
        while !queue.is_empty() {
            let group: Vec<Active> = queue.drain(..queue.len().min(GROUP)).collect();
            for (active, result) in self.send_group(group, limit).await? {
                match self.settle(active, result).await? {
                    Ok(next) => queue.push_back(next),
                    Err(outcome) => tally(outcome),
                }
            }
        }
        Ok(out)
    }

    /// Ends the members whose address is on the tenant's suppression list as `skipped` (a
    /// promotion to an address that bounced would bounce again), checked for the whole
    /// chunk in one query; returns the others.
    async fn drop_suppressed(
        &self,
        members: Vec<Member>,
        tally: &mut impl FnMut(Outcome),
    ) -> Result<Vec<Member>, StoreError> {
        let Some((first, ..)) = members.first() else {
            return Ok(members);
        };
        let (tenant_id, channel) = (first.tenant_id, *first.channel);
        // Only those not sent yet (a retried chunk holds some that are).
        let unsent = |n: &Notification| {
            *n.channel == channel
                && matches!(
                    *n.status,
                    NotificationStatus::Pending | NotificationStatus::Sending
                )
        };
        let addresses: Vec<&str> = members
            .iter()
            .filter(|(n, ..)| unsent(n))
            .map(|(n, ..)| n.recipient.as_str())
            .collect();
        let suppressed =
            pombo_store::suppressions::among(&self.inner.db, tenant_id, channel, &addresses)
                .await?;
        if suppressed.is_empty() {
            return Ok(members);
        }
        let mut kept = Vec::with_capacity(members.len());
        for member in members {
            let reason = unsent(&member.0)
                .then(|| suppressed.get(&member.0.recipient))
                .flatten();
            match reason {
                Some(why) => {
                    let detail = format!("the address is suppressed on `{channel}` ({why})");
                    crate::preferences::skip(
                        &self.inner.db,
                        &member.0,
                        pombo_contract::preferences::SkipReason::Suppressed,
                        detail,
                    )
                    .await?;
                    tally(Outcome::Skipped);
                }
                _ => kept.push(member),
            }
        }
        Ok(kept)
    }

    /// Renders the chunk's members not rendered yet (in as few jobs of the renderer as it
    /// allows, before the transaction), then stores them all in one transaction. Returns the
    /// members to send, and those whose content cannot render with their data.
    async fn render_all(
        &self,
        members: Vec<Member>,
    ) -> Result<(Vec<Member>, Vec<(uuid::Uuid, StepError)>), StoreError> {
        let to_render: Vec<&Notification> = members
            .iter()
            .map(|(n, ..)| n)
            .filter(|n| needs_rendering(n))
            .collect();
        if to_render.is_empty() {
            return Ok((members, Vec::new()));
        }
        let mut rendered = match crate::render::render_many(&self.inner.renderer, &to_render).await
        {
            Ok(rendered) => rendered.into_iter(),
            // Not rendered at all (a busy worker): every one of them is retried.
            Err(e) => {
                let mut retried = Vec::new();
                let mut ready = Vec::new();
                for member in members {
                    if needs_rendering(&member.0) {
                        let failure = render_failure(crate::render::RenderFailure::from(e.clone()));
                        retried.push((member.0.id, failure));
                    } else {
                        ready.push(member);
                    }
                }
                return Ok((ready, retried));
            }
        };
        let tx = self.begin().await?;
        let mut ready = Vec::with_capacity(members.len());
        let mut unrenderable = Vec::new();
        for (mut n, provider, attempt) in members {
            if !needs_rendering(&n) {
                ready.push((n, provider, attempt));
                continue;
            }
            let stored = match rendered.next().expect("one render per member to render") {
                Ok(content) => store_render(&*tx, &mut n, content).await,
                Err(e) => Err(render_failure(e)),
            };
            match stored {
                Ok(_) => ready.push((n, provider, attempt)),
                Err(StepError::Store(e @ StoreError::Db(_))) => return Err(e),
                Err(e) => unrenderable.push((n.id, e)),
            }
        }
        tx.commit().await?;
        Ok((ready, unrenderable))
    }

    /// Routes a rendered member: its accounts, starting from the one of its retry (one
    /// removed meanwhile starts the list over). `Err` is its outcome when it goes no
    /// further (already done, or no account can deliver it).
    async fn start(
        &self,
        (n, provider, attempt): Member,
        candidates: &mut HashMap<Channel, Candidates>,
    ) -> Result<Result<Active, Outcome>, StoreError> {
        match *n.status {
            NotificationStatus::Pending | NotificationStatus::Sending => {}
            // Already sent, failed or cancelled (a retried chunk, an operator's cancel).
            _ => return Ok(Err(Outcome::Skipped)),
        }
        let providers = match self.route_cached(&n, candidates).await {
            Ok(providers) if providers.is_empty() => {
                let reason = format!(
                    "no provider account can deliver the `{}` channel to this recipient",
                    n.channel
                );
                return self.fail(n.id, reason).await.map(Err);
            }
            Ok(providers) => providers,
            Err(e) => return self.step_failed(n.id, e).await.map(Err),
        };
        let (index, attempt) = provider
            .and_then(|p| {
                providers
                    .iter()
                    .position(|q| q.account_id == p.account_id && q.name == p.name)
            })
            .map_or((0, 1), |i| (i, attempt));
        Ok(Ok(Active {
            n,
            providers,
            index,
            attempt,
            last_error: String::new(),
        }))
    }

    /// [`NotificationActivities::route_loaded`], with the candidate accounts of the chunk's
    /// tenant read once per channel.
    async fn route_cached(
        &self,
        n: &Notification,
        candidates: &mut HashMap<Channel, Candidates>,
    ) -> Result<Vec<ProviderRef>, StepError> {
        let channel = *n.channel;
        let accounts = match candidates.entry(channel) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(
                self.inner
                    .providers
                    .candidates(n.tenant_id, channel)
                    .await?,
            ),
        };
        Ok(accounts.route(&n.recipient, n.preferred_provider_id))
    }

    /// One attempt for each member of the group: attempts opened in one transaction, the
    /// provider calls at once (by waves of slot time on a rate-limited account), each
    /// wave's outcomes recorded in one transaction.
    async fn send_group(
        &self,
        group: Vec<Active>,
        limit: Duration,
    ) -> Result<Vec<(Active, Result<SendOutput, StepError>)>, StoreError> {
        // A rate-limited account's slot is reserved first (its own commit: slots are
        // shared by every worker), and waited for just before the call.
        let mut waits = Vec::with_capacity(group.len());
        for m in &group {
            waits.push(if m.account().rate_limited {
                self.inner.providers.reserve_send_slot(m.account()).await?
            } else {
                Duration::ZERO
            });
        }

        let mut prepared = Vec::with_capacity(group.len());
        for m in &group {
            match self.inner.check_send(&m.n, m.account()).await {
                // Nothing was sent yet: the chunk attempt fails, and its retry starts over.
                Err(StepError::Store(e @ StoreError::Db(_))) => return Err(e),
                other => prepared.push(other),
            }
        }
        let ready: Vec<_> = group
            .iter()
            .zip(&prepared)
            .filter_map(|(m, p)| match p {
                Ok(Prepared::Ready(send)) => Some((&m.n, m.account(), m.attempt, send)),
                _ => None,
            })
            .collect();
        let tx = self.begin().await?;
        start_attempts(&*tx, &ready).await?;
        tx.commit().await?;

        // The calls go in waves by slot time, and each wave's answers are recorded before
        // the next wave's calls: a worker that dies mid-group leaves unrecorded only the
        // wave in flight, not every acceptance of a rate-limited group spread over seconds
        // (the next chunk attempt would send those again). Without rate limits every wait
        // is zero: one wave, one transaction, as before.
        let start = tokio::time::Instant::now();
        let mut recorded: Vec<Option<Result<SendOutput, StepError>>> =
            (0..group.len()).map(|_| None).collect();
        for wave in waves(&waits) {
            let calls = wave.iter().map(|&i| {
                let (m, p, wait) = (&group[i], &prepared[i], waits[i]);
                async move {
                    match p {
                        Ok(Prepared::Ready(send)) => {
                            tokio::time::sleep_until(start + wait).await;
                            Some(
                                self.inner
                                    .call_provider(&m.n, m.account(), send, Some(limit))
                                    .await,
                            )
                        }
                        _ => None,
                    }
                }
            });
            let answers = futures::future::join_all(calls).await;
            let mut outcomes: Vec<Option<Result<Accepted, DeliveryError>>> =
                (0..group.len()).map(|_| None).collect();
            for (&i, answer) in wave.iter().zip(answers) {
                outcomes[i] = answer;
            }
            let wave_recorded = self.record_group(&group, &prepared, &outcomes).await;
            for (slot, result) in recorded.iter_mut().zip(wave_recorded) {
                if result.is_some() {
                    *slot = result;
                }
            }
        }

        let results = prepared
            .into_iter()
            .zip(recorded)
            .map(|(p, recorded)| match (p, recorded) {
                (_, Some(result)) => result,
                (Ok(Prepared::AlreadySent(out)), None) => Ok(out),
                (Err(e), None) => Err(e),
                (Ok(Prepared::Ready(_)), None) => unreachable!("every call is recorded"),
            });
        Ok(group.into_iter().zip(results).collect())
    }

    /// Records the group's provider answers in one transaction: the accepted ones all in a
    /// handful of statements, each refusal in its own. When that fails, each is recorded
    /// alone instead, an acceptance retried in place as a single send's is: the provider
    /// has the message, and failing now would send it again.
    async fn record_group(
        &self,
        group: &[Active],
        prepared: &[Result<Prepared, StepError>],
        outcomes: &[Option<Result<Accepted, DeliveryError>>],
    ) -> Vec<Option<Result<SendOutput, StepError>>> {
        let calls: Vec<(usize, &PreparedSend, &Result<Accepted, DeliveryError>)> = (0..group.len())
            .filter_map(|i| match (&prepared[i], &outcomes[i]) {
                (Ok(Prepared::Ready(send)), Some(outcome)) => Some((i, send, outcome)),
                _ => None,
            })
            .collect();
        let mut results: Vec<Option<Result<SendOutput, StepError>>> =
            (0..group.len()).map(|_| None).collect();
        let together = async {
            let tx = self.begin().await?;
            let mut accepted = Vec::with_capacity(calls.len());
            let mut refused = Vec::new();
            for &(i, send, outcome) in &calls {
                match outcome {
                    Ok(a) => accepted.push((i, send, a)),
                    Err(e) => refused.push((i, send, e)),
                }
            }
            let sent: Vec<notifications::Sent> = accepted
                .iter()
                .map(|&(i, send, a)| notifications::Sent {
                    notification_id: group[i].n.id,
                    tenant_id: group[i].n.tenant_id,
                    attempt_id: send.attempt_id,
                    provider: &group[i].account().name,
                    provider_account_id: group[i].account().account_id,
                    provider_message_id: a.provider_message_id.as_deref(),
                })
                .collect();
            let statuses = record_accepted(&*tx, &sent).await?;
            let mut recorded = Vec::with_capacity(calls.len());
            for ((i, _, a), status) in accepted.into_iter().zip(statuses) {
                let output = SendOutput {
                    provider: group[i].account().name.clone(),
                    provider_message_id: a.provider_message_id.clone(),
                    already_sent: false,
                    status,
                };
                recorded.push((i, Ok(output)));
            }
            for (i, send, error) in refused {
                let m = &group[i];
                let error =
                    record_refusal(&*tx, &m.n, m.account(), send.attempt_id, error.clone()).await?;
                recorded.push((i, Err(error)));
            }
            tx.commit().await?;
            Ok::<_, StoreError>(recorded)
        };
        match together.await {
            Ok(recorded) => {
                for (i, result) in recorded {
                    results[i] = Some(result);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "recording a batch group failed; recording each alone");
                for &(i, send, outcome) in &calls {
                    let m = &group[i];
                    results[i] = Some(
                        self.inner
                            .record_outcome(&m.n, m.account(), send.attempt_id, outcome.clone())
                            .await,
                    );
                }
            }
        }
        results
    }

    /// Decides what comes after one attempt: done (`Err` with its outcome), or another
    /// go on the next account (`Ok`) when this one refused for good or had all its
    /// attempts. Only a database outage is an error: it fails the chunk attempt.
    async fn settle(
        &self,
        mut m: Active,
        result: Result<SendOutput, StepError>,
    ) -> Result<Result<Active, Outcome>, StoreError> {
        let max_attempts = m.n.max_attempts.max(1) as u32;
        let next_account = |mut m: Active, message: String| {
            m.last_error = message;
            m.index += 1;
            m.attempt = 1;
            m
        };
        let m = match result {
            Ok(out) if out.already_sent => return Ok(Err(Outcome::Skipped)),
            Ok(_) => return Ok(Err(Outcome::Sent)),
            // Nothing another account could fix (its content is unusable, a file is gone).
            Err(StepError::Fatal {
                kind: failure_types::BAD_NOTIFICATION,
                message,
            }) => return self.fail(m.n.id, message).await.map(Err),
            // A permanent refusal or an unusable account: the next account takes over.
            Err(StepError::Fatal { message, .. }) => next_account(m, message),
            Err(StepError::Retryable {
                message,
                retry_after,
            }) => {
                if m.attempt < max_attempts {
                    m.attempt += 1;
                    return Ok(Err(Outcome::Retry(RetryItem {
                        notification_id: m.n.id,
                        provider: m.account().clone(),
                        attempt: m.attempt,
                        retry_after_ms: retry_after
                            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    })));
                }
                next_account(m, message)
            }
            Err(StepError::Store(e)) => return self.store_failed(m.n.id, e).await.map(Err),
        };
        if m.index < m.providers.len() {
            Ok(Ok(m))
        } else {
            self.fail(m.n.id, m.last_error).await.map(Err)
        }
    }

    async fn step_failed(&self, id: uuid::Uuid, e: StepError) -> Result<Outcome, StoreError> {
        match e {
            StepError::Store(e) => self.store_failed(id, e).await,
            StepError::Fatal { message, .. } | StepError::Retryable { message, .. } => {
                self.fail(id, message).await
            }
        }
    }

    /// A database outage fails the chunk attempt (Temporal retries it); anything else the
    /// store reports about this one row (unreadable sealed data, a malformed row) fails
    /// the recipient, not the batch.
    async fn store_failed(&self, id: uuid::Uuid, e: StoreError) -> Result<Outcome, StoreError> {
        match e {
            StoreError::Db(_) => Err(e),
            e => self.fail(id, e.to_string()).await,
        }
    }

    async fn fail(&self, id: uuid::Uuid, reason: impl Into<String>) -> Result<Outcome, StoreError> {
        match mark_failed(&self.inner.db, id, reason.into()).await {
            Ok(NotificationStatus::Failed) => Ok(Outcome::Failed),
            Ok(_) => Ok(Outcome::Skipped),
            Err(StepError::Store(e @ StoreError::Db(_))) => Err(e),
            Err(e) => {
                tracing::warn!(notification_id = %id, error = ?e, "could not record a batch member's failure");
                Ok(Outcome::Skipped)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_group_calls_by_slot_time() {
        let ms = Duration::from_millis;
        assert_eq!(waves(&[ms(0), ms(0), ms(0)]), vec![vec![0, 1, 2]]);
        assert_eq!(
            waves(&[ms(1000), ms(0), ms(500), ms(100)]),
            vec![vec![1, 3], vec![2], vec![0]]
        );
        assert!(waves(&[]).is_empty());
    }
}
