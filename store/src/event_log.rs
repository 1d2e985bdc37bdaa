//! A tenant's event log, read: the events the database's triggers wrote in the same
//! transaction as each change (`m0020_event_log`), after a cursor, oldest first. On
//! PostgreSQL only events whose every predecessor has settled are read (see the migration),
//! so a reader going from cursor to cursor never skips one committed late. Retention deletes
//! old events and remembers how far ([`purge`]): a cursor older than that gets
//! [`Listed::Expired`], never a silent gap.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{event_log, event_log_horizon},
};

pub use event_log::Model as LoggedEvent;

/// What [`list`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    /// The events after the cursor (at most the limit), oldest first.
    Events(Vec<LoggedEvent>),
    /// Events after the cursor were deleted by retention: the reader must start again
    /// from the current state.
    Expired { purged_up_to: i64 },
}

/// The tenant's events after `after` (0: from the oldest kept), of `types` (empty: all),
/// at most `limit`.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    after: i64,
    types: &[String],
    limit: u64,
) -> Result<Listed, StoreError> {
    let purged_up_to = horizon(db).await?;
    if after > 0 && after < purged_up_to {
        return Ok(Listed::Expired { purged_up_to });
    }
    let mut query = event_log::Entity::find()
        .filter(event_log::Column::TenantId.eq(tenant_id))
        .filter(event_log::Column::Id.gt(after))
        .order_by_asc(event_log::Column::Id)
        .limit(limit);
    if !types.is_empty() {
        query = query.filter(event_log::Column::EventType.is_in(types.iter().cloned()));
    }
    if db.get_database_backend() == DbBackend::Postgres {
        query = query.filter(Expr::cust(
            "event_log.xid < pg_snapshot_xmin(pg_current_snapshot())",
        ));
    }
    Ok(Listed::Events(query.all(db).await?))
}

/// The highest event id retention deleted (0: none yet).
async fn horizon(db: &impl ConnectionTrait) -> Result<i64, StoreError> {
    Ok(event_log_horizon::Entity::find_by_id(1)
        .one(db)
        .await?
        .map_or(0, |row| row.purged_up_to))
}

/// Deletes every tenant's events older than `older_than`, remembering the highest id
/// deleted. Returns how many.
pub async fn purge(
    db: &impl ConnectionTrait,
    older_than: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let newest: Option<i64> = event_log::Entity::find()
        .select_only()
        .column_as(event_log::Column::Id.max(), "max")
        .filter(event_log::Column::OccurredAt.lt(older_than))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    let Some(newest) = newest else {
        return Ok(0);
    };
    // The horizon first: a reader never sees a gap that is not announced.
    let row = event_log_horizon::ActiveModel {
        id: Set(1),
        purged_up_to: Set(newest.max(horizon(db).await?)),
    };
    match event_log_horizon::Entity::find_by_id(1).one(db).await? {
        Some(_) => row.update(db).await.map(drop)?,
        None => row.insert(db).await.map(drop)?,
    }
    let deleted = event_log::Entity::delete_many()
        .filter(event_log::Column::Id.lte(newest))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
