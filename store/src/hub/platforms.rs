//! A tenant's chat platforms: registered with a name, the base of their API, what they
//! can show and a token. The token is the platform's only credential on the source's
//! routes (`/hub/…`, where it travels in the body): it is kept as its SHA-256 and finds
//! the platform, and with it the tenant, by equality.

use chrono::{DateTime, Utc};
use pombo_contract::hub::{Capability, PlatformStatus};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{Text, hub_platform},
    tenants::secret_digest,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Platform {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub endpoint: String,
    pub capabilities: Vec<Capability>,
    pub status: PlatformStatus,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Platform {
    pub fn can(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }
}

impl TryFrom<hub_platform::Model> for Platform {
    type Error = StoreError;
    fn try_from(row: hub_platform::Model) -> Result<Self, StoreError> {
        let capabilities = serde_json::from_value(row.capabilities)
            .map_err(|e| StoreError::Corrupt(format!("hub_platforms.capabilities: {e}")))?;
        Ok(Platform {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            endpoint: row.endpoint,
            capabilities,
            status: *row.status,
            last_success_at: row.last_success_at,
            last_failure_at: row.last_failure_at,
            last_error: row.last_error,
            created_at: row.created_at,
        })
    }
}

pub struct NewPlatform {
    pub tenant_id: Uuid,
    pub name: String,
    pub endpoint: String,
    pub capabilities: Vec<Capability>,
    pub token: String,
}

/// Registers a platform; a name or a token already taken is a conflict.
pub async fn create(db: &impl ConnectionTrait, new: NewPlatform) -> Result<Platform, StoreError> {
    let row = hub_platform::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(new.tenant_id),
        name: Set(new.name),
        endpoint: Set(new.endpoint),
        capabilities: Set(serde_json::to_value(&new.capabilities).expect("serialises")),
        token_hash: Set(secret_digest(&new.token)),
        status: Set(Text(PlatformStatus::Unknown)),
        last_success_at: Set(None),
        last_failure_at: Set(None),
        last_error: Set(None),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(|e| super::conflict(e, "a platform of that name or with that token exists"))?;
    row.try_into()
}

/// The platform a token belongs to.
pub async fn by_token(db: &impl ConnectionTrait, token: &str) -> Result<Platform, StoreError> {
    hub_platform::Entity::find()
        .filter(hub_platform::Column::TokenHash.eq(secret_digest(token)))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// A platform of the tenant's.
pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Platform, StoreError> {
    hub_platform::Entity::find_by_id(id)
        .filter(hub_platform::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// A platform, whoever's (for its forwarder).
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Platform>, StoreError> {
    hub_platform::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(Platform::try_from)
        .transpose()
}

/// The tenant's platforms, oldest first.
pub async fn list(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Vec<Platform>, StoreError> {
    hub_platform::Entity::find()
        .filter(hub_platform::Column::TenantId.eq(tenant_id))
        .order_by_asc(hub_platform::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Platform::try_from)
        .collect()
}

/// Every hub's platforms, by id, after `after`: at most `limit` (the scheduled checks page
/// through them).
pub async fn all(
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Platform>, StoreError> {
    use sea_orm::QuerySelect;
    let mut query = hub_platform::Entity::find();
    if let Some(after) = after {
        query = query.filter(hub_platform::Column::Id.gt(after));
    }
    query
        .order_by_asc(hub_platform::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Platform::try_from)
        .collect()
}

/// Removes a platform: its forwarder ends at its next round, what it was owed is dropped.
/// Its users and rooms stay in the other platforms' history.
pub async fn delete(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(), StoreError> {
    let deleted = hub_platform::Entity::delete_many()
        .filter(hub_platform::Column::Id.eq(id))
        .filter(hub_platform::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    super::forwards::drop_pending(db, id).await
}

/// Notes whether the platform answered: `Ok` up, `Err(why)` down.
pub async fn record_health(
    db: &impl ConnectionTrait,
    id: Uuid,
    outcome: Result<(), &str>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let update = hub_platform::Entity::update_many()
        .col_expr(hub_platform::Column::UpdatedAt, Expr::value(now))
        .filter(hub_platform::Column::Id.eq(id));
    let update = match outcome {
        Ok(()) => update
            .col_expr(
                hub_platform::Column::Status,
                Expr::value(PlatformStatus::Up.as_str()),
            )
            .col_expr(hub_platform::Column::LastSuccessAt, Expr::value(now)),
        Err(error) => update
            .col_expr(
                hub_platform::Column::Status,
                Expr::value(PlatformStatus::Down.as_str()),
            )
            .col_expr(hub_platform::Column::LastFailureAt, Expr::value(now))
            .col_expr(hub_platform::Column::LastError, Expr::value(error)),
    };
    update.exec(db).await?;
    Ok(())
}
