//! Bulk sends: a batch row and its recipients, each an ordinary notification row carrying
//! the batch's id, created together in one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pombo_contract::{Channel, Priority};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr, TryInsertResult, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{batch, notification},
    notifications::{NewNotification, Notification, new_row, opened},
};

pub use batch::Model as Batch;

/// Status of a batch whose workflow has not been started yet.
pub const ACCEPTED: &str = "accepted";
/// Its workflow is sending.
pub const RUNNING: &str = "running";
/// Every recipient has its final outcome (sent, failed, …) or is out of the batch's hands.
pub const COMPLETED: &str = "completed";

/// Rows per multi-row insert: well under SQLite's and PostgreSQL's limits on bound
/// parameters (32,766 and 65,535) at ~40 columns a row.
const INSERT_CHUNK: usize = 400;

/// A batch as the API accepted it.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub channel: Channel,
    pub priority: Priority,
    pub max_attempts: i32,
    pub retry_interval_secs: i64,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub send_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub enum BatchCreated {
    New(Batch),
    /// The tenant already sent a batch with this idempotency key: here it is.
    Existing(Batch),
}

/// Inserts the batch and a notification row per recipient in one transaction, or returns
/// the batch that already holds the idempotency key. A recipient whose own idempotency key
/// the tenant already used is left out (its earlier notification stands) and counted in
/// `skipped`. Members are marked dispatched at once: their batch's workflow sends them, so
/// the single-notification sweep must not start a workflow for each.
pub async fn create(
    db: &DatabaseConnection,
    new: NewBatch,
    // An iterator, so that only one insert's worth of members (sealed, content and all)
    // is in memory at once, however large the batch.
    members: impl ExactSizeIterator<Item = NewNotification>,
) -> Result<BatchCreated, StoreError> {
    let now = Utc::now();
    let requested = members.len();
    let tx = crate::begin_write(db).await?;
    let row = batch::ActiveModel {
        id: Set(new.id),
        tenant_id: Set(new.tenant_id),
        channel: Set(new.channel.into()),
        priority: Set(new.priority.into()),
        status: Set(ACCEPTED.to_owned()),
        total: Set(0),
        skipped: Set(0),
        max_attempts: Set(new.max_attempts),
        retry_interval_secs: Set(new.retry_interval_secs),
        idempotency_key: Set(new.idempotency_key.clone()),
        request_hash: Set(new.request_hash),
        send_at: Set(new.send_at),
        created_at: Set(now),
        dispatched_at: Set(None),
        finished_at: Set(None),
    };
    if let Err(e) = row.insert(&tx).await {
        // PostgreSQL aborts the transaction on the violation: look outside it.
        tx.rollback().await?;
        return match (e.sql_err(), &new.idempotency_key) {
            (Some(SqlErr::UniqueConstraintViolation(_)), Some(key)) => batch::Entity::find()
                .filter(batch::Column::TenantId.eq(new.tenant_id))
                .filter(batch::Column::IdempotencyKey.eq(key.as_str()))
                .one(db)
                .await?
                .map(BatchCreated::Existing)
                .ok_or(StoreError::Db(e)),
            _ => Err(e.into()),
        };
    }

    let mut inserted: u64 = 0;
    let mut members = members.peekable();
    while members.peek().is_some() {
        let rows: Vec<notification::ActiveModel> = members
            .by_ref()
            .take(INSERT_CHUNK)
            .map(|m| {
                let mut row = new_row(m, now);
                row.batch_id = Set(Some(new.id));
                row.dispatched_at = Set(Some(now));
                row
            })
            .collect();
        // A recipient key already used (by an earlier batch or single send) is skipped, not
        // an error: that recipient's notification exists already.
        let result = notification::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([
                notification::Column::TenantId,
                notification::Column::IdempotencyKey,
            ])
            .exec_without_returning(&tx)
            .await?;
        if let TryInsertResult::Inserted(n) = result {
            inserted += n;
        }
    }
    let total = inserted as i32;
    let skipped = (requested as u64).saturating_sub(inserted) as i32;
    batch::Entity::update_many()
        .col_expr(batch::Column::Total, Expr::value(total))
        .col_expr(batch::Column::Skipped, Expr::value(skipped))
        .filter(batch::Column::Id.eq(new.id))
        .exec(&tx)
        .await?;
    let batch = batch::Entity::find_by_id(new.id)
        .one(&tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    Ok(BatchCreated::New(batch))
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> Result<Batch, StoreError> {
    batch::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// A tenant's batch; another tenant's id reads as not found.
pub async fn get_for_tenant(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Batch>, StoreError> {
    Ok(batch::Entity::find_by_id(id)
        .filter(batch::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?)
}

/// How many of the batch's recipients are in each status.
pub async fn counts(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let rows: Vec<(String, i64)> = notification::Entity::find()
        .select_only()
        .column(notification::Column::Status)
        .column_as(notification::Column::Id.count(), "count")
        .filter(notification::Column::BatchId.eq(id))
        .group_by(notification::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Members `offset..offset + limit` of the batch in id order (a chunk of its first pass).
pub async fn members(
    db: &impl ConnectionTrait,
    id: Uuid,
    offset: u64,
    limit: u64,
) -> Result<Vec<Notification>, StoreError> {
    notification::Entity::find()
        .filter(notification::Column::BatchId.eq(id))
        .order_by_asc(notification::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(opened)
        .collect()
}

/// These members of the batch (a chunk of retries), in id order; ids of other batches are
/// left out.
pub async fn members_by_id(
    db: &impl ConnectionTrait,
    id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Notification>, StoreError> {
    notification::Entity::find()
        .filter(notification::Column::BatchId.eq(id))
        .filter(notification::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(notification::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(opened)
        .collect()
}

/// A page of a tenant's batch members in id order, after the `after` member.
pub async fn list_members(
    db: &impl ConnectionTrait,
    id: Uuid,
    status: Option<&str>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Notification>, StoreError> {
    let mut query = notification::Entity::find()
        .filter(notification::Column::BatchId.eq(id))
        .order_by_asc(notification::Column::Id)
        .limit(limit);
    if let Some(status) = status {
        query = query.filter(notification::Column::Status.eq(status));
    }
    if let Some(after) = after {
        query = query.filter(notification::Column::Id.gt(after));
    }
    query.all(db).await?.into_iter().map(opened).collect()
}

/// Records that the batch's workflow exists. Only the first call stamps the time.
pub async fn mark_dispatched(db: &impl ConnectionTrait, id: Uuid) -> Result<(), StoreError> {
    batch::Entity::update_many()
        .col_expr(batch::Column::DispatchedAt, Expr::value(Utc::now()))
        .filter(batch::Column::Id.eq(id))
        .filter(batch::Column::DispatchedAt.is_null())
        .exec(db)
        .await?;
    // A fast workflow may have completed it already: never move it back.
    batch::Entity::update_many()
        .col_expr(batch::Column::Status, Expr::value(RUNNING))
        .filter(batch::Column::Id.eq(id))
        .filter(batch::Column::Status.eq(ACCEPTED))
        .exec(db)
        .await?;
    Ok(())
}

/// Accepted batches whose workflow start is not recorded, oldest first: the batch sweep
/// starts them (a duplicate start is refused by Temporal, so sweeping twice is safe).
pub async fn undispatched(
    db: &impl ConnectionTrait,
    created_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Batch>, StoreError> {
    Ok(batch::Entity::find()
        .filter(batch::Column::DispatchedAt.is_null())
        .filter(batch::Column::CreatedAt.lt(created_before))
        .order_by_asc(batch::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Marks the batch completed (once; a repeated call keeps the first time).
pub async fn finish(db: &impl ConnectionTrait, id: Uuid) -> Result<Batch, StoreError> {
    let now = Utc::now();
    batch::Entity::update_many()
        .col_expr(batch::Column::Status, Expr::value(COMPLETED))
        .col_expr(batch::Column::FinishedAt, Expr::value(now))
        .filter(batch::Column::Id.eq(id))
        .filter(batch::Column::FinishedAt.is_null())
        .exec(db)
        .await?;
    get(db, id).await
}
