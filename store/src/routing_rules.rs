//! A tenant's routing rules (see [`pombo_contract::routing`]), in evaluation order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pombo_contract::{
    Channel,
    routing::{Action, Conditions, Rule},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{provider_account, routing_rule},
};

#[derive(Debug, Clone, PartialEq)]
pub struct RoutingRule {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub position: i32,
    pub enabled: bool,
    pub conditions: Conditions,
    pub action: Action,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RoutingRule {
    /// What the pure evaluation needs.
    pub fn rule(&self) -> Rule {
        Rule {
            id: self.id,
            conditions: self.conditions.clone(),
            action: self.action.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewRule {
    pub name: String,
    /// `None`: after the tenant's last rule.
    pub position: Option<i32>,
    pub enabled: bool,
    pub conditions: Conditions,
    pub action: Action,
}

/// Changes to a rule; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct RulePatch {
    pub name: Option<String>,
    pub position: Option<i32>,
    pub enabled: Option<bool>,
    pub conditions: Option<Conditions>,
    pub action: Option<Action>,
}

fn open(row: routing_rule::Model) -> Result<RoutingRule, StoreError> {
    let corrupt =
        |e: serde_json::Error| StoreError::Corrupt(format!("routing rule {}: {e}", row.id));
    Ok(RoutingRule {
        conditions: serde_json::from_value(row.conditions.clone()).map_err(corrupt)?,
        action: serde_json::from_value(row.action.clone()).map_err(corrupt)?,
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name,
        position: row.position,
        enabled: row.enabled,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn name_taken(e: sea_orm::DbErr, name: &str) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            StoreError::Conflict(format!("a routing rule named `{name}` exists"))
        }
        _ => StoreError::Db(e),
    }
}

fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("rules serialise")
}

pub async fn create(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    new: NewRule,
) -> Result<RoutingRule, StoreError> {
    let position = match new.position {
        Some(p) => p,
        None => {
            let last = routing_rule::Entity::find()
                .filter(routing_rule::Column::TenantId.eq(tenant_id))
                .order_by_desc(routing_rule::Column::Position)
                .one(db)
                .await?;
            last.map_or(0, |r| r.position.saturating_add(1))
        }
    };
    let now = Utc::now();
    let row = routing_rule::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        name: Set(new.name.clone()),
        position: Set(position),
        enabled: Set(new.enabled),
        conditions: Set(json(&new.conditions)),
        action: Set(json(&new.action)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| name_taken(e, &new.name))?;
    open(row)
}

/// Every rule of the tenant, in evaluation order (position, then age).
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<RoutingRule>, StoreError> {
    routing_rule::Entity::find()
        .filter(routing_rule::Column::TenantId.eq(tenant_id))
        .order_by_asc(routing_rule::Column::Position)
        .order_by_asc(routing_rule::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(open)
        .collect()
}

/// The enabled rules, in evaluation order.
pub async fn enabled(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Vec<Rule>, StoreError> {
    Ok(list(db, tenant_id)
        .await?
        .into_iter()
        .filter(|r| r.enabled)
        .map(|r| r.rule())
        .collect())
}

/// The channel of each of the tenant's provider accounts, read without opening their
/// sealed settings.
pub async fn account_channels(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<HashMap<Uuid, Channel>, StoreError> {
    let rows: Vec<(Uuid, String)> = provider_account::Entity::find()
        .select_only()
        .column(provider_account::Column::Id)
        .column(provider_account::Column::Channel)
        .filter(provider_account::Column::TenantId.eq(tenant_id))
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(id, channel)| Ok((id, channel.parse().map_err(StoreError::Corrupt)?)))
        .collect()
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<RoutingRule, StoreError> {
    let row = routing_rule::Entity::find_by_id(id)
        .filter(routing_rule::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    open(row)
}

pub async fn update(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    patch: RulePatch,
) -> Result<RoutingRule, StoreError> {
    let current = get(db, tenant_id, id).await?;
    let mut row = routing_rule::ActiveModel {
        id: Set(id),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some(name) = &patch.name {
        row.name = Set(name.clone());
    }
    if let Some(position) = patch.position {
        row.position = Set(position);
    }
    if let Some(enabled) = patch.enabled {
        row.enabled = Set(enabled);
    }
    if let Some(conditions) = &patch.conditions {
        row.conditions = Set(json(conditions));
    }
    if let Some(action) = &patch.action {
        row.action = Set(json(action));
    }
    let name = patch.name.unwrap_or(current.name);
    let row = row.update(db).await.map_err(|e| name_taken(e, &name))?;
    open(row)
}

pub async fn delete(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(), StoreError> {
    let result = routing_rule::Entity::delete_many()
        .filter(routing_rule::Column::Id.eq(id))
        .filter(routing_rule::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
