//! A tenant's suppression list: addresses that must not be sent to again on a channel,
//! because a report said the address bounced for good, its owner complained of spam, the
//! provider refused it permanently, or its owner unsubscribed without a profile. Later
//! sends to it are `skipped` (reason `suppressed`) instead of bouncing again, which is what
//! keeps a sender's reputation. Operators review and lift entries (`/v1/suppressions`).
//!
//! The address is sealed; rows are found by a keyed digest of tenant, channel and address
//! (as contacts are), so the list can be checked without opening it.

use chrono::{DateTime, Utc};
use pombo_contract::Channel;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::suppression,
    sealed::{self, Aad},
};

const DIGEST_LABEL: &str = "pombo-suppressed-address";

/// Why an address is on the list.
pub mod reasons {
    /// The mailbox or number does not exist (a permanent bounce).
    pub const HARD_BOUNCE: &str = "hard_bounce";
    /// Its owner marked a message as spam.
    pub const COMPLAINT: &str = "complaint";
    /// The provider refused the address for good.
    pub const REFUSED: &str = "refused";
    /// Its owner unsubscribed through a message's link (no profile to record it on).
    pub const UNSUBSCRIBED: &str = "unsubscribed";
}

/// One entry, opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppression {
    pub id: Uuid,
    pub channel: Channel,
    pub address: String,
    pub reason: String,
    pub detail: Option<String>,
    pub notification_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

fn aad(tenant_id: Uuid, id: Uuid) -> Aad {
    Aad::new(Some(tenant_id), format!("suppressions:{id}:address"))
}

/// Every digest an entry for `address` may have (for a lookup written elsewhere).
pub(crate) fn lookup_digests(tenant_id: Uuid, channel: Channel, address: &str) -> Vec<String> {
    digests(tenant_id, channel, address)
}

fn digests(tenant_id: Uuid, channel: Channel, address: &str) -> Vec<String> {
    sealed::address_digests(DIGEST_LABEL, tenant_id, channel, &normal(channel, address))
}

/// Email addresses compare without case; other addresses as written (E.164 already).
fn normal(channel: Channel, address: &str) -> String {
    match channel {
        Channel::Email => address.trim().to_lowercase(),
        _ => address.trim().to_owned(),
    }
}

fn open(row: suppression::Model) -> Result<Suppression, StoreError> {
    Ok(Suppression {
        address: sealed::open_text_at(&aad(row.tenant_id, row.id), row.address)?,
        id: row.id,
        channel: *row.channel,
        reason: row.reason,
        detail: row.detail,
        notification_id: row.notification_id,
        created_at: row.created_at,
    })
}

/// Puts `address` on the list (once: an address already there keeps its first reason).
/// True when it was added now.
pub async fn add(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    channel: Channel,
    address: &str,
    reason: &str,
    detail: Option<String>,
    notification_id: Option<Uuid>,
) -> Result<bool, StoreError> {
    if reason_for(db, tenant_id, channel, address).await?.is_some() {
        return Ok(false);
    }
    let id = Uuid::now_v7();
    let row = suppression::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id),
        channel: Set(channel.into()),
        address_digest: Set(digests(tenant_id, channel, address).remove(0)),
        address: Set(sealed::seal_text_at(
            &aad(tenant_id, id),
            normal(channel, address),
        )),
        reason: Set(reason.to_owned()),
        detail: Set(detail.map(|d| d.chars().take(500).collect())),
        notification_id: Set(notification_id),
        created_at: Set(Utc::now()),
    };
    match row.insert(db).await {
        Ok(_) => Ok(true),
        // Added meanwhile by another report.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Why `address` is suppressed on `channel`, if it is.
pub async fn reason_for(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    channel: Channel,
    address: &str,
) -> Result<Option<String>, StoreError> {
    Ok(suppression::Entity::find()
        .filter(suppression::Column::TenantId.eq(tenant_id))
        .filter(suppression::Column::Channel.eq(channel.as_str()))
        .filter(suppression::Column::AddressDigest.is_in(digests(tenant_id, channel, address)))
        .one(db)
        .await?
        .map(|row| row.reason))
}

/// Newest first, `limit` of them, older than `before` when given; one channel or all.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    channel: Option<Channel>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Suppression>, StoreError> {
    let mut query = suppression::Entity::find()
        .filter(suppression::Column::TenantId.eq(tenant_id))
        .order_by_desc(suppression::Column::Id)
        .limit(limit);
    if let Some(channel) = channel {
        query = query.filter(suppression::Column::Channel.eq(channel.as_str()));
    }
    if let Some(before) = before {
        query = query.filter(suppression::Column::Id.lt(before));
    }
    query.all(db).await?.into_iter().map(open).collect()
}

/// Lifts an entry: the address may be sent to again. `NotFound` when the tenant has none
/// with this id.
pub async fn remove(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(), StoreError> {
    let result = suppression::Entity::delete_many()
        .filter(suppression::Column::Id.eq(id))
        .filter(suppression::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Lifts `address`'s entry on `channel` if it is there for `reason` (a person who texts
/// START lifts their own STOP, not a bounce). True when one was lifted.
pub async fn remove_address(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    channel: Channel,
    address: &str,
    reason: &str,
) -> Result<bool, StoreError> {
    let result = suppression::Entity::delete_many()
        .filter(suppression::Column::TenantId.eq(tenant_id))
        .filter(suppression::Column::Channel.eq(channel.as_str()))
        .filter(suppression::Column::AddressDigest.is_in(digests(tenant_id, channel, address)))
        .filter(suppression::Column::Reason.eq(reason))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Which of `addresses` are suppressed on `channel`, with their reasons: one query for a
/// batch chunk's recipients.
pub async fn among(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    channel: Channel,
    addresses: &[&str],
) -> Result<std::collections::HashMap<String, String>, StoreError> {
    let mut by_digest = std::collections::HashMap::new();
    for address in addresses {
        for digest in digests(tenant_id, channel, address) {
            by_digest.insert(digest, (*address).to_owned());
        }
    }
    if by_digest.is_empty() {
        return Ok(Default::default());
    }
    let rows = suppression::Entity::find()
        .filter(suppression::Column::TenantId.eq(tenant_id))
        .filter(suppression::Column::Channel.eq(channel.as_str()))
        .filter(suppression::Column::AddressDigest.is_in(by_digest.keys().cloned()))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((by_digest.get(&row.address_digest)?.clone(), row.reason)))
        .collect())
}
