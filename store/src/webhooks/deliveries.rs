//! Deliveries of events to endpoints, and their attempts.
//!
//! [`fan_out`] turns the event log into deliveries: it reads the events after the shared
//! cursor (`webhook_fanout`), makes a delivery for each enabled endpoint of the event's
//! tenant that wants it, and moves the cursor, all in one transaction; a cursor moved by
//! another worker meanwhile makes this transaction roll back, so each event is fanned out
//! once. The body is fixed there, so every attempt signs the same bytes.
//!
//! A worker then claims deliveries owed a start ([`claim_unstarted`]), like inbound files:
//! an ordered endpoint's deliveries only one at a time, the oldest in log order first, so
//! a failing head holds the rest. Attempts end in [`record_attempts`], many in one
//! transaction when they finish together.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::Duration,
};

use chrono::{DateTime, Utc};
use pombo_contract::webhooks::DeliveryStatus;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, TransactionSession, TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use super::endpoints::{self, Endpoint};
use crate::{
    StoreError,
    entities::{Text, webhook_attempt, webhook_delivery, webhook_endpoint, webhook_fanout},
    event_log::{self, Cursor, LoggedEvent},
};

pub use webhook_attempt::Model as Attempt;
pub use webhook_delivery::Model as Delivery;

/// The body a delivery of `event` sends: Standard Webhooks' `type`, `timestamp`, `data`,
/// and the event's id (also the `webhook-id` header).
pub fn body(event: &LoggedEvent) -> serde_json::Value {
    json!({
        "id": event_log::public_id(event.id),
        "type": event.event_type,
        "timestamp": event.occurred_at,
        "data": event_log::data(event),
    })
}

fn new_delivery(
    tenant_id: Uuid,
    endpoint_id: Uuid,
    event_id: i64,
    event_xact: i64,
    event_type: &str,
    payload: String,
    now: DateTime<Utc>,
) -> Delivery {
    Delivery {
        id: Uuid::now_v7(),
        tenant_id,
        endpoint_id,
        event_id,
        event_xact,
        event_type: event_type.to_owned(),
        payload,
        status: Text(DeliveryStatus::Pending),
        attempts: 0,
        claimed_until: None,
        started_at: None,
        finished_at: None,
        last_status_code: None,
        last_error: None,
        created_at: now,
    }
}

fn to_insert(row: Delivery) -> webhook_delivery::ActiveModel {
    row.into_active_model().reset_all()
}

async fn insert_all<C: ConnectionTrait>(db: &C, rows: &[Delivery]) -> Result<(), StoreError> {
    // SQLite binds at most 32,766 values per statement; 16 columns each.
    for chunk in rows.chunks(500) {
        webhook_delivery::Entity::insert_many(chunk.iter().cloned().map(to_insert))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The fan-out's cursor, locked until the transaction ends: fan-outs, and an endpoint's
/// enabling ([`resume`]), take turns (SQLite's write transaction is a lock already).
pub(crate) async fn lock_fan_out<C: ConnectionTrait>(tx: &C) -> Result<Cursor, StoreError> {
    fan_out_cursor(tx, true).await
}

/// The fan-out's cursor, locked (`lock`, on PostgreSQL; SQLite's write transaction is the
/// lock there) or only read.
async fn fan_out_cursor<C: ConnectionTrait>(tx: &C, lock: bool) -> Result<Cursor, StoreError> {
    let mut query = webhook_fanout::Entity::find_by_id(1);
    if lock && tx.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let row = query
        .one(tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt("webhook_fanout has no row".into()))?;
    Ok(Cursor {
        xact: row.cursor_xact,
        id: row.cursor_id,
    })
}

/// Most events one enabling delivers of what its endpoint missed.
pub const MAX_MISSED: u64 = 100_000;

/// Deliveries of what `endpoint` missed while disabled: the tenant's events since `since`
/// that the fan-out has passed (`until`, its cursor, locked by the caller); what comes after
/// is the fan-out's, which now finds the endpoint enabled. Returns how many were made.
pub(crate) async fn resume<C: ConnectionTrait>(
    tx: &C,
    endpoint: &Endpoint,
    since: DateTime<Utc>,
    until: Cursor,
) -> Result<usize, StoreError> {
    let events = event_log::missed(tx, endpoint.tenant_id, since, until, MAX_MISSED).await?;
    let facts = if endpoint.channels.is_empty() {
        vec![Default::default(); events.len()]
    } else {
        event_log::facts(tx, &events).await?
    };
    let now = Utc::now();
    let rows: Vec<_> = events
        .iter()
        .zip(&facts)
        .filter_map(|(e, f)| {
            let json = body(e);
            endpoint.wants(&e.event_type, f.channel, &json).then(|| {
                new_delivery(
                    e.tenant_id,
                    endpoint.id,
                    e.id,
                    e.xact,
                    &e.event_type,
                    json.to_string(),
                    now,
                )
            })
        })
        .collect();
    insert_all(tx, &rows).await?;
    Ok(rows.len())
}

/// Deliveries the fanning-out worker takes for itself as it makes them: their rows are
/// written claimed (as [`claim_unstarted`] would leave them), so the worker starts them
/// without claiming and reading them back.
#[derive(Debug, Clone, Copy)]
pub struct TakeFirst {
    /// At most this many (what the worker has room for); the rest wait for a claim.
    pub most: usize,
    pub lease: Duration,
}

/// What a fan-out did.
#[derive(Debug, Default)]
pub struct FannedOut {
    /// Events read (0: the log has nothing new).
    pub events: usize,
    /// Deliveries made claimed by this worker ([`TakeFirst`]), each with its endpoint's
    /// row as this transaction read it.
    pub taken: Vec<(Delivery, endpoints::EndpointRow)>,
}

/// Fans out up to `limit` events after the shared cursor, taking the unordered deliveries
/// it makes for the caller, up to `take.most` (0: none): it stops before an event whose
/// deliveries would not all fit, unless that is the first. An ordered endpoint's deliveries
/// are never taken (its head rule is the claim's).
pub async fn fan_out<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    limit: u64,
    take: TakeFirst,
) -> Result<FannedOut, StoreError> {
    // A read first: an idle log (the usual case between bursts) costs every worker one
    // indexed read per poll, not a write transaction (SQLite's write lock, PostgreSQL's
    // row lock) that the senders' commits would queue behind.
    let seen = fan_out_cursor(db, false).await?;
    if event_log::follow(db, seen, 1).await?.is_empty() {
        return Ok(FannedOut::default());
    }
    let tx = crate::begin_write(db).await?;
    let from = lock_fan_out(&tx).await?;
    let events = event_log::follow(&tx, from, limit).await?;
    if events.is_empty() {
        tx.commit().await?;
        return Ok(FannedOut::default());
    }
    let mut tenants: Vec<Uuid> = events.iter().map(|e| e.tenant_id).collect();
    tenants.sort();
    tenants.dedup();
    let endpoints = endpoints::enabled_rows_of(&tx, tenants).await?;
    let mut taken = Vec::new();
    let mut read = events.len();
    if !endpoints.is_empty() {
        let mut by_tenant: HashMap<Uuid, Vec<&(endpoints::EndpointRow, Endpoint)>> = HashMap::new();
        for endpoint in &endpoints {
            by_tenant
                .entry(endpoint.1.tenant_id)
                .or_default()
                .push(endpoint);
        }
        let facts = if endpoints.iter().any(|(_, e)| !e.channels.is_empty()) {
            event_log::facts(&tx, &events).await?
        } else {
            vec![Default::default(); events.len()]
        };
        let now = Utc::now();
        let claimed_until =
            now + chrono::Duration::from_std(take.lease).unwrap_or(chrono::Duration::MAX);
        let mut rows = Vec::new();
        for (i, (event, facts)) in events.iter().zip(&facts).enumerate() {
            let Some(wanting) = by_tenant.get(&event.tenant_id) else {
                continue;
            };
            let json = body(event);
            let wanted: Vec<&(endpoints::EndpointRow, Endpoint)> = wanting
                .iter()
                .copied()
                .filter(|(_, endpoint)| {
                    endpoint.created_at <= event.occurred_at
                        && endpoint.wants(&event.event_type, facts.channel, &json)
                })
                .collect();
            // The worker takes every unordered delivery it makes: this fan-out ends before
            // an event it has no room for (the next fan-out, or another worker's, makes it),
            // unless it is the first (then what does not fit waits for a claim).
            let unordered = wanted.iter().filter(|(_, e)| !e.ordered).count();
            if take.most > 0 && i > 0 && taken.len() + unordered > take.most {
                read = i;
                break;
            }
            if wanted.is_empty() {
                continue;
            }
            let payload = json.to_string();
            for (row, endpoint) in wanted {
                let mut delivery = new_delivery(
                    event.tenant_id,
                    endpoint.id,
                    event.id,
                    event.xact,
                    &event.event_type,
                    payload.clone(),
                    now,
                );
                if !endpoint.ordered && taken.len() < take.most {
                    delivery.claimed_until = Some(claimed_until);
                    taken.push((delivery.clone(), row.clone()));
                }
                rows.push(delivery);
            }
        }
        insert_all(&tx, &rows).await?;
    }
    // Never 0: the first event is always fanned out.
    let last = Cursor::of(&events[read - 1]);
    let moved = webhook_fanout::Entity::update_many()
        .col_expr(webhook_fanout::Column::CursorXact, Expr::value(last.xact))
        .col_expr(webhook_fanout::Column::CursorId, Expr::value(last.id))
        .filter(webhook_fanout::Column::Id.eq(1))
        .filter(webhook_fanout::Column::CursorXact.eq(from.xact))
        .filter(webhook_fanout::Column::CursorId.eq(from.id))
        .exec(&tx)
        .await?;
    if moved.rows_affected != 1 {
        // Another worker fanned these out first.
        tx.rollback().await?;
        return Ok(FannedOut::default());
    }
    tx.commit().await?;
    Ok(FannedOut {
        events: read,
        taken,
    })
}

/// Not started, or started by a worker whose claim ran out.
fn unclaimed(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(webhook_delivery::Column::ClaimedUntil.is_null())
        .add(webhook_delivery::Column::ClaimedUntil.lt(now))
}

fn unstarted() -> Condition {
    Condition::all()
        .add(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .add(webhook_delivery::Column::StartedAt.is_null())
}

/// An ordered endpoint's delivery may start only when no delivery of that endpoint before
/// it in log order is still pending.
const HEAD_OF_ORDERED: &str = "(NOT EXISTS (SELECT 1 FROM webhook_endpoints e \
       WHERE e.id = webhook_deliveries.endpoint_id AND e.ordered) \
     OR NOT EXISTS (SELECT 1 FROM webhook_deliveries o \
       WHERE o.endpoint_id = webhook_deliveries.endpoint_id AND o.status = 'pending' \
       AND (o.event_xact < webhook_deliveries.event_xact \
         OR (o.event_xact = webhook_deliveries.event_xact \
           AND (o.event_id < webhook_deliveries.event_id \
             OR (o.event_id = webhook_deliveries.event_id AND o.id < webhook_deliveries.id))))))";

/// Claims up to `limit` deliveries owed a start, oldest first, for `lease`: their rows,
/// body and all, so their first attempts read nothing more of them.
pub async fn claim_unstarted(
    db: &impl ConnectionTrait,
    limit: u64,
    lease: Duration,
) -> Result<Vec<Delivery>, StoreError> {
    let now = Utc::now();
    let ids: Vec<Uuid> = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::Id)
        .filter(unstarted())
        .filter(unclaimed(now))
        .filter(Expr::cust(HEAD_OF_ORDERED))
        .order_by_asc(webhook_delivery::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let mut claimed = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::ClaimedUntil, Expr::value(until))
        .filter(webhook_delivery::Column::Id.is_in(ids))
        .filter(unstarted())
        .filter(unclaimed(now))
        .exec_with_returning(db)
        .await?;
    claimed.sort_by_key(|d| d.id);
    Ok(claimed)
}

/// Records that the delivery's workflow exists.
pub async fn mark_started(db: &impl ConnectionTrait, delivery_id: Uuid) -> Result<(), StoreError> {
    webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::StartedAt, Expr::value(Utc::now()))
        .filter(webhook_delivery::Column::Id.eq(delivery_id))
        .filter(webhook_delivery::Column::StartedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// A delivery with its endpoint's row, for an attempt; `None` when either is gone.
pub async fn with_endpoint(
    db: &impl ConnectionTrait,
    delivery_id: Uuid,
) -> Result<Option<(Delivery, endpoints::EndpointRow)>, StoreError> {
    let Some(delivery) = webhook_delivery::Entity::find_by_id(delivery_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let endpoint = webhook_endpoint::Entity::find_by_id(delivery.endpoint_id)
        .one(db)
        .await?;
    Ok(endpoint.map(|e| (delivery, e)))
}

/// One attempt, as it went.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub attempted_at: DateTime<Utc>,
    pub succeeded: bool,
    pub status_code: Option<u16>,
    pub duration: Duration,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    /// No retry follows: a failure settles the delivery as failed.
    pub last: bool,
}

impl AttemptRecord {
    /// The attempt's number as the columns keep it.
    fn number(&self) -> i32 {
        i32::try_from(self.attempt).unwrap_or(i32::MAX)
    }
}

/// Records attempts (each of its delivery) and what they make of their deliveries
/// (succeeded, failed for good, or still pending) and of their endpoints' health, in one
/// transaction: what a worker's attempts finished meanwhile commit together. An attempt
/// recorded already (same delivery and attempt number: a retried activity) is recorded
/// nothing twice. True when these attempts disabled an endpoint.
pub async fn record_attempts<C: TransactionTrait>(
    db: &C,
    attempts: &[(Delivery, AttemptRecord)],
    rules: endpoints::HealthRules,
) -> Result<bool, StoreError> {
    if attempts.is_empty() {
        return Ok(false);
    }
    let tx = crate::begin_write(db).await?;
    let mut recorded: HashSet<(Uuid, i32)> = HashSet::new();
    // SQLite binds at most 32,766 values per statement.
    for chunk in attempts.chunks(10_000) {
        let already: Vec<(Uuid, i32)> = webhook_attempt::Entity::find()
            .select_only()
            .column(webhook_attempt::Column::DeliveryId)
            .column(webhook_attempt::Column::Attempt)
            .filter(webhook_attempt::Column::DeliveryId.is_in(chunk.iter().map(|(d, _)| d.id)))
            .into_tuple()
            .all(&tx)
            .await?;
        recorded.extend(already);
    }
    let fresh: Vec<&(Delivery, AttemptRecord)> = attempts
        .iter()
        .filter(|(delivery, record)| recorded.insert((delivery.id, record.number())))
        .collect();
    if fresh.is_empty() {
        tx.commit().await?;
        return Ok(false);
    }
    // 12 values a row: SQLite binds at most 32,766 a statement.
    for chunk in fresh.chunks(1_000) {
        insert_attempts(&tx, chunk).await?;
    }
    // The deliveries' new states, one statement for many.
    for chunk in fresh.chunks(1_000) {
        settle(&tx, chunk).await?;
    }
    // Each endpoint's outcomes in the order they happened, one write per endpoint.
    let mut by_endpoint: BTreeMap<Uuid, Vec<endpoints::HealthOutcome<'_>>> = BTreeMap::new();
    for (delivery, record) in &fresh {
        by_endpoint
            .entry(delivery.endpoint_id)
            .or_default()
            .push(endpoints::HealthOutcome {
                succeeded: record.succeeded,
                error: record.error.as_deref(),
                at: record.attempted_at,
            });
    }
    let mut disabled = false;
    for (endpoint_id, mut outcomes) in by_endpoint {
        outcomes.sort_by_key(|o| o.at);
        disabled |= endpoints::record_health(&tx, endpoint_id, &outcomes, rules).await?;
    }
    tx.commit().await?;
    Ok(disabled)
}

/// The attempts' rows in one multi-row `INSERT`, written out here: through the entity each
/// row's values went into an ActiveModel, the chunk was cloned again and the statement built
/// by sea-query, work on the worker's runtime for every attempt recorded.
async fn insert_attempts<C: ConnectionTrait>(
    tx: &C,
    attempts: &[&(Delivery, AttemptRecord)],
) -> Result<(), StoreError> {
    use sea_orm::{DbBackend, Statement, Value};
    use std::fmt::Write;
    const COLUMNS: usize = 12;
    let backend = tx.get_database_backend();
    let mut sql = String::from(
        "INSERT INTO webhook_attempts (id, tenant_id, endpoint_id, delivery_id, event_id, \
         attempt, attempted_at, succeeded, status_code, duration_ms, response_excerpt, error) \
         VALUES ",
    );
    let mut values: Vec<Value> = Vec::with_capacity(attempts.len() * COLUMNS);
    for (i, (delivery, record)) in attempts.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..COLUMNS {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                DbBackend::Postgres => {
                    let _ = write!(sql, "${}", i * COLUMNS + c + 1);
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
        values.extend([
            Value::from(Uuid::now_v7()),
            Value::from(delivery.tenant_id),
            Value::from(delivery.endpoint_id),
            Value::from(delivery.id),
            Value::from(delivery.event_id),
            Value::from(record.number()),
            Value::from(record.attempted_at),
            Value::from(record.succeeded),
            Value::from(record.status_code.map(i32::from)),
            Value::from(i64::try_from(record.duration.as_millis()).unwrap_or(i64::MAX)),
            Value::from(record.response_excerpt.clone()),
            Value::from(record.error.clone()),
        ]);
    }
    tx.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Where each attempt leaves its delivery (attempts, status, last answer, when settled):
/// one `UPDATE … FROM (VALUES …)` for all of them (both databases have it), not one
/// statement each.
async fn settle<C: ConnectionTrait>(
    tx: &C,
    attempts: &[&(Delivery, AttemptRecord)],
) -> Result<(), StoreError> {
    use sea_orm::{DbBackend, Statement, Value};
    let backend = tx.get_database_backend();
    let mut values: Vec<Value> = Vec::with_capacity(attempts.len() * 6);
    let mut rows = Vec::with_capacity(attempts.len());
    for (delivery, record) in attempts {
        let status = match (record.succeeded, record.last) {
            (true, _) => DeliveryStatus::Succeeded,
            (false, true) => DeliveryStatus::Failed,
            (false, false) => DeliveryStatus::Pending,
        };
        let finished = (status != DeliveryStatus::Pending).then_some(record.attempted_at);
        let n = values.len();
        values.extend([
            Value::from(delivery.id),
            Value::from(record.number()),
            Value::from(status.as_str()),
            Value::from(record.status_code.map(i32::from)),
            Value::from(record.error.clone()),
            Value::from(finished),
        ]);
        rows.push(match backend {
            // PostgreSQL types a VALUES list by its first row: NULLs there need a cast.
            DbBackend::Postgres => format!(
                "(${}::uuid, ${}::int, ${}::text, ${}::int, ${}::text, ${}::timestamptz)",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6
            ),
            _ => "(?, ?, ?, ?, ?, ?)".to_owned(),
        });
    }
    let sql = match backend {
        DbBackend::Postgres => format!(
            "UPDATE webhook_deliveries AS d SET attempts = v.attempts, status = v.status, \
               last_status_code = v.code, last_error = v.error, \
               finished_at = COALESCE(v.finished, d.finished_at) \
             FROM (VALUES {}) AS v(id, attempts, status, code, error, finished) \
             WHERE d.id = v.id",
            rows.join(", ")
        ),
        // SQLite names a VALUES list's columns column1, column2, …
        _ => format!(
            "UPDATE webhook_deliveries SET attempts = v.column2, status = v.column3, \
               last_status_code = v.column4, last_error = v.column5, \
               finished_at = COALESCE(v.column6, webhook_deliveries.finished_at) \
             FROM (VALUES {}) AS v WHERE webhook_deliveries.id = v.column1",
            rows.join(", ")
        ),
    };
    tx.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Records one attempt ([`record_attempts`]).
pub async fn record_attempt<C: TransactionTrait>(
    db: &C,
    delivery: &Delivery,
    record: AttemptRecord,
    rules: endpoints::HealthRules,
) -> Result<bool, StoreError> {
    record_attempts(db, &[(delivery.clone(), record)], rules).await
}

/// Settles a delivery that will not be attempted again (its endpoint disabled or gone).
pub async fn abandon(
    db: &impl ConnectionTrait,
    delivery_id: Uuid,
    reason: &str,
) -> Result<(), StoreError> {
    webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::Status,
            Expr::value(DeliveryStatus::Failed.as_str()),
        )
        .col_expr(webhook_delivery::Column::LastError, Expr::value(reason))
        .col_expr(
            webhook_delivery::Column::FinishedAt,
            Expr::value(Utc::now()),
        )
        .filter(webhook_delivery::Column::Id.eq(delivery_id))
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// A new delivery of the same event (same id and body) to the same endpoint: what resend
/// and recover make. The receiver recognises a repeat by its `webhook-id`.
async fn again(
    db: &impl ConnectionTrait,
    of: &Delivery,
    endpoint_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let row = new_delivery(
        of.tenant_id,
        endpoint_id,
        of.event_id,
        of.event_xact,
        &of.event_type,
        of.payload.clone(),
        now,
    );
    let id = row.id;
    to_insert(row).insert(db).await?;
    Ok(id)
}

/// Sends the tenant's event `event_id` again: to `endpoint` if given (which must want it
/// no more than exist), else to every enabled endpoint that wants it. The body is rebuilt
/// from the log; [`StoreError::NotFound`] when the event is not (or no longer) there.
pub async fn resend<C: TransactionTrait>(
    db: &C,
    tenant_id: Uuid,
    event_id: i64,
    endpoint: Option<Uuid>,
) -> Result<Vec<Uuid>, StoreError> {
    let tx = crate::begin_write(db).await?;
    let event = crate::entities::event_log::Entity::find_by_id(event_id)
        .filter(crate::entities::event_log::Column::TenantId.eq(tenant_id))
        .one(&tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let targets: Vec<Uuid> = match endpoint {
        Some(id) => {
            endpoints::row(&tx, tenant_id, id).await?;
            vec![id]
        }
        None => {
            let wanting = endpoints::enabled_of(&tx, [tenant_id]).await?;
            let facts = event_log::facts(&tx, std::slice::from_ref(&event)).await?;
            let channel = facts.first().and_then(|f| f.channel);
            let json = body(&event);
            wanting
                .into_iter()
                .filter(|e| e.wants(&event.event_type, channel, &json))
                .map(|e| e.id)
                .collect()
        }
    };
    let now = Utc::now();
    let payload = body(&event).to_string();
    let mut ids = Vec::new();
    for endpoint_id in targets {
        let row = new_delivery(
            tenant_id,
            endpoint_id,
            event.id,
            event.xact,
            &event.event_type,
            payload.clone(),
            now,
        );
        ids.push(row.id);
        to_insert(row).insert(&tx).await?;
    }
    tx.commit().await?;
    Ok(ids)
}

/// Delivers again, once each, every event whose deliveries to `endpoint_id` failed and that
/// has none pending or succeeded since, among deliveries made in [since, until). Returns
/// the new deliveries' count.
pub async fn recover<C: TransactionTrait>(
    db: &C,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let tx = crate::begin_write(db).await?;
    endpoints::row(&tx, tenant_id, endpoint_id).await?;
    let deliveries = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .filter(webhook_delivery::Column::CreatedAt.gte(since))
        .filter(webhook_delivery::Column::CreatedAt.lt(until))
        .order_by_asc(webhook_delivery::Column::EventXact)
        .order_by_asc(webhook_delivery::Column::EventId)
        .order_by_asc(webhook_delivery::Column::Id)
        .all(&tx)
        .await?;
    // Per event, the newest delivery says where it stands.
    let mut newest: Vec<&Delivery> = Vec::new();
    for d in &deliveries {
        match newest.last_mut() {
            Some(last) if last.event_id == d.event_id => *last = d,
            _ => newest.push(d),
        }
    }
    let now = Utc::now();
    let mut made = 0;
    for failed in newest
        .into_iter()
        .filter(|d| *d.status == DeliveryStatus::Failed)
    {
        again(&tx, failed, endpoint_id, now).await?;
        made += 1;
    }
    tx.commit().await?;
    Ok(made)
}

/// The `webhook-id` of a test delivery (it has no event in the log).
pub fn test_event_id(delivery_id: Uuid) -> String {
    format!("evt_test_{}", delivery_id.simple())
}

/// A delivery of an example event to one endpoint (`POST …/test`): event id 0, its body
/// `data` under `event_type`, marked `"test": true`.
pub async fn test(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    event_type: &str,
    data: serde_json::Value,
) -> Result<Uuid, StoreError> {
    let now = Utc::now();
    let mut row = new_delivery(tenant_id, endpoint_id, 0, 0, event_type, String::new(), now);
    let id = row.id;
    row.payload = json!({
        "id": test_event_id(id),
        "type": event_type,
        "timestamp": now,
        "data": data,
        "test": true,
    })
    .to_string();
    to_insert(row).insert(db).await?;
    Ok(id)
}

/// Which attempts to list.
#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub endpoint_id: Option<Uuid>,
    pub event_id: Option<i64>,
    pub succeeded: Option<bool>,
    /// Older than this attempt (newest first).
    pub before: Option<Uuid>,
}

/// The tenant's attempts, newest first.
pub async fn attempts(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filter: AttemptFilter,
    limit: u64,
) -> Result<Vec<Attempt>, StoreError> {
    let mut query = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::TenantId.eq(tenant_id))
        .order_by_desc(webhook_attempt::Column::Id)
        .limit(limit);
    if let Some(endpoint) = filter.endpoint_id {
        query = query.filter(webhook_attempt::Column::EndpointId.eq(endpoint));
    }
    if let Some(event) = filter.event_id {
        query = query.filter(webhook_attempt::Column::EventId.eq(event));
    }
    if let Some(succeeded) = filter.succeeded {
        query = query.filter(webhook_attempt::Column::Succeeded.eq(succeeded));
    }
    if let Some(before) = filter.before {
        query = query.filter(webhook_attempt::Column::Id.lt(before));
    }
    Ok(query.all(db).await?)
}

/// The tenant's deliveries of an event (`GET /v1/events/{id}/attempts` shows them with
/// their attempts).
pub async fn of_event(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    event_id: i64,
) -> Result<Vec<Delivery>, StoreError> {
    Ok(webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::TenantId.eq(tenant_id))
        .filter(webhook_delivery::Column::EventId.eq(event_id))
        .order_by_asc(webhook_delivery::Column::Id)
        .all(db)
        .await?)
}

/// Deliveries of an endpoint by status, counted: its health at a glance.
pub async fn counts(
    db: &impl ConnectionTrait,
    endpoint_id: Uuid,
) -> Result<HashMap<DeliveryStatus, u64>, StoreError> {
    let rows: Vec<(Text<DeliveryStatus>, i64)> = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::Status)
        .column_as(webhook_delivery::Column::Id.count(), "n")
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .group_by(webhook_delivery::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(s, n)| (*s, u64::try_from(n).unwrap_or(0)))
        .collect())
}

/// Deletes settled deliveries made before `older_than` and attempts made before it: what
/// retention keeps of webhooks is what it keeps of the log they came from. A pending
/// delivery stays until it settles, whatever its age.
pub async fn purge(
    db: &impl ConnectionTrait,
    older_than: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let attempts = webhook_attempt::Entity::delete_many()
        .filter(webhook_attempt::Column::AttemptedAt.lt(older_than))
        .exec(db)
        .await?;
    let deliveries = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::CreatedAt.lt(older_than))
        .filter(webhook_delivery::Column::Status.ne(DeliveryStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(attempts.rows_affected + deliveries.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::event_log as log;
    use sea_orm::ActiveValue::Set;

    async fn endpoint(db: &impl ConnectionTrait, tenant_id: Uuid, ordered: bool) -> Uuid {
        let new = endpoints::NewEndpoint {
            tenant_id,
            url: "https://example.com/hook".into(),
            description: String::new(),
            event_types: Vec::new(),
            channels: Vec::new(),
            filter: Vec::new(),
            headers: Default::default(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            enabled: true,
            ordered,
            rate_limit: None,
            retry_schedule_secs: None,
        };
        endpoints::create(db, new).await.unwrap().id
    }

    /// The fan-out takes for its worker whole events' deliveries as far as its room goes
    /// (the first event's even when they do not all fit), never an ordered endpoint's, and
    /// writes what it takes claimed: a claim finds only the rest.
    #[tokio::test]
    async fn a_fan_out_takes_what_its_worker_has_room_for_and_leaves_the_rest_to_claims() {
        let db = crate::memory_db("fan_out_takes").await;
        let tenant = crate::tenants::create(&db, "t").await.unwrap().id;
        let (a, b) = (
            endpoint(&db, tenant, false).await,
            endpoint(&db, tenant, false).await,
        );
        let ordered = endpoint(&db, tenant, true).await;
        let events = (0..3).map(|_| log::ActiveModel {
            tenant_id: Set(tenant),
            event_type: Set("conversation.opened".into()),
            subject_id: Set(Uuid::now_v7()),
            occurred_at: Set(Utc::now()),
            ..Default::default()
        });
        log::Entity::insert_many(events)
            .exec_without_returning(&db)
            .await
            .unwrap();
        let lease = Duration::from_secs(60);
        let take = |most| TakeFirst { most, lease };

        // Room for 3: the first event's two unordered deliveries, not the second's.
        let first = fan_out(&db, 500, take(3)).await.unwrap();
        assert_eq!(first.events, 1);
        let mut to: Vec<Uuid> = first.taken.iter().map(|(d, _)| d.endpoint_id).collect();
        to.sort();
        let mut unordered = vec![a, b];
        unordered.sort();
        assert_eq!(to, unordered);
        for (delivery, row) in &first.taken {
            assert_eq!(row.id, delivery.endpoint_id);
            assert!(delivery.claimed_until.is_some());
        }
        let claimed = claim_unstarted(&db, 100, lease).await.unwrap();
        let claimed: Vec<Uuid> = claimed.iter().map(|d| d.endpoint_id).collect();
        assert_eq!(
            claimed,
            [ordered],
            "only the ordered endpoint's is left to claim"
        );

        // Room for 1: the next event goes all the same (one taken), the one after does not.
        let second = fan_out(&db, 500, take(1)).await.unwrap();
        assert_eq!((second.events, second.taken.len()), (1, 1));

        // No room: the last event is made, nothing taken.
        let third = fan_out(&db, 500, take(0)).await.unwrap();
        assert_eq!((third.events, third.taken.len()), (1, 0));
        assert_eq!(fan_out(&db, 500, take(10)).await.unwrap().events, 0);
    }
}
