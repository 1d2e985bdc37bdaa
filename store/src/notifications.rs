//! Notification rows: creation with idempotency, reads for the API, and the status and
//! attempt records the activities write.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pombo_contract::{Channel, NotificationStatus, Priority};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionSession, TryIntoModel,
    sea_query::{CaseStatement, Expr, Func, SimpleExpr},
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{Text, notification, notification_attempt},
    sealed,
};

pub use notification::Model as Notification;
pub use notification_attempt::Model as Attempt;

/// A notification as the API accepted it, before anything happened to it.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub channel: Channel,
    pub recipient: String,
    pub content: serde_json::Value,
    pub data: Option<serde_json::Value>,
    pub priority: Priority,
    pub notification_type: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub max_attempts: i32,
    pub retry_interval_secs: i64,
    /// `{channel, to, content}` of a fallback, validated by the API.
    pub fallback: Option<serde_json::Value>,
    pub parent_id: Option<Uuid>,
    /// `(template id, version, locale)` when the content came from a stored template.
    pub template: Option<(Uuid, i32, String)>,
    /// The recipient profile `recipient` was taken from, and what routing rules decided.
    pub routing: Routing,
    /// Not sent before this time (`None`: at once).
    pub send_at: Option<DateTime<Utc>>,
    /// Its category for the recipient's preferences (see
    /// [`pombo_contract::preferences::category_of`]).
    pub category: Option<String>,
    /// What its email tracks.
    pub tracking: pombo_contract::tracking::Tracking,
    /// The accepting request's `traceparent`, when traces are on.
    pub trace_context: Option<String>,
}

/// Where a notification's address and channel came from (all `None` for a plain request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Routing {
    pub recipient_id: Option<Uuid>,
    pub rule_id: Option<Uuid>,
    /// The tenant provider account to try first.
    pub preferred_provider_id: Option<Uuid>,
}

#[derive(Debug)]
pub enum Created {
    New(Notification),
    /// The tenant already sent a request with this idempotency key: here is its notification.
    Existing(Notification),
}

/// Inserts a notification, or returns the one that already holds its idempotency key. The
/// unique index decides between concurrent duplicates, so exactly one row ever exists.
pub async fn create(
    db: &impl ConnectionTrait,
    new: NewNotification,
) -> Result<Created, StoreError> {
    let (tenant_id, idempotency_key) = (new.tenant_id, new.idempotency_key.clone());
    let model = new_row(new, Utc::now());
    match model.insert(db).await {
        Ok(row) => Ok(Created::New(opened(row)?)),
        Err(e) => match (e.sql_err(), &idempotency_key) {
            (Some(SqlErr::UniqueConstraintViolation(_)), Some(key)) => {
                let existing = notification::Entity::find()
                    .filter(notification::Column::TenantId.eq(tenant_id))
                    .filter(notification::Column::IdempotencyKey.eq(key.as_str()))
                    .one(db)
                    .await?
                    .ok_or(StoreError::Db(e))?;
                Ok(Created::Existing(opened(existing)?))
            }
            _ => Err(e.into()),
        },
    }
}

/// The row of a new, `pending` notification, its personal data sealed (also what a batch
/// inserts for each recipient).
pub(crate) fn new_row(new: NewNotification, now: DateTime<Utc>) -> notification::ActiveModel {
    let id = sealed::Place {
        tenant: new.tenant_id,
        id: new.id,
    };
    notification::ActiveModel {
        id: Set(new.id),
        tenant_id: Set(new.tenant_id),
        channel: Set(new.channel.into()),
        recipient: Set(sealed::seal_text(id, "recipient", new.recipient)),
        content: Set(sealed::seal_json(id, "content", new.content)),
        data: Set(new.data.map(|d| sealed::seal_json(id, "data", d))),
        rendered: Set(None),
        priority: Set(new.priority.into()),
        notification_type: Set(new.notification_type),
        idempotency_key: Set(new.idempotency_key.clone()),
        request_hash: Set(new.request_hash),
        status: Set(NotificationStatus::Pending.into()),
        attempts: Set(0),
        last_error: Set(None),
        provider: Set(None),
        provider_account_id: Set(None),
        provider_message_id: Set(None),
        max_attempts: Set(new.max_attempts),
        retry_interval_secs: Set(new.retry_interval_secs),
        created_at: Set(now),
        updated_at: Set(now),
        dispatched_at: Set(None),
        sending_at: Set(None),
        sent_at: Set(None),
        delivered_at: Set(None),
        read_at: Set(None),
        failed_at: Set(None),
        cancelled_at: Set(None),
        fallback: Set(new.fallback.map(|f| sealed::seal_json(id, "fallback", f))),
        fallback_id: Set(None),
        parent_id: Set(new.parent_id),
        template_id: Set(new.template.as_ref().map(|t| t.0)),
        template_version: Set(new.template.as_ref().map(|t| t.1)),
        template_locale: Set(new.template.map(|t| t.2)),
        recipient_id: Set(new.routing.recipient_id),
        routing_rule_id: Set(new.routing.rule_id),
        preferred_provider_id: Set(new.routing.preferred_provider_id),
        send_at: Set(new.send_at),
        batch_id: Set(None),
        purged_at: Set(None),
        start_claimed_until: Set(None),
        category: Set(new.category),
        skipped_at: Set(None),
        digested_into: Set(None),
        track_opens: Set(Some(new.tracking.opens)),
        track_clicks: Set(Some(new.tracking.clicks)),
        opened_at: Set(None),
        clicked_at: Set(None),
        trace_context: Set(new.trace_context),
    }
}

/// A row with its personal data opened (see [`crate::sealed::install`]).
pub(crate) fn opened(mut row: Notification) -> Result<Notification, StoreError> {
    let id = sealed::Place {
        tenant: row.tenant_id,
        id: row.id,
    };
    row.recipient = sealed::open_text(id, "recipient", row.recipient)?;
    row.content = sealed::open_json(id, "content", row.content)?;
    row.data = row
        .data
        .map(|d| sealed::open_json(id, "data", d))
        .transpose()?;
    row.rendered = row
        .rendered
        .map(|r| sealed::open_json(id, "rendered", r))
        .transpose()?;
    row.fallback = row
        .fallback
        .map(|f| sealed::open_json(id, "fallback", f))
        .transpose()?;
    Ok(row)
}

fn all_opened(rows: Vec<Notification>) -> Result<Vec<Notification>, StoreError> {
    rows.into_iter().map(opened).collect()
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> Result<Notification, StoreError> {
    opened(
        notification::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or(StoreError::NotFound)?,
    )
}

/// These notifications (those that exist), opened, in no particular order.
pub async fn get_many(
    db: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<Vec<Notification>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    all_opened(
        notification::Entity::find()
            .filter(notification::Column::Id.is_in(ids))
            .all(db)
            .await?,
    )
}

/// A tenant's notification; another tenant's id reads as not found.
pub async fn get_for_tenant(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Notification>, StoreError> {
    notification::Entity::find_by_id(id)
        .filter(notification::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .map(opened)
        .transpose()
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<NotificationStatus>,
    pub channel: Option<Channel>,
    /// Only notifications older than this one (ids are UUIDv7, so time-ordered).
    pub before: Option<Uuid>,
    /// Only notifications created at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only notifications created before this time.
    pub until: Option<DateTime<Utc>>,
    pub limit: u64,
}

/// Newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filter: &ListFilter,
) -> Result<Vec<Notification>, StoreError> {
    let mut query = notification::Entity::find()
        .filter(notification::Column::TenantId.eq(tenant_id))
        .order_by_desc(notification::Column::Id)
        .limit(filter.limit);
    if let Some(status) = filter.status {
        query = query.filter(notification::Column::Status.eq(status.as_str()));
    }
    if let Some(channel) = filter.channel {
        query = query.filter(notification::Column::Channel.eq(channel.as_str()));
    }
    if let Some(before) = filter.before {
        query = query.filter(notification::Column::Id.lt(before));
    }
    if let Some(since) = filter.since {
        query = query.filter(notification::Column::CreatedAt.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(notification::Column::CreatedAt.lt(until));
    }
    all_opened(query.all(db).await?)
}

/// Creates, once, the fallback notification of `id`: same tenant, priority, type, retry
/// rule and data; the fallback's channel, recipient and content. Its workflow is started by
/// the dispatch sweep (its `dispatched_at` is empty). Returns `None` when it has no fallback.
pub async fn create_fallback(
    db: &impl sea_orm::TransactionTrait,
    id: Uuid,
) -> Result<Option<Notification>, StoreError> {
    // Reads the parent, then writes: see `begin_write`.
    let tx = crate::begin_write(db).await?;
    let parent = get(&tx, id).await?;
    let Some(spec) = parent.fallback.clone() else {
        return Ok(None);
    };
    if let Some(existing) = parent.fallback_id {
        return Ok(Some(get(&tx, existing).await?));
    }
    let field = |name: &str| spec.get(name).cloned().unwrap_or(serde_json::Value::Null);
    let channel: Channel = field("channel")
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(StoreError::Corrupt)?;
    let recipient = field("to").as_str().unwrap_or_default().to_owned();
    let child_id = Uuid::now_v7();
    let created = create(
        &tx,
        NewNotification {
            id: child_id,
            tenant_id: parent.tenant_id,
            channel,
            recipient,
            content: field("content"),
            data: parent.data.clone(),
            priority: *parent.priority,
            notification_type: parent.notification_type.clone(),
            idempotency_key: None,
            request_hash: format!("fallback-of-{id}"),
            max_attempts: parent.max_attempts,
            retry_interval_secs: parent.retry_interval_secs,
            fallback: None,
            parent_id: Some(id),
            template: None,
            routing: Routing::default(),
            // The original's moment has passed: its fallback goes out as soon as it is due.
            send_at: None,
            category: parent.category.clone(),
            tracking: Default::default(),
            // The fallback continues its original's trace.
            trace_context: parent.trace_context.clone(),
        },
    )
    .await?;
    let Created::New(child) = created else {
        return Err(StoreError::Corrupt(
            "a fallback has no idempotency key".into(),
        ));
    };
    notification::Entity::update_many()
        .col_expr(notification::Column::FallbackId, Expr::value(child_id))
        .col_expr(notification::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(notification::Column::Id.eq(id))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(Some(child))
}

/// Puts a failed notification back to `pending` for a new workflow run (a redrive). Its
/// attempts and timeline stay (each attempt with its error); its rendered content is kept,
/// so it is sent as it was; its `last_error` is cleared, since it no longer says why the
/// notification is where it is (a new failure sets it again).
pub async fn reopen(db: &impl ConnectionTrait, id: Uuid) -> Result<Transition, StoreError> {
    let now = Utc::now();
    let result = notification::Entity::update_many()
        .col_expr(
            notification::Column::Status,
            Expr::value(NotificationStatus::Pending.as_str()),
        )
        .col_expr(
            notification::Column::FailedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            notification::Column::DispatchedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            notification::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .col_expr(notification::Column::UpdatedAt, Expr::value(now))
        .filter(notification::Column::Id.eq(id))
        .filter(notification::Column::Status.eq(NotificationStatus::Failed.as_str()))
        // Retention blanked what it would send: a purged notification cannot be sent again.
        .filter(notification::Column::PurgedAt.is_null())
        .exec(db)
        .await?;
    let row = get(db, id).await?;
    if result.rows_affected == 1 {
        Ok(Transition::Applied(Box::new(row)))
    } else {
        Ok(Transition::Refused {
            current: *row.status,
        })
    }
}

/// The provider account a delivery report came through: what the report may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportAccount<'a> {
    /// The account's name (the notifications' `provider`, the timeline's `provider:<name>`).
    pub name: &'a str,
    /// A tenant's account: `(tenant id, account id)`; `None` for a server-wide account.
    pub tenant_account: Option<(Uuid, Uuid)>,
}

impl ReportAccount<'_> {
    /// The notifications this account sent: a tenant account's by its id (and its tenant:
    /// names are unique only within a tenant, so a name alone could reach another tenant's
    /// notification), a server-wide account's by its name among those no tenant account
    /// sent.
    fn sent(&self) -> Condition {
        match self.tenant_account {
            Some((tenant_id, account_id)) => Condition::all()
                .add(notification::Column::TenantId.eq(tenant_id))
                .add(notification::Column::ProviderAccountId.eq(account_id)),
            None => Condition::all()
                .add(notification::Column::ProviderAccountId.is_null())
                .add(notification::Column::Provider.eq(self.name)),
        }
    }
}

/// The notification `account` sent as `provider_message_id`.
pub async fn by_provider_message_id(
    db: &impl ConnectionTrait,
    account: ReportAccount<'_>,
    provider_message_id: &str,
) -> Result<Option<Notification>, StoreError> {
    notification::Entity::find()
        .filter(notification::Column::ProviderMessageId.eq(provider_message_id))
        .filter(account.sent())
        .one(db)
        .await?
        .map(opened)
        .transpose()
}

/// The notification `id` when `account` sent it without our capturing the provider's
/// message id: for a report that carries our own id (SendGrid's `custom_args`, Mailgun's
/// user variables) and whose message id matched nothing. Only the account's own
/// notifications (its tenant's, for a tenant account) can match, so an id seen elsewhere
/// cannot be used to reach another tenant's notification.
pub async fn by_own_id_without_message_id(
    db: &impl ConnectionTrait,
    account: ReportAccount<'_>,
    id: Uuid,
) -> Result<Option<Notification>, StoreError> {
    notification::Entity::find()
        .filter(notification::Column::Id.eq(id))
        .filter(notification::Column::ProviderMessageId.is_null())
        .filter(account.sent())
        .one(db)
        .await?
        .map(opened)
        .transpose()
}

pub async fn attempts(
    db: &impl ConnectionTrait,
    notification_id: Uuid,
) -> Result<Vec<Attempt>, StoreError> {
    Ok(notification_attempt::Entity::find()
        .filter(notification_attempt::Column::NotificationId.eq(notification_id))
        .order_by_asc(notification_attempt::Column::StartedAt)
        .order_by_asc(notification_attempt::Column::Id)
        .all(db)
        .await?)
}

/// Records that the notification's workflow exists. Only the first call stamps the time.
pub async fn mark_dispatched(db: &impl ConnectionTrait, id: Uuid) -> Result<(), StoreError> {
    notification::Entity::update_many()
        .col_expr(notification::Column::DispatchedAt, Expr::value(Utc::now()))
        .filter(notification::Column::Id.eq(id))
        .filter(notification::Column::DispatchedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// No claim to start it holds at `now`.
fn unclaimed(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(notification::Column::StartClaimedUntil.is_null())
        .add(notification::Column::StartClaimedUntil.lt(now))
}

/// When the oldest accepted notification whose workflow has not started was accepted
/// (`None`: none waits), for the backlog-age gauge.
pub async fn oldest_unstarted(
    db: &impl ConnectionTrait,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(notification::Entity::find()
        .select_only()
        .column(notification::Column::CreatedAt)
        .filter(notification::Column::DispatchedAt.is_null())
        .order_by_asc(notification::Column::CreatedAt)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?)
}

/// Claims up to `limit` accepted notifications whose workflow has not started (and, with
/// `created_before`, that have waited since then: the API's sweep), most urgent first and,
/// within a priority, **round-robin across tenants** (each tenant's oldest first, then each
/// one's second, …), for `lease`: the caller starts their workflows in the order returned,
/// and no other caller gets them until the lease runs out (a claimer that dies holds them
/// no longer than that). So a tenant's 2,000 queued promotions do not hold back another
/// tenant's 50 of the same priority: those are claimed in the first rounds. Of rows two
/// callers both saw, only one gets each. Nothing is written when nothing waits.
pub async fn claim_unstarted(
    db: &impl ConnectionTrait,
    limit: u64,
    lease: Duration,
    created_before: Option<DateTime<Utc>>,
) -> Result<Vec<Notification>, StoreError> {
    let now = Utc::now();
    let ids = fair_order(db, limit, now, created_before).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let mut claimed = all_opened(
        notification::Entity::update_many()
            .col_expr(notification::Column::StartClaimedUntil, Expr::value(until))
            .filter(notification::Column::Id.is_in(ids.clone()))
            .filter(notification::Column::DispatchedAt.is_null())
            .filter(unclaimed(now))
            .exec_with_returning(db)
            .await?,
    )?;
    // In the order chosen (the update returns rows in no particular order).
    let position: std::collections::HashMap<Uuid, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    claimed.sort_by_key(|n| position.get(&n.id).copied().unwrap_or(usize::MAX));
    Ok(claimed)
}

/// The ids [`claim_unstarted`] takes, in its order: by urgency, then by each row's turn in
/// its tenant's queue of that priority (its rank by id, divided by the tenant's weight: a
/// weight-2 tenant has two rows in each turn), then by id.
async fn fair_order(
    db: &impl ConnectionTrait,
    limit: u64,
    now: DateTime<Utc>,
    created_before: Option<DateTime<Utc>>,
) -> Result<Vec<Uuid>, StoreError> {
    use sea_orm::{Statement, Value};
    let backend = db.get_database_backend();
    let urgency = Priority::ALL
        .into_iter()
        .map(|p| format!("WHEN '{}' THEN {}", p.as_str(), p.index()))
        .collect::<Vec<_>>()
        .join(" ");
    let placeholder = |n: usize| crate::param(backend, n);
    let mut values: Vec<Value> = vec![now.into()];
    let mut filter = format!(
        "dispatched_at IS NULL AND (start_claimed_until IS NULL OR start_claimed_until < {})",
        placeholder(1)
    );
    if let Some(before) = created_before {
        values.push(before.into());
        filter.push_str(&format!(" AND created_at < {}", placeholder(2)));
    }
    values.push((limit.min(i64::MAX as u64) as i64).into());
    let sql = format!(
        "SELECT id FROM (SELECT id, \
           CASE priority {urgency} ELSE {last} END AS urgency, \
           (ROW_NUMBER() OVER (PARTITION BY tenant_id, priority ORDER BY id) - 1) \
             / COALESCE((SELECT weight FROM tenants WHERE tenants.id = notifications.tenant_id), 1) \
             AS turn \
         FROM notifications WHERE {filter}) AS waiting \
         ORDER BY urgency, turn, id LIMIT {limit}",
        last = Priority::ALL.len(),
        limit = placeholder(values.len()),
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<Uuid>("", "id").map_err(StoreError::from))
        .collect()
}

/// What a status change did.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Applied(Box<Notification>),
    /// The rule forbids it (e.g. a late event for a finished notification): nothing changed.
    Refused {
        current: NotificationStatus,
    },
}

/// Moves a notification to `next` if the status model allows it, stamping the time of the
/// new status and applying `patch` (provider ids, errors) in the same update. The update is
/// conditional on the status read, so concurrent writers cannot move it backwards.
pub async fn transition(
    db: &impl ConnectionTrait,
    id: Uuid,
    next: NotificationStatus,
    patch: impl Fn(&mut notification::ActiveModel),
) -> Result<Transition, StoreError> {
    transition_at(db, id, next, Utc::now(), patch).await
}

/// [`transition`], stamping the new status with `at` (a provider's own event time).
pub async fn transition_at(
    db: &impl ConnectionTrait,
    id: Uuid,
    next: NotificationStatus,
    at: DateTime<Utc>,
    patch: impl Fn(&mut notification::ActiveModel),
) -> Result<Transition, StoreError> {
    for _ in 0..5 {
        let row = get(db, id).await?;
        let current: NotificationStatus = *row.status;
        if !current.can_move_to(next) {
            return Ok(Transition::Refused { current });
        }
        let now = at;
        let mut active = row.clone().into_active_model();
        active.status = Set(next.into());
        active.updated_at = Set(Utc::now());
        let stamp = match next {
            NotificationStatus::Pending => None,
            NotificationStatus::Sending => Some((&mut active.sending_at, row.sending_at)),
            NotificationStatus::Sent => Some((&mut active.sent_at, row.sent_at)),
            NotificationStatus::Delivered => Some((&mut active.delivered_at, row.delivered_at)),
            NotificationStatus::Read => Some((&mut active.read_at, row.read_at)),
            NotificationStatus::Failed => Some((&mut active.failed_at, row.failed_at)),
            NotificationStatus::Cancelled => Some((&mut active.cancelled_at, row.cancelled_at)),
            NotificationStatus::Skipped => Some((&mut active.skipped_at, row.skipped_at)),
        };
        if let Some((column, existing)) = stamp {
            *column = Set(Some(existing.unwrap_or(now)));
        }
        patch(&mut active);
        let result = notification::Entity::update_many()
            .set(active.clone())
            .filter(notification::Column::Id.eq(id))
            .filter(notification::Column::Status.eq(current.as_str()))
            .exec(db)
            .await?;
        if result.rows_affected == 1 {
            // The row as written, from the read plus our changes: no second read (and no
            // second unsealing) on the hot path of every send.
            let updated = active
                .try_into_model()
                .map_err(|e| StoreError::Corrupt(format!("notification {id}: {e}")))?;
            return Ok(Transition::Applied(Box::new(updated)));
        }
        // Someone changed the status between our read and write: read again and re-decide.
    }
    Err(StoreError::Corrupt(format!(
        "notification {id}: status kept changing under concurrent updates"
    )))
}

/// Stores the rendered content and moves the notification to `sending`, in one statement:
/// this runs for every message, a batch's included. A notification already `sending` (a
/// retried render) gets its content refreshed and keeps its first `sending` time. Returns
/// the status after: `sending`, or the current one when it has moved on (cancelled
/// meanwhile), in which case nothing is written.
pub async fn store_rendered(
    db: &impl ConnectionTrait,
    id: Uuid,
    tenant_id: Uuid,
    rendered: serde_json::Value,
) -> Result<NotificationStatus, StoreError> {
    let now = Utc::now();
    let place = sealed::Place {
        tenant: tenant_id,
        id,
    };
    let rendered = sealed::seal_json(place, "rendered", rendered);
    let sending = NotificationStatus::Sending.as_str();
    let result = notification::Entity::update_many()
        .col_expr(notification::Column::Rendered, Expr::value(rendered))
        .col_expr(notification::Column::Status, Expr::value(sending))
        .col_expr(
            notification::Column::SendingAt,
            Func::coalesce([Expr::col(notification::Column::SendingAt), Expr::value(now)]).into(),
        )
        .col_expr(notification::Column::UpdatedAt, Expr::value(now))
        .filter(notification::Column::Id.eq(id))
        .filter(notification::Column::Status.is_in([NotificationStatus::Pending.as_str(), sending]))
        .exec(db)
        .await?;
    if result.rows_affected == 1 {
        return Ok(NotificationStatus::Sending);
    }
    let current: Option<String> = notification::Entity::find_by_id(id)
        .select_only()
        .column(notification::Column::Status)
        .into_tuple()
        .one(db)
        .await?;
    current
        .ok_or(StoreError::NotFound)?
        .parse()
        .map_err(StoreError::Corrupt)
}

/// Opens the record of one send attempt. An attempt of the same notification still open
/// means its worker died mid-send: it is closed as `lost`, so the timeline stays truthful.
pub async fn start_attempt(
    db: &impl ConnectionTrait,
    notification_id: Uuid,
    attempt: i32,
    provider: &str,
    provider_kind: &str,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    start_attempts(
        db,
        &[NewAttempt {
            id,
            notification_id,
            attempt,
            provider,
            provider_kind,
        }],
    )
    .await?;
    Ok(id)
}

/// An attempt to open, with the id its caller chose.
pub struct NewAttempt<'a> {
    pub id: Uuid,
    pub notification_id: Uuid,
    pub attempt: i32,
    pub provider: &'a str,
    pub provider_kind: &'a str,
}

/// [`start_attempt`] for several notifications (a batch group, each once) in three
/// statements instead of three each: on SQLite every statement is a round trip to the
/// connection's own thread, and a group's writes hold the database's one write lock.
pub async fn start_attempts(
    db: &impl ConnectionTrait,
    attempts: &[NewAttempt<'_>],
) -> Result<(), StoreError> {
    if attempts.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let ids: Vec<Uuid> = attempts.iter().map(|a| a.notification_id).collect();
    notification_attempt::Entity::update_many()
        .col_expr(notification_attempt::Column::Outcome, Expr::value("lost"))
        .col_expr(
            notification_attempt::Column::Error,
            Expr::value("the worker stopped during this attempt"),
        )
        .col_expr(notification_attempt::Column::FinishedAt, Expr::value(now))
        .filter(notification_attempt::Column::NotificationId.is_in(ids.iter().copied()))
        .filter(notification_attempt::Column::Outcome.eq("in_progress"))
        .exec(db)
        .await?;
    notification_attempt::Entity::insert_many(attempts.iter().map(|a| {
        notification_attempt::ActiveModel {
            id: Set(a.id),
            notification_id: Set(a.notification_id),
            attempt: Set(a.attempt),
            provider: Set(a.provider.to_owned()),
            provider_kind: Set(Some(a.provider_kind.to_owned())),
            outcome: Set("in_progress".into()),
            error: Set(None),
            error_code: Set(None),
            started_at: Set(now),
            finished_at: Set(None),
        }
    }))
    .exec_without_returning(db)
    .await?;
    // Counts attempts across providers: with failover, Temporal's attempt number restarts
    // for each provider.
    notification::Entity::update_many()
        .col_expr(
            notification::Column::Attempts,
            sea_orm::sea_query::ExprTrait::add(Expr::col(notification::Column::Attempts), 1),
        )
        .col_expr(notification::Column::UpdatedAt, Expr::value(now))
        .filter(notification::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Sent,
    RetryableError,
    PermanentError,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::RetryableError => "retryable_error",
            AttemptOutcome::PermanentError => "permanent_error",
        }
    }
}

/// Closes an attempt; an error also becomes the notification's `last_error`.
pub async fn finish_attempt(
    db: &impl ConnectionTrait,
    attempt_id: Uuid,
    notification_id: Uuid,
    outcome: AttemptOutcome,
    error: Option<&str>,
    error_code: Option<&str>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    close_attempts(db, [attempt_id], outcome, error, error_code, now).await?;
    if let Some(error) = error {
        notification::Entity::update_many()
            .col_expr(
                notification::Column::LastError,
                Expr::value(error.to_owned()),
            )
            .col_expr(notification::Column::UpdatedAt, Expr::value(now))
            .filter(notification::Column::Id.eq(notification_id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Closes attempts with one outcome, in one statement however many.
async fn close_attempts(
    db: &impl ConnectionTrait,
    attempt_ids: impl IntoIterator<Item = Uuid>,
    outcome: AttemptOutcome,
    error: Option<&str>,
    error_code: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    notification_attempt::Entity::update_many()
        .col_expr(
            notification_attempt::Column::Outcome,
            Expr::value(outcome.as_str()),
        )
        .col_expr(
            notification_attempt::Column::Error,
            Expr::value(error.map(str::to_owned)),
        )
        .col_expr(
            notification_attempt::Column::ErrorCode,
            Expr::value(error_code.map(str::to_owned)),
        )
        .col_expr(notification_attempt::Column::FinishedAt, Expr::value(now))
        .filter(notification_attempt::Column::Id.is_in(attempt_ids))
        .exec(db)
        .await?;
    Ok(())
}

/// A message a provider accepted, to record as sent.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    pub notification_id: Uuid,
    /// The notification's tenant.
    pub tenant_id: Uuid,
    pub attempt_id: Uuid,
    /// The provider account's name.
    pub provider: &'a str,
    /// The tenant account's id; `None` for a server-wide account. Reports match by it.
    pub provider_account_id: Option<Uuid>,
    pub provider_message_id: Option<&'a str>,
}

/// Records, in the caller's transaction, that providers accepted these messages: each
/// notification `sent` with its provider's message id, and each attempt closed as sent.
/// Two statements for all of them (a batch group's; a single send is a group of one):
/// on SQLite every statement is a round trip to the connection's own thread, while the
/// group holds the database's one write lock.
///
/// A notification the status model keeps from `sent` (cancelled or failed while its
/// provider was called, or already delivered) keeps its status; those are returned with
/// it. The caller's transaction should come from [`crate::begin_write`]: this is the one
/// write that must not fail.
pub async fn record_sent(
    db: &impl ConnectionTrait,
    sent: &[Sent<'_>],
) -> Result<Vec<(Uuid, NotificationStatus)>, StoreError> {
    if sent.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let ids: Vec<Uuid> = sent.iter().map(|s| s.notification_id).collect();
    // The statuses the model lets move to `sent` (itself included: a repeat is harmless).
    let movable = NotificationStatus::ALL
        .into_iter()
        .filter(|s| s.can_move_to(NotificationStatus::Sent))
        .map(NotificationStatus::as_str);
    let updated = notification::Entity::update_many()
        .col_expr(
            notification::Column::Status,
            Expr::value(NotificationStatus::Sent.as_str()),
        )
        .col_expr(
            notification::Column::SentAt,
            Func::coalesce([Expr::col(notification::Column::SentAt), Expr::value(now)]).into(),
        )
        .col_expr(notification::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            notification::Column::Provider,
            per_row(sent, |s| Some(s.provider.to_owned())),
        )
        .col_expr(
            notification::Column::ProviderAccountId,
            per_row(sent, |s| s.provider_account_id),
        )
        .col_expr(
            notification::Column::ProviderMessageId,
            per_row(sent, |s| s.provider_message_id.map(str::to_owned)),
        )
        .filter(notification::Column::Id.is_in(ids.iter().copied()))
        .filter(notification::Column::Status.is_in(movable))
        .exec(db)
        .await?;
    close_attempts(
        db,
        sent.iter().map(|s| s.attempt_id),
        AttemptOutcome::Sent,
        None,
        None,
        now,
    )
    .await?;
    if updated.rows_affected == sent.len() as u64 {
        return Ok(Vec::new());
    }
    // Rare (an operator's cancel raced the provider call): which ones, and where they are.
    let kept: Vec<(Uuid, Text<NotificationStatus>)> = notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .column(notification::Column::Status)
        .filter(notification::Column::Id.is_in(ids))
        .filter(notification::Column::Status.ne(NotificationStatus::Sent.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    kept.into_iter()
        .map(|(id, status)| Ok((id, *status)))
        .collect()
}

/// A value for each row of a multi-row update: the same for all, or one per notification
/// id (`CASE id WHEN … THEN …`).
fn per_row<'a, V>(sent: &[Sent<'a>], value: impl Fn(&Sent<'a>) -> V) -> SimpleExpr
where
    V: Into<SimpleExpr> + PartialEq,
{
    let first = value(&sent[0]);
    if sent.iter().all(|s| value(s) == first) {
        return Expr::value(first);
    }
    sent.iter()
        .fold(CaseStatement::new(), |case, s| {
            case.case(notification::Column::Id.eq(s.notification_id), value(s))
        })
        .into()
}

/// Re-seals the personal data of every notification sealed with another key than the
/// installed keyring's current one (the last step of a key rotation). Returns how many.
pub async fn reseal_all(db: &impl ConnectionTrait) -> Result<u64, StoreError> {
    let Some(keyring) = sealed::installed() else {
        return Err(StoreError::NoKeyring);
    };
    let current = format!("{}%", keyring.current_prefix());
    let mut count = 0;
    let mut after = Uuid::nil();
    loop {
        let batch = notification::Entity::find()
            .filter(notification::Column::Id.gt(after))
            .filter(notification::Column::Recipient.not_like(current.as_str()))
            // Purged rows hold placeholders, nothing to seal.
            .filter(notification::Column::PurgedAt.is_null())
            .order_by_asc(notification::Column::Id)
            .limit(500)
            .all(db)
            .await?;
        let Some(last) = batch.last() else {
            return Ok(count);
        };
        after = last.id;
        for row in batch {
            let row = opened(row)?;
            let id = sealed::Place {
                tenant: row.tenant_id,
                id: row.id,
            };
            notification::ActiveModel {
                id: Set(row.id),
                recipient: Set(sealed::seal_text(id, "recipient", row.recipient)),
                content: Set(sealed::seal_json(id, "content", row.content)),
                data: Set(row.data.map(|d| sealed::seal_json(id, "data", d))),
                rendered: Set(row.rendered.map(|r| sealed::seal_json(id, "rendered", r))),
                fallback: Set(row.fallback.map(|f| sealed::seal_json(id, "fallback", f))),
                ..Default::default()
            }
            .update(db)
            .await?;
            count += 1;
        }
    }
}

/// Engagement a tracked email reports: opened, or a tracked link followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engagement {
    Opened,
    Clicked,
}

/// Records the first time of `engagement` (later ones keep it; the event log's trigger
/// writes `notification.opened` / `notification.clicked` once).
pub async fn record_engagement(
    db: &impl ConnectionTrait,
    id: Uuid,
    engagement: Engagement,
) -> Result<(), StoreError> {
    let column = match engagement {
        Engagement::Opened => notification::Column::OpenedAt,
        Engagement::Clicked => notification::Column::ClickedAt,
    };
    notification::Entity::update_many()
        .col_expr(column, sea_orm::sea_query::Expr::value(Some(Utc::now())))
        .filter(notification::Column::Id.eq(id))
        .filter(column.is_null())
        .exec(db)
        .await?;
    Ok(())
}
