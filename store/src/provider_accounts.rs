//! Provider accounts of tenants. Settings, credentials included, are stored sealed
//! ([`crate::sealed`]): the database never holds a credential in clear. The store knows
//! settings only as [`AccountSettings`] (a type and a channel, kept in clear beside them);
//! which providers exist is `pombo_providers`', whose `ProviderSettings` the callers name.

use chrono::{DateTime, Utc};
use pombo_contract::{
    Channel,
    providers::{AccountSettings, SendRateLimit},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    SqlErr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::provider_account,
    sealed::{Aad, Keyring},
};

/// A provider account, opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Account<S> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub priority: i32,
    pub enabled: bool,
    pub settings: S,
    /// How fast the account may be sent to; unlimited when `None`.
    pub rate_limit: Option<SendRateLimit>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl<S: AccountSettings> Account<S> {
    pub fn channel(&self) -> Channel {
        self.settings.channel()
    }
}

#[derive(Debug, Clone)]
pub struct NewAccount<S> {
    pub name: String,
    pub priority: i32,
    pub enabled: bool,
    pub settings: S,
    pub rate_limit: Option<SendRateLimit>,
}

/// Changes to an account; `None` keeps the current value.
#[derive(Debug, Clone)]
pub struct AccountPatch<S> {
    pub name: Option<String>,
    pub priority: Option<i32>,
    pub enabled: Option<bool>,
    pub settings: Option<S>,
    /// `Some(None)` removes the rate limit.
    pub rate_limit: Option<Option<SendRateLimit>>,
}

impl<S> Default for AccountPatch<S> {
    fn default() -> Self {
        AccountPatch {
            name: None,
            priority: None,
            enabled: None,
            settings: None,
            rate_limit: None,
        }
    }
}

fn context(tenant_id: Uuid, id: Uuid) -> Aad {
    Aad::new(Some(tenant_id), format!("provider_accounts:{id}"))
}

fn seal<S: AccountSettings>(keyring: &Keyring, tenant_id: Uuid, id: Uuid, settings: &S) -> String {
    let json = serde_json::to_vec(settings).expect("settings serialise");
    keyring.seal(&json, &context(tenant_id, id))
}

fn open<S: AccountSettings>(
    keyring: &Keyring,
    row: provider_account::Model,
) -> Result<Account<S>, StoreError> {
    let json = keyring.open(&row.settings_sealed, &context(row.tenant_id, row.id))?;
    let settings: S = serde_json::from_slice(&json)
        .map_err(|e| StoreError::Corrupt(format!("provider account {}: {e}", row.id)))?;
    let rate_limit = rate_limit_of(&row);
    Ok(Account {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name,
        priority: row.priority,
        enabled: row.enabled,
        settings,
        rate_limit,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn rate_limit_of(row: &provider_account::Model) -> Option<SendRateLimit> {
    row.rate_limit_per_second
        .map(|per_second| SendRateLimit { per_second })
}

fn name_taken(e: sea_orm::DbErr, name: &str) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            StoreError::Conflict(format!("a provider account named `{name}` exists"))
        }
        _ => StoreError::Db(e),
    }
}

pub async fn create<S: AccountSettings>(
    db: &impl ConnectionTrait,
    keyring: Option<&Keyring>,
    tenant_id: Uuid,
    new: NewAccount<S>,
) -> Result<Account<S>, StoreError> {
    let keyring = keyring.ok_or(StoreError::NoKeyring)?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    let row = provider_account::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id),
        name: Set(new.name.clone()),
        kind: Set(new.settings.kind().to_owned()),
        channel: Set(new.settings.channel().into()),
        priority: Set(new.priority),
        enabled: Set(new.enabled),
        settings_sealed: Set(seal(keyring, tenant_id, id, &new.settings)),
        key_id: Set(keyring.current_key_id().to_owned()),
        rate_limit_per_second: Set(new.rate_limit.map(|r| r.per_second)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| name_taken(e, &new.name))?;
    open(keyring, row)
}

pub async fn list<S: AccountSettings>(
    db: &impl ConnectionTrait,
    keyring: Option<&Keyring>,
    tenant_id: Uuid,
    channel: Option<Channel>,
) -> Result<Vec<Account<S>>, StoreError> {
    let mut query = provider_account::Entity::find()
        .filter(provider_account::Column::TenantId.eq(tenant_id))
        .order_by_asc(provider_account::Column::Channel)
        .order_by_asc(provider_account::Column::Priority)
        .order_by_asc(provider_account::Column::CreatedAt);
    if let Some(channel) = channel {
        query = query.filter(provider_account::Column::Channel.eq(channel.as_str()));
    }
    let rows = query.all(db).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let keyring = keyring.ok_or(StoreError::NoKeyring)?;
    rows.into_iter().map(|row| open(keyring, row)).collect()
}

/// The enabled accounts of `channel`, in failover order.
pub async fn for_channel<S: AccountSettings>(
    db: &impl ConnectionTrait,
    keyring: Option<&Keyring>,
    tenant_id: Uuid,
    channel: Channel,
) -> Result<Vec<Account<S>>, StoreError> {
    Ok(list(db, keyring, tenant_id, Some(channel))
        .await?
        .into_iter()
        .filter(|a| a.enabled)
        .collect())
}

pub async fn get<S: AccountSettings>(
    db: &impl ConnectionTrait,
    keyring: Option<&Keyring>,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Account<S>, StoreError> {
    let row = provider_account::Entity::find_by_id(id)
        .filter(provider_account::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    open(keyring.ok_or(StoreError::NoKeyring)?, row)
}

/// An account of any tenant, for the worker (which acts for all of them).
pub async fn get_by_id<S: AccountSettings>(
    db: &impl ConnectionTrait,
    keyring: Option<&Keyring>,
    id: Uuid,
) -> Result<Account<S>, StoreError> {
    let row = provider_account::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    open(keyring.ok_or(StoreError::NoKeyring)?, row)
}

/// The row's last change, to tell whether a cached client of the account is stale.
pub async fn updated_at(db: &impl ConnectionTrait, id: Uuid) -> Result<DateTime<Utc>, StoreError> {
    provider_account::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|row| row.updated_at)
        .ok_or(StoreError::NotFound)
}

/// The account's send rate limit, read without opening its sealed settings (the worker
/// asks before every send to a rate-limited account). A deleted account has none.
pub async fn rate_limit(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<SendRateLimit>, StoreError> {
    Ok(provider_account::Entity::find_by_id(id)
        .one(db)
        .await?
        .as_ref()
        .and_then(rate_limit_of))
}

pub async fn update<S: AccountSettings>(
    db: &impl ConnectionTrait,
    keyring: Option<&Keyring>,
    tenant_id: Uuid,
    id: Uuid,
    patch: AccountPatch<S>,
) -> Result<Account<S>, StoreError> {
    let keyring = keyring.ok_or(StoreError::NoKeyring)?;
    let current: Account<S> = get(db, Some(keyring), tenant_id, id).await?;
    let mut row = provider_account::ActiveModel {
        id: Set(id),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some(name) = &patch.name {
        row.name = Set(name.clone());
    }
    if let Some(priority) = patch.priority {
        row.priority = Set(priority);
    }
    if let Some(enabled) = patch.enabled {
        row.enabled = Set(enabled);
    }
    if let Some(rate_limit) = patch.rate_limit {
        row.rate_limit_per_second = Set(rate_limit.map(|r| r.per_second));
    }
    if let Some(settings) = &patch.settings {
        if settings.channel() != current.channel() {
            return Err(StoreError::Conflict(format!(
                "the account delivers `{}`; a `{}` provider cannot replace it",
                current.channel(),
                settings.kind()
            )));
        }
        row.kind = Set(settings.kind().to_owned());
        row.settings_sealed = Set(seal(keyring, tenant_id, id, settings));
        row.key_id = Set(keyring.current_key_id().to_owned());
    }
    let name = patch.name.unwrap_or(current.name);
    let row = row.update(db).await.map_err(|e| name_taken(e, &name))?;
    open(keyring, row)
}

pub async fn delete(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(), StoreError> {
    let result = provider_account::Entity::delete_many()
        .filter(provider_account::Column::Id.eq(id))
        .filter(provider_account::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    // What its gateway last said of its instance goes with it.
    crate::entities::instance_state::Entity::delete_by_id(id.to_string())
        .exec(db)
        .await?;
    Ok(())
}

/// Re-seals every account sealed with another key than the current one (the last step of
/// a key rotation), or in an older format. Returns how many were re-sealed.
pub async fn reseal_all(db: &impl ConnectionTrait, keyring: &Keyring) -> Result<u64, StoreError> {
    let stale = provider_account::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(provider_account::Column::KeyId.ne(keyring.current_key_id()))
                .add(
                    provider_account::Column::SettingsSealed
                        .not_like(format!("{}%", keyring.current_prefix())),
                ),
        )
        .all(db)
        .await?;
    let mut count = 0;
    for row in stale {
        let id = row.id;
        let tenant_id = row.tenant_id;
        // Re-sealed as the bytes they are: no need to know which provider they configure.
        let json = keyring.open(&row.settings_sealed, &context(tenant_id, id))?;
        provider_account::ActiveModel {
            id: Set(id),
            settings_sealed: Set(keyring.seal(&json, &context(tenant_id, id))),
            key_id: Set(keyring.current_key_id().to_owned()),
            ..Default::default()
        }
        .update(db)
        .await?;
        count += 1;
    }
    Ok(count)
}
