//! Tenants and their API keys.
//!
//! A key is `pombo_` and 32 random bytes (base64url), shown once when it is issued and
//! stored as its SHA-256 only. A fast unsalted hash is enough here: the keys are 256-bit
//! random values, not passwords, so there is nothing to brute-force or look up in a table,
//! and one indexed lookup finds a request's key.
//!
//! Administrators' keys (scope `admin`) belong to a reserved tenant, [`SYSTEM_TENANT`],
//! rather than to none: `api_keys.tenant_id` stays NOT NULL with its foreign key, the
//! extractor always has a tenant for rate limiting, and the system tenant holds no data
//! (it is hidden from tenant lists and cannot be disabled through the API).

use aes_gcm::aead::{OsRng, rand_core::RngCore};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use pombo_contract::Scope;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::{Expr, ExprTrait},
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{api_key, tenant},
};

/// The reserved tenant that administrators' keys belong to. Names starting with `_` are
/// refused for other tenants.
pub const SYSTEM_TENANT: &str = "_system";

/// `last_used_at` is written at most this often per key: a request reads its key anyway,
/// but writing on every request would make every read a write.
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

/// How many characters of a key are kept in clear to tell keys apart: `pombo_` and six
/// random characters (36 bits, not enough to help guess the other 250).
pub const PREFIX_LEN: usize = 12;

/// 32 bytes from the OS generator, base64url: the random part of an API key, and an
/// operator's session token.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of a random secret (an API key, a session token): its SHA-256, hex.
/// Unsalted on purpose, see the module's header.
pub fn secret_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new random key: `pombo_` and [`random_secret`].
pub fn generate_api_key() -> String {
    format!("pombo_{}", random_secret())
}

/// What of a key lists show. Keys given by configuration (the development key) may be
/// short and guessable, so only generated-looking keys show 12 characters.
fn visible_prefix(key: &str) -> String {
    let shown = if key.starts_with("pombo_") && key.len() >= 40 {
        PREFIX_LEN
    } else {
        3
    };
    key.chars().take(shown).collect()
}

pub async fn create(db: &impl ConnectionTrait, name: &str) -> Result<tenant::Model, StoreError> {
    let model = tenant::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        created_at: Set(Utc::now()),
        disabled_at: Set(None),
        preference_defaults: Set(None),
        weight: Set(1),
    };
    Ok(model.insert(db).await?)
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> Result<tenant::Model, StoreError> {
    tenant::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Every tenant but the system one, oldest first.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<tenant::Model>, StoreError> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Name.ne(SYSTEM_TENANT))
        .order_by_asc(tenant::Column::Id)
        .all(db)
        .await?)
}

/// Disables or re-enables a tenant; its keys are refused while it is disabled.
pub async fn set_disabled(
    db: &impl ConnectionTrait,
    id: Uuid,
    disabled: bool,
) -> Result<tenant::Model, StoreError> {
    let current = get(db, id).await?;
    if current.disabled_at.is_some() == disabled {
        return Ok(current);
    }
    let mut model: tenant::ActiveModel = current.into();
    model.disabled_at = Set(disabled.then(Utc::now));
    Ok(model.update(db).await?)
}

/// The heaviest weight a tenant may have: a hundred turns to a weight-1 tenant's one.
pub const MAX_WEIGHT: i32 = 100;

/// Sets a tenant's weight (1 to [`MAX_WEIGHT`], checked by the caller).
pub async fn set_weight(
    db: &impl ConnectionTrait,
    id: Uuid,
    weight: i32,
) -> Result<tenant::Model, StoreError> {
    let mut model: tenant::ActiveModel = get(db, id).await?.into();
    model.weight = Set(weight);
    Ok(model.update(db).await?)
}

/// A key to issue.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub tenant_id: Uuid,
    pub scopes: Vec<Scope>,
    pub label: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by_key_id: Option<Uuid>,
}

/// Issues a new random key; returns it in clear (the only time it exists outside the
/// caller's hands) with its stored row. Which scopes a caller may grant is the caller's
/// rule (API and `pombo-admin`); the store keeps what it is given.
pub async fn issue_key(
    db: &impl ConnectionTrait,
    new: NewKey,
) -> Result<(String, api_key::Model), StoreError> {
    let key = generate_api_key();
    let row = insert_key(db, &key, new).await?;
    Ok((key, row))
}

async fn insert_key(
    db: &impl ConnectionTrait,
    key: &str,
    new: NewKey,
) -> Result<api_key::Model, StoreError> {
    Ok(api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(new.tenant_id),
        key_hash: Set(secret_digest(key)),
        label: Set(new.label),
        created_at: Set(Utc::now()),
        scopes: Set(Scope::join(&new.scopes)),
        prefix: Set(visible_prefix(key)),
        expires_at: Set(new.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        created_by_key_id: Set(new.created_by_key_id),
    }
    .insert(db)
    .await?)
}

/// Stores a key given in clear (kept hashed) with every tenant scope: the development key,
/// and tests' and benchmarks' tenants.
pub async fn add_api_key(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    key: &str,
    label: &str,
) -> Result<(), StoreError> {
    insert_key(
        db,
        key,
        NewKey {
            tenant_id,
            scopes: Scope::TENANT.to_vec(),
            label: label.to_owned(),
            expires_at: None,
            created_by_key_id: None,
        },
    )
    .await?;
    Ok(())
}

/// The scopes of a stored key.
pub fn scopes_of(key: &api_key::Model) -> Result<Vec<Scope>, StoreError> {
    Scope::parse_list(&key.scopes).map_err(|e| StoreError::Corrupt(format!("api key: {e}")))
}

/// A key that may be used now, with its tenant and scopes.
#[derive(Debug, Clone)]
pub struct ValidKey {
    pub key: api_key::Model,
    pub tenant: tenant::Model,
    pub scopes: Vec<Scope>,
}

/// The outcome of presenting a key.
#[derive(Debug, Clone)]
pub enum KeyCheck {
    Valid(Box<ValidKey>),
    Unknown,
    Revoked,
    Expired,
    TenantDisabled,
}

/// Checks a presented key against the database (no cache: revocation, expiry and a
/// disabled tenant take effect on the next request), and notes its use at most once a
/// minute.
pub async fn authenticate(db: &impl ConnectionTrait, key: &str) -> Result<KeyCheck, StoreError> {
    let Some(found) = find_key(db, key).await? else {
        return Ok(KeyCheck::Unknown);
    };
    let now = Utc::now();
    if found.revoked_at.is_some() {
        return Ok(KeyCheck::Revoked);
    }
    if found.expires_at.is_some_and(|at| at <= now) {
        return Ok(KeyCheck::Expired);
    }
    let Some(tenant) = tenant::Entity::find_by_id(found.tenant_id).one(db).await? else {
        return Ok(KeyCheck::Unknown);
    };
    if tenant.disabled_at.is_some() {
        return Ok(KeyCheck::TenantDisabled);
    }
    if found
        .last_used_at
        .is_none_or(|at| now - at >= LAST_USED_RESOLUTION)
    {
        // Conditional, so that concurrent requests of one key write once.
        let stale = now - LAST_USED_RESOLUTION;
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(found.id))
            .filter(
                api_key::Column::LastUsedAt
                    .is_null()
                    .or(api_key::Column::LastUsedAt.lte(stale)),
            )
            .exec(db)
            .await?;
    }
    let scopes = scopes_of(&found)?;
    Ok(KeyCheck::Valid(Box::new(ValidKey {
        key: found,
        tenant,
        scopes,
    })))
}

/// The tenant a key belongs to, if the key is known (revoked or not).
pub async fn by_api_key(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<tenant::Model>, StoreError> {
    let Some(found) = find_key(db, key).await? else {
        return Ok(None);
    };
    Ok(tenant::Entity::find_by_id(found.tenant_id).one(db).await?)
}

/// The stored key a presented one hashes to.
async fn find_key(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<api_key::Model>, StoreError> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(secret_digest(key)))
        .one(db)
        .await?)
}

/// A tenant's keys, oldest first, revoked ones included.
pub async fn list_keys(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<api_key::Model>, StoreError> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .order_by_asc(api_key::Column::Id)
        .all(db)
        .await?)
}

pub async fn get_key(db: &impl ConnectionTrait, id: Uuid) -> Result<api_key::Model, StoreError> {
    api_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Revokes a key (of `tenant_id` when given: another tenant's key is not found). Revoking
/// it again keeps the first time.
pub async fn revoke_key(
    db: &impl ConnectionTrait,
    tenant_id: Option<Uuid>,
    id: Uuid,
) -> Result<api_key::Model, StoreError> {
    let key = get_key(db, id).await?;
    if tenant_id.is_some_and(|t| t != key.tenant_id) {
        return Err(StoreError::NotFound);
    }
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let mut model: api_key::ActiveModel = key.into();
    model.revoked_at = Set(Some(Utc::now()));
    Ok(model.update(db).await?)
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

/// Makes sure tenant `name` exists. Safe when two processes race to do it.
pub async fn ensure(db: &impl ConnectionTrait, name: &str) -> Result<tenant::Model, StoreError> {
    match by_name(db, name).await? {
        Some(t) => Ok(t),
        None => match create(db, name).await {
            Ok(t) => Ok(t),
            Err(StoreError::Db(e)) if e.sql_err().is_some() => {
                by_name(db, name).await?.ok_or(StoreError::NotFound)
            }
            Err(e) => Err(e),
        },
    }
}

/// Makes sure tenant `name` exists and accepts `key`; used for the development tenant.
/// Idempotent, and safe when two processes race to do it.
pub async fn ensure_with_key(
    db: &impl ConnectionTrait,
    name: &str,
    key: &str,
) -> Result<tenant::Model, StoreError> {
    let tenant = ensure(db, name).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn database() -> (crate::Db, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("pombo-store-{}.db", Uuid::new_v4()));
        let db = crate::open(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        (db, path)
    }

    fn valid(check: KeyCheck) -> ValidKey {
        match check {
            KeyCheck::Valid(valid) => *valid,
            other => panic!("expected a valid key, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn keys_are_hashed_noted_once_a_minute_and_refused_once_revoked() {
        let (db, path) = database().await;
        let tenant = create(&db, "t").await.unwrap();
        let (key, row) = issue_key(
            &db,
            NewKey {
                tenant_id: tenant.id,
                scopes: vec![Scope::Read, Scope::Send],
                label: "l".into(),
                expires_at: None,
                created_by_key_id: None,
            },
        )
        .await
        .unwrap();
        assert!(key.starts_with("pombo_") && key.len() == 6 + 43, "{key}");
        assert_eq!(row.prefix, key[..PREFIX_LEN]);
        assert_eq!(row.key_hash, secret_digest(&key));
        assert_eq!(row.scopes, "send,read");

        let first = valid(authenticate(&db, &key).await.unwrap());
        assert_eq!(first.scopes, [Scope::Send, Scope::Read]);
        let noted = get_key(&db, row.id).await.unwrap().last_used_at.unwrap();
        valid(authenticate(&db, &key).await.unwrap());
        assert_eq!(
            get_key(&db, row.id).await.unwrap().last_used_at,
            Some(noted),
            "not written again within the minute"
        );

        assert!(matches!(
            authenticate(&db, "pombo_nope").await.unwrap(),
            KeyCheck::Unknown
        ));
        set_disabled(&db, tenant.id, true).await.unwrap();
        assert!(matches!(
            authenticate(&db, &key).await.unwrap(),
            KeyCheck::TenantDisabled
        ));
        set_disabled(&db, tenant.id, false).await.unwrap();
        let revoked = revoke_key(&db, Some(tenant.id), row.id).await.unwrap();
        let again = revoke_key(&db, None, row.id).await.unwrap();
        assert_eq!(again.revoked_at, revoked.revoked_at, "first time kept");
        assert!(matches!(
            revoke_key(&db, Some(Uuid::new_v4()), row.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            authenticate(&db, &key).await.unwrap(),
            KeyCheck::Revoked
        ));
        let _ = std::fs::remove_file(path);
    }
}
