//! Files uploaded by tenants. The bytes are in object storage; a row says where, and what
//! the API answers about them (name, type, size, SHA-256). Retention deletes old objects and
//! marks their rows purged; a purged file reads as not found.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{StoreError, entities::file};

/// A file about to be recorded, its bytes already stored under `object_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub object_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub object_key: String,
    pub created_at: DateTime<Utc>,
}

impl From<file::Model> for File {
    fn from(row: file::Model) -> Self {
        File {
            id: row.id,
            tenant_id: row.tenant_id,
            filename: row.filename,
            content_type: row.content_type,
            size_bytes: u64::try_from(row.size_bytes).unwrap_or_default(),
            sha256: row.sha256,
            object_key: row.object_key,
            created_at: row.created_at,
        }
    }
}

pub async fn create(db: &impl ConnectionTrait, new: NewFile) -> Result<File, StoreError> {
    let size_bytes = i64::try_from(new.size_bytes)
        .map_err(|_| StoreError::Corrupt(format!("file size {} too large", new.size_bytes)))?;
    let row = file::ActiveModel {
        id: Set(new.id),
        tenant_id: Set(new.tenant_id),
        filename: Set(new.filename),
        content_type: Set(new.content_type),
        size_bytes: Set(size_bytes),
        sha256: Set(new.sha256),
        object_key: Set(new.object_key),
        created_at: Set(Utc::now()),
        purged_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(row.into())
}

/// A tenant's file; another tenant's id reads as not found.
pub async fn get_for_tenant(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<File>, StoreError> {
    Ok(file::Entity::find_by_id(id)
        .filter(file::Column::TenantId.eq(tenant_id))
        .filter(file::Column::PurgedAt.is_null())
        .one(db)
        .await?
        .map(File::from))
}

/// Those of `ids` that are the tenant's and not purged, in any order.
pub async fn get_many_for_tenant(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<File>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(file::Entity::find()
        .filter(file::Column::Id.is_in(ids.iter().copied()))
        .filter(file::Column::TenantId.eq(tenant_id))
        .filter(file::Column::PurgedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(File::from)
        .collect())
}

/// Up to `limit` files uploaded before `older_than` whose objects are still there, oldest
/// first: what retention deletes next.
pub async fn expired(
    db: &impl ConnectionTrait,
    older_than: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<File>, StoreError> {
    Ok(file::Entity::find()
        .filter(file::Column::PurgedAt.is_null())
        .filter(file::Column::CreatedAt.lt(older_than))
        .order_by_asc(file::Column::CreatedAt)
        .order_by_asc(file::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(File::from)
        .collect())
}

/// Records that the file's object was deleted.
pub async fn mark_purged(db: &impl ConnectionTrait, id: Uuid) -> Result<(), StoreError> {
    file::Entity::update_many()
        .col_expr(file::Column::PurgedAt, Expr::value(Utc::now()))
        .filter(file::Column::Id.eq(id))
        .filter(file::Column::PurgedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
