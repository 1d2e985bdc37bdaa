//! A tenant's event log, read: the events the database's triggers wrote in the same
//! transaction as each change (`m0020_event_log`), after a cursor, oldest first. On
//! PostgreSQL the log is read in (transaction, id) order and only as far as every
//! transaction before it has ended (`m0021_event_log_order`), so the part shown only ever
//! grows at its end: a reader going from cursor to cursor never skips an event committed
//! late. Retention deletes old events and remembers how far ([`purge`]): a cursor older
//! than that gets [`Listed::Expired`], never a silent gap.

use std::{collections::HashMap, fmt, str::FromStr};

use chrono::{DateTime, Utc};
use pombo_contract::Channel;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{batch, conversation, event_log, event_log_horizon, notification},
};

pub use event_log::Model as LoggedEvent;

/// A position in the log: after the event with this transaction and id. Written `id` on
/// SQLite (where `xact` is always 0) and `xact-id` on PostgreSQL; `0` is the beginning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    pub xact: i64,
    pub id: i64,
}

impl Cursor {
    pub const START: Cursor = Cursor { xact: 0, id: 0 };

    /// Where `event` is.
    pub fn of(event: &LoggedEvent) -> Cursor {
        Cursor {
            xact: event.xact,
            id: event.id,
        }
    }

    /// Events after this one, written so that an index on `(…, xact, id)` seeks to the
    /// first of them: `xact > a OR (xact = a AND id > b)` made both databases read the
    /// index from `xact = a` on, which on SQLite (every `xact` 0) is the whole log: 120 ms
    /// for a tenant with a million events. On SQLite the log's order is its ids' (one
    /// writer at a time), on PostgreSQL `xact` bounds the range from below.
    fn after(self, backend: DbBackend) -> Condition {
        match backend {
            DbBackend::Postgres => Condition::all()
                .add(event_log::Column::Xact.gte(self.xact))
                .add(
                    Condition::any()
                        .add(event_log::Column::Xact.gt(self.xact))
                        .add(event_log::Column::Id.gt(self.id)),
                ),
            _ => Condition::all()
                .add(event_log::Column::Xact.eq(self.xact))
                .add(event_log::Column::Id.gt(self.id)),
        }
    }

    /// [`Cursor::after`] as SQL over the log's alias `log`, with this cursor's `xact` and
    /// `id` bound as the values numbered `xact` and `id`.
    pub(crate) fn after_sql(backend: DbBackend, log: &str, xact: usize, id: usize) -> String {
        let (xact, id) = (crate::param(backend, xact), crate::param(backend, id));
        match backend {
            DbBackend::Postgres => {
                format!("{log}.xact >= {xact} AND ({log}.xact > {xact} OR {log}.id > {id})")
            }
            _ => format!("{log}.xact = {xact} AND {log}.id > {id}"),
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.xact {
            0 => write!(f, "{}", self.id),
            xact => write!(f, "{xact}-{}", self.id),
        }
    }
}

/// A cursor that is not one this log gave.
#[derive(Debug, thiserror::Error)]
#[error("not a cursor of the event log")]
pub struct BadCursor;

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(text: &str) -> Result<Cursor, BadCursor> {
        let number = |part: &str| {
            part.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0 && part.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(BadCursor)
        };
        match text.split_once('-') {
            None => Ok(Cursor {
                xact: 0,
                id: number(text)?,
            }),
            Some((xact, id)) => Ok(Cursor {
                xact: number(xact)?,
                id: number(id)?,
            }),
        }
    }
}

/// An event's id as tenants see it (`webhook-id`, `GET /v1/events/{id}/attempts`).
pub fn public_id(id: i64) -> String {
    format!("evt_{id}")
}

/// [`public_id`] read back.
pub fn parse_public_id(text: &str) -> Option<i64> {
    text.strip_prefix("evt_")?
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
}

/// What an event says beyond its type and time: the ids it is about and the status after
/// it (the fields `GET /v1/event-types` lists). The same for the log, the stream and
/// webhooks.
pub fn data(e: &LoggedEvent) -> serde_json::Value {
    use serde_json::json;
    let related = e.related_id.map(|id| id.to_string());
    match e.event_type.split('.').next() {
        Some("notification") if e.event_type == "notification.fallback" => json!({
            "notification_id": e.subject_id,
            "status": e.status,
            "fallback_id": related,
        }),
        Some("notification") => json!({
            "notification_id": e.subject_id,
            "status": e.status,
            "batch_id": related,
        }),
        Some("instance") => json!({
            "instance_id": e.subject_id,
            "connection": e.status,
        }),
        Some("batch") => json!({
            "batch_id": e.subject_id,
            "status": e.status,
        }),
        Some("hub") if e.event_type.starts_with("hub.platform.") => json!({
            "platform_id": e.subject_id,
            "status": e.status,
        }),
        Some("hub") => json!({
            "message_id": e.subject_id,
            "platform_id": related,
            "status": e.status,
        }),
        Some("endpoint") => json!({
            "endpoint_id": e.subject_id,
            "status": e.status,
        }),
        Some("message") if e.event_type == "message.updated" => json!({
            "message_id": e.subject_id,
            "conversation_id": related,
            "change": e.status,
        }),
        Some("message") => json!({
            "message_id": e.subject_id,
            "conversation_id": related,
        }),
        _ => json!({
            "conversation_id": e.subject_id,
            "contact_id": related,
            "status": e.status,
        }),
    }
}

/// What [`list`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    /// The events after the cursor (at most the limit), oldest first.
    Events(Vec<LoggedEvent>),
    /// Events after the cursor were deleted by retention: the reader must start again
    /// from the current state.
    Expired { purged_up_to: Cursor },
}

/// Events in log order, settled ones only (see the module's header).
fn in_order(db: &impl ConnectionTrait, after: Cursor, limit: u64) -> Select<event_log::Entity> {
    let mut query = event_log::Entity::find()
        .filter(after.after(db.get_database_backend()))
        .order_by_asc(event_log::Column::Xact)
        .order_by_asc(event_log::Column::Id)
        .limit(limit);
    if db.get_database_backend() == DbBackend::Postgres {
        query = query.filter(Expr::cust(
            "event_log.xact < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        ));
    }
    query
}

/// The tenant's events after `after` ([`Cursor::START`]: from the oldest kept), of
/// `types` (empty: all), at most `limit`.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    after: Cursor,
    types: &[String],
    limit: u64,
) -> Result<Listed, StoreError> {
    let purged_up_to = horizon(db).await?;
    if after != Cursor::START && after < purged_up_to {
        return Ok(Listed::Expired { purged_up_to });
    }
    let mut query = in_order(db, after, limit).filter(event_log::Column::TenantId.eq(tenant_id));
    if !types.is_empty() {
        query = query.filter(event_log::Column::EventType.is_in(types.iter().cloned()));
    }
    Ok(Listed::Events(query.all(db).await?))
}

/// The tenant's events that occurred at or after `since` and are at or before `until` in
/// the log, oldest first, at most `limit`: what an endpoint missed while it was disabled.
pub async fn missed(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    since: DateTime<Utc>,
    until: Cursor,
    limit: u64,
) -> Result<Vec<LoggedEvent>, StoreError> {
    Ok(event_log::Entity::find()
        .filter(event_log::Column::TenantId.eq(tenant_id))
        .filter(event_log::Column::OccurredAt.gte(since))
        .filter(until.after(db.get_database_backend()).not())
        .order_by_asc(event_log::Column::Xact)
        .order_by_asc(event_log::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Every tenant's events after `after`, at most `limit`: what the streams of one API
/// process follow.
pub async fn follow(
    db: &impl ConnectionTrait,
    after: Cursor,
    limit: u64,
) -> Result<Vec<LoggedEvent>, StoreError> {
    Ok(in_order(db, after, limit).all(db).await?)
}

/// Where the log ends now: a follower starting here sees only what comes next.
pub async fn end(db: &impl ConnectionTrait) -> Result<Cursor, StoreError> {
    let mut query = event_log::Entity::find()
        .order_by_desc(event_log::Column::Xact)
        .order_by_desc(event_log::Column::Id);
    if db.get_database_backend() == DbBackend::Postgres {
        query = query.filter(Expr::cust(
            "event_log.xact < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        ));
    }
    let last = query.one(db).await?;
    Ok(last.as_ref().map_or(horizon(db).await?, Cursor::of))
}

/// What an event is about beyond its ids, for a stream's filters: the channel, the provider
/// account (a gateway instance), the conversation and the recipient profile (those that
/// apply: a batch has a channel only).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub channel: Option<Channel>,
    pub provider_account_id: Option<Uuid>,
    pub conversation_id: Option<Uuid>,
    pub recipient_id: Option<Uuid>,
}

/// The [`Facts`] of each event, in the same order: three queries at most, whatever the
/// number.
pub async fn facts(
    db: &impl ConnectionTrait,
    events: &[LoggedEvent],
) -> Result<Vec<Facts>, StoreError> {
    let is_notification = |e: &LoggedEvent| e.event_type.starts_with("notification.");
    let conversation_of = |e: &LoggedEvent| match e.event_type.split('.').next() {
        Some("message") => e.related_id,
        Some("conversation") => Some(e.subject_id),
        _ => None,
    };
    let notification_ids: Vec<Uuid> = events
        .iter()
        .filter(|e| is_notification(e))
        .map(|e| e.subject_id)
        .collect();
    let conversation_ids: Vec<Uuid> = events.iter().filter_map(conversation_of).collect();
    let batch_ids: Vec<Uuid> = events
        .iter()
        .filter(|e| e.event_type.starts_with("batch."))
        .map(|e| e.subject_id)
        .collect();
    let mut batches = HashMap::new();
    if !batch_ids.is_empty() {
        let rows: Vec<(Uuid, String)> = batch::Entity::find()
            .select_only()
            .column(batch::Column::Id)
            .column(batch::Column::Channel)
            .filter(batch::Column::Id.is_in(batch_ids))
            .into_tuple()
            .all(db)
            .await?;
        for (id, channel) in rows {
            batches.insert(id, channel.parse::<Channel>().ok());
        }
    }
    let mut notifications = HashMap::new();
    if !notification_ids.is_empty() {
        let rows: Vec<(Uuid, String, Option<Uuid>, Option<Uuid>)> = notification::Entity::find()
            .select_only()
            .column(notification::Column::Id)
            .column(notification::Column::Channel)
            .column(notification::Column::ProviderAccountId)
            .column(notification::Column::RecipientId)
            .filter(notification::Column::Id.is_in(notification_ids))
            .into_tuple()
            .all(db)
            .await?;
        for (id, channel, account, recipient) in rows {
            notifications.insert(id, (channel.parse().ok(), account, recipient));
        }
    }
    let mut conversations = HashMap::new();
    if !conversation_ids.is_empty() {
        let rows: Vec<(Uuid, String, Option<Uuid>)> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::Id)
            .column(conversation::Column::Channel)
            .column(conversation::Column::ProviderAccountId)
            .filter(conversation::Column::Id.is_in(conversation_ids))
            .into_tuple()
            .all(db)
            .await?;
        for (id, channel, account) in rows {
            conversations.insert(id, (channel.parse().ok(), account));
        }
    }
    Ok(events
        .iter()
        .map(|e| {
            if e.event_type.starts_with("instance.") {
                Facts {
                    provider_account_id: Some(e.subject_id),
                    ..Facts::default()
                }
            } else if e.event_type.starts_with("batch.") {
                Facts {
                    channel: batches.get(&e.subject_id).copied().flatten(),
                    ..Facts::default()
                }
            } else if is_notification(e) {
                let (channel, provider_account_id, recipient_id) = notifications
                    .get(&e.subject_id)
                    .cloned()
                    .unwrap_or_default();
                Facts {
                    channel,
                    provider_account_id,
                    conversation_id: None,
                    recipient_id,
                }
            } else {
                let conversation_id = conversation_of(e);
                let (channel, provider_account_id) = conversation_id
                    .and_then(|id| conversations.get(&id).cloned())
                    .unwrap_or_default();
                Facts {
                    channel,
                    provider_account_id,
                    conversation_id,
                    recipient_id: None,
                }
            }
        })
        .collect())
}

/// The newest event retention deleted ([`Cursor::START`]: none yet).
pub(crate) async fn horizon(db: &impl ConnectionTrait) -> Result<Cursor, StoreError> {
    Ok(event_log_horizon::Entity::find_by_id(1)
        .one(db)
        .await?
        .map_or(Cursor::START, |row| Cursor {
            xact: row.purged_xact,
            id: row.purged_up_to,
        }))
}

/// Deletes every tenant's events older than `older_than` (and any settled before the newest
/// of those in log order), remembering how far. Returns how many.
pub async fn purge(
    db: &impl ConnectionTrait,
    older_than: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let newest = event_log::Entity::find()
        .filter(event_log::Column::OccurredAt.lt(older_than))
        .order_by_desc(event_log::Column::Xact)
        .order_by_desc(event_log::Column::Id)
        .one(db)
        .await?;
    let Some(newest) = newest.as_ref().map(Cursor::of) else {
        return Ok(0);
    };
    let newest = newest.max(horizon(db).await?);
    // The horizon first: a reader never sees a gap that is not announced.
    let row = event_log_horizon::ActiveModel {
        id: Set(1),
        purged_up_to: Set(newest.id),
        purged_xact: Set(newest.xact),
    };
    match event_log_horizon::Entity::find_by_id(1).one(db).await? {
        Some(_) => row.update(db).await.map(drop)?,
        None => row.insert(db).await.map(drop)?,
    }
    let deleted = event_log::Entity::delete_many()
        .filter(newest.after(db.get_database_backend()).not())
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite does with a read after a cursor: seek to it in the index, never read
    /// the log from its start (which made each follower poll cost 120 ms at a million
    /// events).
    #[tokio::test]
    async fn a_read_after_a_cursor_seeks_to_it_in_the_index() {
        use sea_orm::{QueryTrait, Statement};
        let db = crate::memory_db("event_log_plan").await;
        let cursor = Cursor { xact: 0, id: 42 };
        let tenant = Uuid::nil();
        let queries = [
            in_order(&db, cursor, 500)
                .build(DbBackend::Sqlite)
                .to_string(),
            in_order(&db, cursor, 500)
                .filter(event_log::Column::TenantId.eq(tenant))
                .build(DbBackend::Sqlite)
                .to_string(),
        ];
        for sql in queries {
            let plan: Vec<String> = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    format!("EXPLAIN QUERY PLAN {sql}"),
                ))
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String>("", "detail").unwrap())
                .collect();
            assert!(
                plan.iter().any(|step| step.contains("id>?")),
                "{sql}: {plan:?}"
            );
        }
    }

    #[test]
    fn cursors_read_back_as_written_and_refuse_anything_else() {
        for cursor in [
            Cursor::START,
            Cursor { xact: 0, id: 42 },
            Cursor { xact: 981, id: 7 },
        ] {
            assert_eq!(cursor.to_string().parse::<Cursor>().unwrap(), cursor);
        }
        assert_eq!("12".parse::<Cursor>().unwrap(), Cursor { xact: 0, id: 12 });
        for bad in [
            "",
            "-1",
            "1-",
            "-",
            "x",
            "1-2-3",
            "+4",
            "1 ",
            "99999999999999999999",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?} was taken");
        }
        assert!(Cursor { xact: 5, id: 1 } > Cursor { xact: 4, id: 9 });
    }
}
