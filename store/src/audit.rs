//! The audit log of operators' actions: repairs, provider account changes, tenants and keys,
//! each with the actor's name and, for an API request, the id of the key that acted.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::{StoreError, entities::audit_entry};

pub type Entry = audit_entry::Model;

pub async fn record(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    actor: &str,
    key_id: Option<Uuid>,
    action: &str,
    target: Option<String>,
    details: serde_json::Value,
) -> Result<Entry, StoreError> {
    Ok(audit_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        actor: Set(actor.to_owned()),
        action: Set(action.to_owned()),
        target: Set(target),
        details: Set(details),
        at: Set(Utc::now()),
        key_id: Set(key_id),
    }
    .insert(db)
    .await?)
}

/// Newest first, `before` an entry id for the next page.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Entry>, StoreError> {
    let mut query = audit_entry::Entity::find()
        .filter(audit_entry::Column::TenantId.eq(tenant_id))
        .order_by_desc(audit_entry::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(audit_entry::Column::Id.lt(before));
    }
    Ok(query.all(db).await?)
}
