//! Users and rooms of the hub, each under the id its own platform gave it (the source's
//! ids are platform-local integers: the hub keys everything by platform and id, as the
//! source's GWT group did by concatenating them).
//!
//! A user or a room posted by one platform is stored with its forwards to the others in
//! one transaction: every other platform learns of a user; the platforms with members in
//! a room learn of the room.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pombo_contract::hub::ForwardKind;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionSession,
    TransactionTrait, sea_query::OnConflict,
};
use serde_json::json;
use uuid::Uuid;

use super::{forwards, platforms::Platform};
use crate::{
    StoreError,
    entities::{hub_platform, hub_room, hub_room_member, hub_user},
};

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub platform_id: Uuid,
    pub external_id: i64,
    pub name: String,
    pub updated_at: DateTime<Utc>,
}

impl From<hub_user::Model> for User {
    fn from(row: hub_user::Model) -> Self {
        User {
            id: row.id,
            platform_id: row.platform_id,
            external_id: row.external_id,
            name: row.name,
            updated_at: row.updated_at,
        }
    }
}

/// Stores (or renames) `from`'s user `external_id` and owes it to every other platform of
/// the hub as `{"id", "name", "platform"}`. Returns the user and those platforms (whose
/// forwarders to wake).
pub async fn post_user<C: TransactionTrait>(
    db: &C,
    from: &Platform,
    external_id: i64,
    name: &str,
) -> Result<(User, Vec<Uuid>), StoreError> {
    let tx = crate::begin_write(db).await?;
    let now = Utc::now();
    hub_user::Entity::insert(hub_user::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(from.tenant_id),
        platform_id: Set(from.id),
        external_id: Set(external_id),
        name: Set(name.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([hub_user::Column::PlatformId, hub_user::Column::ExternalId])
            .update_columns([hub_user::Column::Name, hub_user::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(&tx)
    .await?;
    let user: User = hub_user::Entity::find()
        .filter(hub_user::Column::PlatformId.eq(from.id))
        .filter(hub_user::Column::ExternalId.eq(external_id))
        .one(&tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt("hub user vanished in its transaction".into()))?
        .into();
    let others: Vec<Uuid> = hub_platform::Entity::find()
        .filter(hub_platform::Column::TenantId.eq(from.tenant_id))
        .filter(hub_platform::Column::Id.ne(from.id))
        .all(&tx)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let body = json!({"id": external_id, "name": name, "platform": from.name});
    forwards::owe(
        &tx,
        from.tenant_id,
        &others,
        ForwardKind::User,
        user.id,
        &body,
    )
    .await?;
    tx.commit().await?;
    Ok((user, others))
}

/// Stores the users `from` listed (its `GET /api/users`): each one new or renamed is
/// stored and told to the other platforms like a posted user ([`post_user`]); the others
/// are left alone, so a daily import tells nobody twice. Returns how many changed.
pub async fn import_users<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    from: &Platform,
    listed: &[(i64, String)],
) -> Result<u32, StoreError> {
    let known: std::collections::HashMap<i64, String> = users(db, from.tenant_id, Some(from.id))
        .await?
        .into_iter()
        .map(|u| (u.external_id, u.name))
        .collect();
    let mut changed = 0;
    for (id, name) in listed {
        if known.get(id) != Some(name) {
            post_user(db, from, *id, name).await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// The users of a tenant's hub with their platform's name, by platform then id.
pub async fn users(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    platform_id: Option<Uuid>,
) -> Result<Vec<User>, StoreError> {
    let mut query = hub_user::Entity::find().filter(hub_user::Column::TenantId.eq(tenant_id));
    if let Some(platform_id) = platform_id {
        query = query.filter(hub_user::Column::PlatformId.eq(platform_id));
    }
    Ok(query
        .order_by_asc(hub_user::Column::PlatformId)
        .order_by_asc(hub_user::Column::ExternalId)
        .all(db)
        .await?
        .into_iter()
        .map(User::from)
        .collect())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The platform that created it.
    pub platform_id: Uuid,
    pub external_id: i64,
    pub name: String,
    pub kind: String,
    pub created_at: DateTime<Utc>,
}

impl From<hub_room::Model> for Room {
    fn from(row: hub_room::Model) -> Self {
        Room {
            id: row.id,
            tenant_id: row.tenant_id,
            platform_id: row.platform_id,
            external_id: row.external_id,
            name: row.name,
            kind: row.kind,
            created_at: row.created_at,
        }
    }
}

/// A room as `from` posts it: its members, by platform, as the platforms' own user ids.
pub struct PostedRoom {
    pub external_id: i64,
    pub name: String,
    pub kind: String,
    pub members: BTreeMap<Uuid, Vec<i64>>,
    /// The body forwarded (the source's shape, with the members under platform names).
    pub body: serde_json::Value,
}

/// Stores (or replaces the name and members of) `from`'s room and owes it to every other
/// platform with members in it.
pub async fn post_room<C: TransactionTrait>(
    db: &C,
    from: &Platform,
    room: PostedRoom,
) -> Result<Room, StoreError> {
    let tx = crate::begin_write(db).await?;
    hub_room::Entity::insert(hub_room::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(from.tenant_id),
        platform_id: Set(from.id),
        external_id: Set(room.external_id),
        name: Set(room.name.clone()),
        kind: Set(room.kind.clone()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([hub_room::Column::PlatformId, hub_room::Column::ExternalId])
            .update_columns([hub_room::Column::Name, hub_room::Column::Kind])
            .to_owned(),
    )
    .exec_without_returning(&tx)
    .await?;
    let stored: Room = hub_room::Entity::find()
        .filter(hub_room::Column::PlatformId.eq(from.id))
        .filter(hub_room::Column::ExternalId.eq(room.external_id))
        .one(&tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt("hub room vanished in its transaction".into()))?
        .into();
    hub_room_member::Entity::delete_many()
        .filter(hub_room_member::Column::RoomId.eq(stored.id))
        .exec(&tx)
        .await?;
    let mut rows = Vec::new();
    for (platform_id, ids) in &room.members {
        let mut ids = ids.clone();
        ids.sort_unstable();
        ids.dedup();
        rows.extend(ids.into_iter().map(|user| hub_room_member::ActiveModel {
            room_id: Set(stored.id),
            platform_id: Set(*platform_id),
            user_external_id: Set(user),
        }));
    }
    if !rows.is_empty() {
        hub_room_member::Entity::insert_many(rows)
            .exec_without_returning(&tx)
            .await?;
    }
    let targets: Vec<Uuid> = room
        .members
        .keys()
        .copied()
        .filter(|p| *p != from.id)
        .collect();
    forwards::owe(
        &tx,
        from.tenant_id,
        &targets,
        ForwardKind::Room,
        stored.id,
        &room.body,
    )
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// A room of the tenant's, by the platform that created it and that platform's id.
pub async fn by_origin(
    db: &impl ConnectionTrait,
    platform_id: Uuid,
    external_id: i64,
) -> Result<Room, StoreError> {
    Ok(hub_room::Entity::find()
        .filter(hub_room::Column::PlatformId.eq(platform_id))
        .filter(hub_room::Column::ExternalId.eq(external_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?
        .into())
}

pub async fn get(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Room, StoreError> {
    Ok(hub_room::Entity::find_by_id(id)
        .filter(hub_room::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?
        .into())
}

/// The tenant's rooms, oldest first.
pub async fn list(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Vec<Room>, StoreError> {
    Ok(hub_room::Entity::find()
        .filter(hub_room::Column::TenantId.eq(tenant_id))
        .order_by_asc(hub_room::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Room::from)
        .collect())
}

/// A room's members: each platform with its users' ids, ascending.
pub async fn members(
    db: &impl ConnectionTrait,
    room_id: Uuid,
) -> Result<BTreeMap<Uuid, Vec<i64>>, StoreError> {
    let rows = hub_room_member::Entity::find()
        .filter(hub_room_member::Column::RoomId.eq(room_id))
        .order_by_asc(hub_room_member::Column::PlatformId)
        .order_by_asc(hub_room_member::Column::UserExternalId)
        .all(db)
        .await?;
    let mut members: BTreeMap<Uuid, Vec<i64>> = BTreeMap::new();
    for row in rows {
        members
            .entry(row.platform_id)
            .or_default()
            .push(row.user_external_id);
    }
    Ok(members)
}
