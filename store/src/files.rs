//! Files uploaded by tenants. The bytes are in object storage; a row says where, and what
//! the API answers about them (name, type, size, SHA-256).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
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
        .one(db)
        .await?
        .map(File::from))
}
