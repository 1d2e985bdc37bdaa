//! A tenant's webhook endpoints: where to POST, which events, and how it has been doing.
//!
//! The signing secret and the custom headers are sealed at rest, bound to the endpoint's
//! row and tenant. A rotation keeps the old secret, which signs beside the new one until
//! `previous_secret_until` (Standard Webhooks allows several signatures), so a receiver
//! can switch without losing a delivery.
//!
//! Health is kept by the attempts ([`record_health`]): failures in a row pause deliveries
//! (a circuit breaker; one probe per pause), and an endpoint that has not succeeded for
//! `disable_after` while failing is disabled, which writes `endpoint.disabled` to the log
//! (trigger of `m0025_webhooks`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pombo_contract::{Channel, webhooks::FilterCondition};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{webhook_attempt, webhook_delivery, webhook_endpoint},
    sealed::{Aad, open_text_at, seal_text_at},
};

pub use webhook_endpoint::Model as EndpointRow;

/// An endpoint, its sealed columns opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub channels: Vec<Channel>,
    pub filter: Vec<FilterCondition>,
    pub headers: BTreeMap<String, String>,
    pub enabled: bool,
    pub ordered: bool,
    pub rate_limit: Option<u32>,
    pub retry_schedule_secs: Option<Vec<u64>>,
    pub consecutive_failures: u32,
    pub failing_since: Option<DateTime<Utc>>,
    pub paused_until: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// Whether an event of `event_type` about `channel`, delivered as `body`, goes to this
    /// endpoint.
    pub fn wants(
        &self,
        event_type: &str,
        channel: Option<Channel>,
        body: &serde_json::Value,
    ) -> bool {
        (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
            && (self.channels.is_empty() || channel.is_some_and(|c| self.channels.contains(&c)))
            && pombo_contract::webhooks::passes(&self.filter, body)
    }
}

/// The secrets that sign a delivery now: the current one, and the one before a rotation
/// while it still signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    pub current: String,
    pub previous: Option<String>,
}

/// What a new endpoint is made of.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub tenant_id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub channels: Vec<Channel>,
    pub filter: Vec<FilterCondition>,
    pub headers: BTreeMap<String, String>,
    pub secret: String,
    pub enabled: bool,
    pub ordered: bool,
    pub rate_limit: Option<u32>,
    pub retry_schedule_secs: Option<Vec<u64>>,
}

/// What a change sets (`None`: left as is).
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<Channel>>,
    pub filter: Option<Vec<FilterCondition>>,
    pub headers: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
    pub ordered: Option<bool>,
    pub rate_limit: Option<Option<u32>>,
    pub retry_schedule_secs: Option<Option<Vec<u64>>>,
}

fn aad(tenant_id: Uuid, id: Uuid, column: &str) -> Aad {
    Aad::new(Some(tenant_id), format!("webhook_endpoints:{id}:{column}"))
}

fn corrupt(what: &str) -> impl Fn(serde_json::Error) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("webhook_endpoints.{what}: {e}"))
}

/// Opens a row.
pub fn open(row: EndpointRow) -> Result<Endpoint, StoreError> {
    let headers = match row.headers {
        Some(sealed) => {
            let text = open_text_at(&aad(row.tenant_id, row.id, "headers"), sealed)?;
            serde_json::from_str(&text).map_err(corrupt("headers"))?
        }
        None => BTreeMap::new(),
    };
    Ok(Endpoint {
        id: row.id,
        tenant_id: row.tenant_id,
        url: row.url,
        description: row.description,
        event_types: serde_json::from_value(row.event_types).map_err(corrupt("event_types"))?,
        channels: serde_json::from_value(row.channels).map_err(corrupt("channels"))?,
        filter: row
            .payload_filter
            .map(serde_json::from_value)
            .transpose()
            .map_err(corrupt("payload_filter"))?
            .unwrap_or_default(),
        headers,
        enabled: row.enabled,
        ordered: row.ordered,
        rate_limit: row.rate_limit.and_then(|r| u32::try_from(r).ok()),
        retry_schedule_secs: row
            .retry_schedule_secs
            .map(serde_json::from_value)
            .transpose()
            .map_err(corrupt("retry_schedule_secs"))?,
        consecutive_failures: u32::try_from(row.consecutive_failures).unwrap_or(0),
        failing_since: row.failing_since,
        paused_until: row.paused_until,
        last_success_at: row.last_success_at,
        last_failure_at: row.last_failure_at,
        last_error: row.last_error,
        disabled_at: row.disabled_at,
        disabled_reason: row.disabled_reason,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn sealed_headers(tenant_id: Uuid, id: Uuid, headers: &BTreeMap<String, String>) -> Option<String> {
    (!headers.is_empty()).then(|| {
        seal_text_at(
            &aad(tenant_id, id, "headers"),
            serde_json::to_string(headers).unwrap_or_default(),
        )
    })
}

fn to_i32(n: Option<u32>) -> Option<i32> {
    n.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
}

pub async fn count(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<u64, StoreError> {
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
        .count(db)
        .await?)
}

pub async fn create(db: &impl ConnectionTrait, new: NewEndpoint) -> Result<Endpoint, StoreError> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    let row = webhook_endpoint::ActiveModel {
        id: Set(id),
        tenant_id: Set(new.tenant_id),
        url: Set(new.url),
        description: Set(new.description),
        event_types: Set(serde_json::json!(new.event_types)),
        channels: Set(serde_json::json!(new.channels)),
        payload_filter: Set((!new.filter.is_empty()).then(|| serde_json::json!(new.filter))),
        headers: Set(sealed_headers(new.tenant_id, id, &new.headers)),
        secret: Set(seal_text_at(&aad(new.tenant_id, id, "secret"), new.secret)),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        enabled: Set(new.enabled),
        ordered: Set(new.ordered),
        rate_limit: Set(to_i32(new.rate_limit)),
        retry_schedule_secs: Set(new.retry_schedule_secs.map(|s| serde_json::json!(s))),
        consecutive_failures: Set(0),
        failing_since: Set(None),
        paused_until: Set(None),
        probe_until: Set(None),
        last_success_at: Set(None),
        last_failure_at: Set(None),
        last_error: Set(None),
        disabled_at: Set(None),
        disabled_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    open(row)
}

/// The tenant's endpoint `id`, or `None` (another tenant's is `None` too).
pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Endpoint>, StoreError> {
    webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .map(open)
        .transpose()
}

/// The tenant's endpoints after `after` (ids are time-ordered), oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Endpoint>, StoreError> {
    let mut query = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
        .order_by_asc(webhook_endpoint::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(webhook_endpoint::Column::Id.gt(after));
    }
    query.all(db).await?.into_iter().map(open).collect()
}

/// The enabled endpoints of these tenants: who a batch of events may go to.
pub async fn enabled_of(
    db: &impl ConnectionTrait,
    tenants: impl IntoIterator<Item = Uuid>,
) -> Result<Vec<Endpoint>, StoreError> {
    Ok(enabled_rows_of(db, tenants)
        .await?
        .into_iter()
        .map(|(_, endpoint)| endpoint)
        .collect())
}

/// [`enabled_of`], each beside its row (what an attempt is made with).
pub async fn enabled_rows_of(
    db: &impl ConnectionTrait,
    tenants: impl IntoIterator<Item = Uuid>,
) -> Result<Vec<(EndpointRow, Endpoint)>, StoreError> {
    webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.is_in(tenants))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|row| Ok((row.clone(), open(row)?)))
        .collect()
}

/// What an update did beyond the endpoint's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    pub endpoint: Endpoint,
    /// Enabled again: deliveries made of the events it missed while disabled.
    pub resumed: Option<usize>,
}

/// Applies `change`. Disabling records when (and writes `endpoint.disabled`); enabling a
/// disabled endpoint clears its failure state and delivers what it missed meanwhile, as far
/// as the log still has it, in the same transaction as the fan-out's turn (so nothing is
/// delivered twice or skipped at the seam).
pub async fn update<C: TransactionTrait>(
    db: &C,
    tenant_id: Uuid,
    id: Uuid,
    change: EndpointChange,
) -> Result<Updated, StoreError> {
    let tx = crate::begin_write(db).await?;
    let until = super::deliveries::lock_fan_out(&tx).await?;
    let row = webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
        .one(&tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let was_enabled = row.enabled;
    let stopped_at = row.disabled_at.unwrap_or(row.updated_at);
    let mut active: webhook_endpoint::ActiveModel = row.into();
    if let Some(url) = change.url {
        active.url = Set(url);
    }
    if let Some(description) = change.description {
        active.description = Set(description);
    }
    if let Some(types) = change.event_types {
        active.event_types = Set(serde_json::json!(types));
    }
    if let Some(channels) = change.channels {
        active.channels = Set(serde_json::json!(channels));
    }
    if let Some(filter) = change.filter {
        active.payload_filter = Set((!filter.is_empty()).then(|| serde_json::json!(filter)));
    }
    if let Some(headers) = change.headers {
        active.headers = Set(sealed_headers(tenant_id, id, &headers));
    }
    if let Some(ordered) = change.ordered {
        active.ordered = Set(ordered);
    }
    if let Some(rate_limit) = change.rate_limit {
        active.rate_limit = Set(to_i32(rate_limit));
    }
    if let Some(schedule) = change.retry_schedule_secs {
        active.retry_schedule_secs = Set(schedule.map(|s| serde_json::json!(s)));
    }
    let now = Utc::now();
    let mut resuming = false;
    if let Some(enabled) = change.enabled {
        active.enabled = Set(enabled);
        if enabled && !was_enabled {
            resuming = true;
            active.disabled_at = Set(None);
            active.disabled_reason = Set(None);
            active.consecutive_failures = Set(0);
            active.failing_since = Set(None);
            active.paused_until = Set(None);
            active.probe_until = Set(None);
        }
        if !enabled && was_enabled {
            active.disabled_at = Set(Some(now));
            active.disabled_reason = Set(Some("disabled through the API".into()));
        }
    }
    active.updated_at = Set(now);
    let endpoint = open(active.update(&tx).await?)?;
    let resumed = if resuming {
        Some(super::deliveries::resume(&tx, &endpoint, stopped_at, until).await?)
    } else {
        None
    };
    tx.commit().await?;
    Ok(Updated { endpoint, resumed })
}

/// Deletes the endpoint with its deliveries and attempts; a running delivery finds nothing
/// and ends.
pub async fn delete(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(), StoreError> {
    let gone = webhook_endpoint::Entity::delete_many()
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    if gone.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::EndpointId.eq(id))
        .exec(db)
        .await?;
    webhook_attempt::Entity::delete_many()
        .filter(webhook_attempt::Column::EndpointId.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The secrets that sign now (the previous one only while its overlap lasts).
pub fn secrets(row: &EndpointRow, now: DateTime<Utc>) -> Result<Secrets, StoreError> {
    let current = open_text_at(&aad(row.tenant_id, row.id, "secret"), row.secret.clone())?;
    let previous = match (&row.previous_secret, row.previous_secret_until) {
        (Some(sealed), Some(until)) if until > now => Some(open_text_at(
            &aad(row.tenant_id, row.id, "previous_secret"),
            sealed.clone(),
        )?),
        _ => None,
    };
    Ok(Secrets { current, previous })
}

/// The tenant's endpoint row (for its secrets), or `NotFound`.
pub async fn row(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<EndpointRow, StoreError> {
    webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Makes `secret` the signing secret; the current one keeps signing beside it until
/// `overlap_until`.
pub async fn rotate_secret(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    secret: String,
    overlap_until: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = row(db, tenant_id, id).await?;
    let old = open_text_at(&aad(tenant_id, id, "secret"), row.secret.clone())?;
    let mut active: webhook_endpoint::ActiveModel = row.into();
    active.secret = Set(seal_text_at(&aad(tenant_id, id, "secret"), secret));
    active.previous_secret = Set(Some(seal_text_at(
        &aad(tenant_id, id, "previous_secret"),
        old,
    )));
    active.previous_secret_until = Set(Some(overlap_until));
    active.updated_at = Set(Utc::now());
    active.update(db).await?;
    Ok(())
}

/// What the breaker lets an attempt do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Send.
    Open,
    /// Wait until then: the endpoint is cooling down, or another attempt is its probe.
    Closed { until: DateTime<Utc> },
}

/// Whether an attempt to `row` may go now. After `failures_before_pause` failures in a row
/// the endpoint is paused; once the pause is over, one attempt claims the probe (for
/// `probe_for`) and goes, the others wait for its outcome.
pub async fn gate(
    db: &impl ConnectionTrait,
    row: &EndpointRow,
    failures_before_pause: u32,
    probe_for: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Gate, StoreError> {
    if row.consecutive_failures < i32::try_from(failures_before_pause).unwrap_or(i32::MAX) {
        return Ok(Gate::Open);
    }
    if let Some(until) = row.paused_until.filter(|u| *u > now) {
        return Ok(Gate::Closed { until });
    }
    if let Some(until) = row.probe_until.filter(|u| *u > now) {
        return Ok(Gate::Closed { until });
    }
    // Claim the probe: only one attempt's update finds the probe free.
    let claimed = webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::ProbeUntil,
            Expr::value(now + probe_for),
        )
        .filter(webhook_endpoint::Column::Id.eq(row.id))
        .filter(
            sea_orm::Condition::any()
                .add(webhook_endpoint::Column::ProbeUntil.is_null())
                .add(webhook_endpoint::Column::ProbeUntil.lte(now)),
        )
        .exec(db)
        .await?;
    Ok(if claimed.rows_affected == 1 {
        Gate::Open
    } else {
        Gate::Closed {
            until: now + probe_for,
        }
    })
}

/// How an endpoint's failures are judged.
#[derive(Debug, Clone, Copy)]
pub struct HealthRules {
    pub failures_before_pause: u32,
    pub pause: chrono::Duration,
    pub disable_after: chrono::Duration,
}

/// One attempt's outcome, as its endpoint's health counts it.
#[derive(Debug, Clone, Copy)]
pub struct HealthOutcome<'a> {
    pub succeeded: bool,
    pub error: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// `row` after `outcome`: a success clears the failure state; a failure counts, pauses the
/// endpoint at `failures_before_pause` in a row, and disables it when it has failed since
/// longer than `disable_after` with no success. True when this failure disabled it.
fn apply(row: &mut EndpointRow, outcome: HealthOutcome<'_>, rules: HealthRules) -> bool {
    let now = outcome.at;
    if outcome.succeeded {
        row.consecutive_failures = 0;
        row.failing_since = None;
        row.paused_until = None;
        row.probe_until = None;
        row.last_success_at = Some(now);
        return false;
    }
    let failures = row.consecutive_failures.saturating_add(1);
    let failing_since = row.failing_since.unwrap_or(now);
    row.consecutive_failures = failures;
    row.failing_since = Some(failing_since);
    row.last_failure_at = Some(now);
    row.last_error = outcome.error.map(str::to_owned);
    row.probe_until = None;
    if failures >= i32::try_from(rules.failures_before_pause).unwrap_or(i32::MAX) {
        row.paused_until = Some(now + rules.pause);
    }
    if row.enabled && now - failing_since >= rules.disable_after {
        row.enabled = false;
        row.disabled_at = Some(now);
        row.disabled_reason = Some(format!(
            "no successful delivery since {}",
            failing_since.to_rfc3339()
        ));
        return true;
    }
    false
}

/// Records attempts' outcomes on their endpoint, in the order given (see [`apply`]), with
/// one write at most. True when one of them disabled it.
pub async fn record_health(
    db: &impl ConnectionTrait,
    id: Uuid,
    outcomes: &[HealthOutcome<'_>],
    rules: HealthRules,
) -> Result<bool, StoreError> {
    // Attempts to one endpoint record in turn (on PostgreSQL the row is locked until the
    // attempt's transaction ends; SQLite's write transaction is a lock already), so no
    // failure is lost from the count.
    let mut query = webhook_endpoint::Entity::find_by_id(id);
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let Some(row) = query.one(db).await? else {
        return Ok(false);
    };
    let mut next = row.clone();
    let mut disabled = false;
    for outcome in outcomes {
        disabled |= apply(&mut next, *outcome, rules);
    }
    // Successes of an endpoint that was not failing change nothing worth a write per
    // delivery: `last_success_at` is kept to the second.
    let success_moved = match (row.last_success_at, next.last_success_at) {
        (Some(was), Some(now)) => now - was >= chrono::Duration::seconds(1),
        (was, now) => was != now,
    };
    let mut rest = next.clone();
    rest.last_success_at = row.last_success_at;
    if rest == row && !success_moved {
        return Ok(false);
    }
    let mut active: webhook_endpoint::ActiveModel = row.into();
    active.consecutive_failures = Set(next.consecutive_failures);
    active.failing_since = Set(next.failing_since);
    active.paused_until = Set(next.paused_until);
    active.probe_until = Set(next.probe_until);
    active.last_success_at = Set(next.last_success_at);
    active.last_failure_at = Set(next.last_failure_at);
    active.last_error = Set(next.last_error);
    active.enabled = Set(next.enabled);
    active.disabled_at = Set(next.disabled_at);
    active.disabled_reason = Set(next.disabled_reason);
    active.update(db).await?;
    Ok(disabled)
}

/// The rows of endpoints `ids` (those that still exist), by id: one read for a batch of
/// deliveries.
pub async fn rows_by_id(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<std::collections::HashMap<Uuid, EndpointRow>, StoreError> {
    let mut ids: Vec<Uuid> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.id, row))
        .collect())
}

/// The retry schedule of an endpoint: its own, or `default`.
pub fn retry_schedule(row: &EndpointRow, default: &[u64]) -> Vec<u64> {
    row.retry_schedule_secs
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_else(|| default.to_vec())
}
