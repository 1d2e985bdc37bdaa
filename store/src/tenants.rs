//! Tenants and their API keys. Keys are stored as SHA-256 hashes only.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{api_key, tenant},
};

pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub async fn create(db: &impl ConnectionTrait, name: &str) -> Result<tenant::Model, StoreError> {
    let model = tenant::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        created_at: Set(Utc::now()),
    };
    Ok(model.insert(db).await?)
}

/// Stores a key (given in clear, kept hashed) for a tenant.
pub async fn add_api_key(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    key: &str,
    label: &str,
) -> Result<(), StoreError> {
    api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        key_hash: Set(hash_api_key(key)),
        label: Set(label.to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The tenant a key belongs to, if the key is known.
pub async fn by_api_key(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<tenant::Model>, StoreError> {
    let Some(found) = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash_api_key(key)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(tenant::Entity::find_by_id(found.tenant_id).one(db).await?)
}

pub async fn by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<tenant::Model>, StoreError> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Name.eq(name))
        .one(db)
        .await?)
}

/// Makes sure tenant `name` exists and accepts `key`; used for the development tenant.
/// Idempotent, and safe when two processes race to do it.
pub async fn ensure_with_key(
    db: &impl ConnectionTrait,
    name: &str,
    key: &str,
) -> Result<tenant::Model, StoreError> {
    let tenant = match by_name(db, name).await? {
        Some(t) => t,
        None => match create(db, name).await {
            Ok(t) => t,
            Err(StoreError::Db(e)) if e.sql_err().is_some() => {
                by_name(db, name).await?.ok_or(StoreError::NotFound)?
            }
            Err(e) => return Err(e),
        },
    };
    match by_api_key(db, key).await? {
        Some(owner) if owner.id == tenant.id => {}
        Some(_) => {
            return Err(StoreError::Setup(format!(
                "that API key already belongs to another tenant than `{name}`"
            )));
        }
        None => match add_api_key(db, tenant.id, key, "dev").await {
            Ok(()) => {}
            Err(StoreError::Db(e)) if e.sql_err().is_some() => {}
            Err(e) => return Err(e),
        },
    }
    Ok(tenant)
}
