//! Recipient profiles: a tenant's stored contacts, each with its addresses per channel, so
//! that a notification can name a person instead of an address.
//!
//! Every personal field is sealed at rest, in one sealed JSON text per row bound to the row
//! (the process-wide keyring of [`crate::sealed::install`], as for notifications). The
//! caller's own id for the person (`external_id`) must be unique per tenant and found by
//! lookup, which a sealed value (random nonce) cannot be: the row keeps a keyed digest of it
//! and the tenant ([`sealed::Keyring::digest`]: without the encryption keys nobody can test guesses
//! against it), and the value itself inside the sealed profile. Rows written before the
//! digest was keyed hold a SHA-256 salted with the tenant; lookups try both, and a write or
//! `pombo-worker reseal` replaces it.

use chrono::{DateTime, Utc};
use pombo_contract::{Channel, routing::country_of};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::recipient,
    sealed::{self, Aad},
};

/// The personal fields of a profile, each already validated by the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// E.164; `None` means the `phone` number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push_tokens: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_chat_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Canonical locale tag (`pt-BR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// IANA time zone (`America/Sao_Paulo`): quiet hours and delivery windows are read in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl Profile {
    /// The profile's address for `channel`, if it has one. For push, the first token (the
    /// API prefers the first one a provider can reach, see [`Profile::push_tokens`]).
    pub fn address(&self, channel: Channel) -> Option<&str> {
        match channel {
            Channel::Email => self.email.as_deref(),
            Channel::Sms => self.phone.as_deref(),
            Channel::Whatsapp => self.whatsapp.as_deref().or(self.phone.as_deref()),
            Channel::Push => self.push_tokens.first().map(String::as_str),
            Channel::Telegram => self.telegram_chat_id.as_deref(),
            Channel::Instagram => self.instagram_id.as_deref(),
            Channel::Webhook => self.webhook_url.as_deref(),
            // Every profile has an inbox: its address is the profile's id, not a field.
            Channel::InApp => None,
        }
    }

    /// The ISO 3166-1 alpha-2 country of the profile's phone number (or WhatsApp number).
    pub fn country(&self) -> Option<String> {
        self.phone
            .as_deref()
            .or(self.whatsapp.as_deref())
            .and_then(country_of)
    }
}

/// What a profile lacks for a channel, phrased for the API caller.
pub fn missing_address(channel: Channel) -> String {
    let what = match channel {
        Channel::Email => "email address",
        Channel::Sms => "phone number",
        Channel::Whatsapp => "WhatsApp or phone number",
        Channel::Push => "push token",
        Channel::Telegram => "Telegram chat id",
        Channel::Instagram => "Instagram id",
        Channel::Webhook => "webhook URL",
        Channel::InApp => "inbox",
    };
    format!("recipient has no {what} for channel `{channel}`")
}

/// A profile, opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub profile: Profile,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn context(tenant_id: Uuid, id: Uuid) -> Aad {
    Aad::new(Some(tenant_id), format!("recipients:{id}:profile"))
}

fn seal(tenant_id: Uuid, id: Uuid, profile: &Profile) -> String {
    let json = serde_json::to_string(profile).expect("profiles serialise");
    sealed::seal_text_at(&context(tenant_id, id), json)
}

/// A profile's sealed fields, opened.
pub(crate) fn open_profile(
    tenant_id: Uuid,
    id: Uuid,
    sealed: String,
) -> Result<Profile, StoreError> {
    let json = sealed::open_text_at(&context(tenant_id, id), sealed)?;
    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("recipient {id}: {e}")))
}

fn open(row: recipient::Model) -> Result<Recipient, StoreError> {
    let json = sealed::open_text_at(&context(row.tenant_id, row.id), row.profile)?;
    let profile: Profile = serde_json::from_str(&json)
        .map_err(|e| StoreError::Corrupt(format!("recipient {}: {e}", row.id)))?;
    Ok(Recipient {
        id: row.id,
        tenant_id: row.tenant_id,
        profile,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

const DIGEST_LABEL: &str = "pombo-recipient-external-id";

/// The digest written for `external_id`: keyed under the current key, or (no keyring: the
/// profile is in clear anyway) the unkeyed one.
pub fn external_id_digest(tenant_id: Uuid, external_id: &str) -> String {
    match sealed::installed() {
        Some(keyring) => keyring.digest(
            DIGEST_LABEL,
            &[tenant_id.as_bytes(), external_id.as_bytes()],
        ),
        None => unkeyed_digest(tenant_id, external_id),
    }
}

/// Every digest a row for `external_id` may hold: keyed under each configured key, and the
/// unkeyed one of rows written before digests were keyed.
fn external_id_digests(tenant_id: Uuid, external_id: &str) -> Vec<String> {
    let mut all = match sealed::installed() {
        Some(keyring) => keyring.digests(
            DIGEST_LABEL,
            &[tenant_id.as_bytes(), external_id.as_bytes()],
        ),
        None => Vec::new(),
    };
    all.push(unkeyed_digest(tenant_id, external_id));
    all
}

/// SHA-256 salted with the tenant: what rows held before digests were keyed.
fn unkeyed_digest(tenant_id: Uuid, external_id: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"pombo-recipient-external-id\0");
    hash.update(tenant_id.as_bytes());
    hash.update(external_id.as_bytes());
    hex::encode(hash.finalize())
}

fn taken(e: sea_orm::DbErr, profile: &Profile) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(format!(
            "a recipient with external_id `{}` exists",
            profile.external_id.as_deref().unwrap_or_default()
        )),
        _ => StoreError::Db(e),
    }
}

pub async fn create(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    profile: Profile,
) -> Result<Recipient, StoreError> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    let row = recipient::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id),
        external_id_digest: Set(profile
            .external_id
            .as_deref()
            .map(|e| external_id_digest(tenant_id, e))),
        profile: Set(seal(tenant_id, id, &profile)),
        preferences: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| taken(e, &profile))?;
    open(row)
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Recipient, StoreError> {
    let row = recipient::Entity::find_by_id(id)
        .filter(recipient::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    open(row)
}

/// The tenant's profile with this `external_id`.
pub async fn by_external_id(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    external_id: &str,
) -> Result<Recipient, StoreError> {
    let row = recipient::Entity::find()
        .filter(recipient::Column::TenantId.eq(tenant_id))
        .filter(
            recipient::Column::ExternalIdDigest.is_in(external_id_digests(tenant_id, external_id)),
        )
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    open(row)
}

/// A profile named by our id, or else by the caller's `external_id` (a path segment may be
/// either).
pub async fn find(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id_or_external_id: &str,
) -> Result<Recipient, StoreError> {
    if let Ok(id) = id_or_external_id.parse::<Uuid>() {
        match get(db, tenant_id, id).await {
            Err(StoreError::NotFound) => {}
            found => return found,
        }
    }
    by_external_id(db, tenant_id, id_or_external_id).await
}

/// Newest first, `limit` of them, older than `before` when given.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Recipient>, StoreError> {
    let mut query = recipient::Entity::find()
        .filter(recipient::Column::TenantId.eq(tenant_id))
        .order_by_desc(recipient::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(recipient::Column::Id.lt(before));
    }
    query.all(db).await?.into_iter().map(open).collect()
}

/// Replaces the profile's fields with `profile` (the API merges a PATCH into it first).
pub async fn update(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    profile: Profile,
) -> Result<Recipient, StoreError> {
    get(db, tenant_id, id).await?;
    let row = recipient::ActiveModel {
        id: Set(id),
        external_id_digest: Set(profile
            .external_id
            .as_deref()
            .map(|e| external_id_digest(tenant_id, e))),
        profile: Set(seal(tenant_id, id, &profile)),
        updated_at: Set(Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await
    .map_err(|e| taken(e, &profile))?;
    open(row)
}

pub async fn delete(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(), StoreError> {
    let result = recipient::Entity::delete_many()
        .filter(recipient::Column::Id.eq(id))
        .filter(recipient::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Re-seals every profile not sealed with the installed keyring's current key (the last
/// step of a key rotation, beside [`crate::notifications::reseal_all`]). Returns how many.
pub async fn reseal_all(db: &impl ConnectionTrait) -> Result<u64, StoreError> {
    let Some(keyring) = sealed::installed() else {
        return Err(StoreError::NoKeyring);
    };
    let current = format!("{}%", keyring.current_prefix());
    let mut count = 0;
    let mut after = Uuid::nil();
    loop {
        let batch = recipient::Entity::find()
            .filter(recipient::Column::Id.gt(after))
            .filter(recipient::Column::Profile.not_like(current.as_str()))
            .order_by_asc(recipient::Column::Id)
            .limit(500)
            .all(db)
            .await?;
        let Some(last) = batch.last() else {
            return Ok(count);
        };
        after = last.id;
        for row in batch {
            let opened = open(row)?;
            recipient::ActiveModel {
                id: Set(opened.id),
                profile: Set(seal(opened.tenant_id, opened.id, &opened.profile)),
                external_id_digest: Set(opened
                    .profile
                    .external_id
                    .as_deref()
                    .map(|e| external_id_digest(opened.tenant_id, e))),
                ..Default::default()
            }
            .update(db)
            .await?;
            count += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_channel_takes_its_own_address_and_whatsapp_falls_back_to_the_phone() {
        let mut p = Profile {
            email: Some("ana@example.com".into()),
            phone: Some("+5511987654321".into()),
            push_tokens: vec!["a".repeat(64), "b".repeat(64)],
            ..Default::default()
        };
        assert_eq!(p.address(Channel::Email), Some("ana@example.com"));
        assert_eq!(p.address(Channel::Sms), Some("+5511987654321"));
        assert_eq!(p.address(Channel::Whatsapp), Some("+5511987654321"));
        assert_eq!(p.address(Channel::Push), Some("a".repeat(64).as_str()));
        assert_eq!(p.address(Channel::Telegram), None);
        p.whatsapp = Some("+5511912345678".into());
        assert_eq!(p.address(Channel::Whatsapp), Some("+5511912345678"));
        assert_eq!(p.country().as_deref(), Some("BR"));
    }

    #[test]
    fn missing_addresses_are_named_for_the_caller() {
        assert_eq!(
            missing_address(Channel::Sms),
            "recipient has no phone number for channel `sms`"
        );
        assert_eq!(
            missing_address(Channel::Email),
            "recipient has no email address for channel `email`"
        );
    }

    #[test]
    fn external_id_digests_differ_between_tenants() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(external_id_digest(a, "u-1"), external_id_digest(a, "u-1"));
        assert_ne!(external_id_digest(a, "u-1"), external_id_digest(b, "u-1"));
        assert_ne!(external_id_digest(a, "u-1"), external_id_digest(a, "u-2"));
    }
}
