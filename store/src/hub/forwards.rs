//! What each platform is owed, in the order it is owed (UUIDv7 ids): its forwarder takes
//! the oldest pending forward, POSTs it, and records the outcome here. Bodies are sealed
//! (a message's carries its text).

use chrono::{DateTime, Utc};
use pombo_contract::hub::{ForwardKind, ForwardStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{Text, hub_forward},
    sealed::{self, Aad},
};

fn body_aad(tenant_id: Uuid, id: Uuid) -> Aad {
    Aad::new(Some(tenant_id), format!("hub_forwards:{id}:body"))
}

/// One forward, its body opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub platform_id: Uuid,
    pub kind: ForwardKind,
    pub subject_id: Uuid,
    pub body: serde_json::Value,
    pub status: ForwardStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

pub(crate) fn open(row: hub_forward::Model) -> Result<Forward, StoreError> {
    let text = sealed::open_text_at(&body_aad(row.tenant_id, row.id), row.body)?;
    let body = serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("hub_forwards.body: {e}")))?;
    Ok(Forward {
        id: row.id,
        tenant_id: row.tenant_id,
        platform_id: row.platform_id,
        kind: *row.kind,
        subject_id: row.subject_id,
        body,
        status: *row.status,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        last_error: row.last_error,
        delivered_at: row.delivered_at,
    })
}

/// Owes `body` to each of `platforms` (platforms, or bridged conversations) in the
/// caller's transaction; the forwards' ids, in the same order.
pub(crate) async fn owe(
    tx: &impl ConnectionTrait,
    tenant_id: Uuid,
    platforms: &[Uuid],
    kind: ForwardKind,
    subject_id: Uuid,
    body: &serde_json::Value,
) -> Result<Vec<Uuid>, StoreError> {
    if platforms.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let text = body.to_string();
    let ids: Vec<Uuid> = platforms.iter().map(|_| Uuid::now_v7()).collect();
    let rows = platforms.iter().zip(&ids).map(|(platform_id, id)| {
        let id = *id;
        hub_forward::ActiveModel {
            id: Set(id),
            tenant_id: Set(tenant_id),
            platform_id: Set(*platform_id),
            kind: Set(Text(kind)),
            subject_id: Set(subject_id),
            body: Set(sealed::seal_text_at(&body_aad(tenant_id, id), text.clone())),
            status: Set(Text(ForwardStatus::Pending)),
            attempts: Set(0),
            last_error: Set(None),
            delivered_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
    });
    hub_forward::Entity::insert_many(rows)
        .exec_without_returning(tx)
        .await?;
    Ok(ids)
}

/// The platform's oldest pending forwards, at most `limit`, in order.
pub async fn pending(
    db: &impl ConnectionTrait,
    platform_id: Uuid,
    limit: u64,
) -> Result<Vec<Forward>, StoreError> {
    hub_forward::Entity::find()
        .filter(hub_forward::Column::PlatformId.eq(platform_id))
        .filter(hub_forward::Column::Status.eq(ForwardStatus::Pending.as_str()))
        .order_by_asc(hub_forward::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(open)
        .collect()
}

/// What one POST of a forward came to.
pub enum Outcome<'a> {
    Delivered,
    /// Worth trying again (the platform down, a 5xx, 408, 429): it stays pending.
    Retry(&'a str),
    /// Refused for good: it is settled as failed and the queue moves on.
    Refused(&'a str),
}

/// Records an attempt of a pending forward. A forward already settled (a repeat after a
/// crash) is left as it is.
pub async fn record(
    db: &impl ConnectionTrait,
    id: Uuid,
    outcome: Outcome<'_>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let update = hub_forward::Entity::update_many()
        .col_expr(hub_forward::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            hub_forward::Column::Attempts,
            Expr::col(hub_forward::Column::Attempts).add(1),
        )
        .filter(hub_forward::Column::Id.eq(id))
        .filter(hub_forward::Column::Status.eq(ForwardStatus::Pending.as_str()));
    let update = match outcome {
        Outcome::Delivered => update
            .col_expr(
                hub_forward::Column::Status,
                Expr::value(ForwardStatus::Delivered.as_str()),
            )
            .col_expr(hub_forward::Column::DeliveredAt, Expr::value(now)),
        Outcome::Retry(error) => {
            update.col_expr(hub_forward::Column::LastError, Expr::value(error))
        }
        Outcome::Refused(error) => update
            .col_expr(
                hub_forward::Column::Status,
                Expr::value(ForwardStatus::Failed.as_str()),
            )
            .col_expr(hub_forward::Column::LastError, Expr::value(error)),
    };
    update.exec(db).await?;
    Ok(())
}

/// The forwards of `subjects` (messages of a room's history), oldest first.
pub async fn of_subjects(
    db: &impl ConnectionTrait,
    subjects: Vec<Uuid>,
) -> Result<Vec<Forward>, StoreError> {
    if subjects.is_empty() {
        return Ok(Vec::new());
    }
    hub_forward::Entity::find()
        .filter(hub_forward::Column::SubjectId.is_in(subjects))
        .order_by_asc(hub_forward::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(open)
        .collect()
}

/// Pending forwards of a platform.
pub async fn backlog(db: &impl ConnectionTrait, platform_id: Uuid) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(hub_forward::Entity::find()
        .filter(hub_forward::Column::PlatformId.eq(platform_id))
        .filter(hub_forward::Column::Status.eq(ForwardStatus::Pending.as_str()))
        .count(db)
        .await?)
}

/// Platforms (with their tenant) owed a forward older than `age`: a forwarder
/// should be running for each. Their forwarders are woken by the worker's sweep, in case
/// the wake that followed the forward was lost (the API process died, Temporal was out).
pub async fn waiting_platforms(
    db: &impl ConnectionTrait,
    age: std::time::Duration,
) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    let before = Utc::now() - chrono::Duration::from_std(age).unwrap_or_default();
    Ok(hub_forward::Entity::find()
        .select_only()
        .column(hub_forward::Column::PlatformId)
        .column(hub_forward::Column::TenantId)
        .filter(hub_forward::Column::Status.eq(ForwardStatus::Pending.as_str()))
        .filter(hub_forward::Column::CreatedAt.lt(before))
        // Not the forwards to bridged conversations: the API sends those.
        .filter(
            hub_forward::Column::PlatformId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(crate::entities::hub_platform::Column::Id)
                    .from(crate::entities::hub_platform::Entity)
                    .to_owned(),
            ),
        )
        .distinct()
        .into_tuple()
        .all(db)
        .await?)
}

/// Drops what a removed platform was owed.
pub(crate) async fn drop_pending(
    db: &impl ConnectionTrait,
    platform_id: Uuid,
) -> Result<(), StoreError> {
    hub_forward::Entity::delete_many()
        .filter(hub_forward::Column::PlatformId.eq(platform_id))
        .filter(hub_forward::Column::Status.eq(ForwardStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(())
}
