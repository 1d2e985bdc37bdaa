//! Rooms bridged to conversations of the two-way messaging: a WhatsApp contact, a
//! Telegram chat, … joins a room as if it were a platform of its own. What the person
//! writes comes into the room (stored with its forwards in the conversation's own
//! transaction, [`inbound`]); what the room's platforms post goes out to the person as a
//! reply, through the notification pipeline (the API sends the forwards whose target is a
//! conversation: [`pending_to_conversations`]).
//!
//! In the source's protocol a bridged person is a user of a platform named after the
//! channel (`"whatsapp"`), with a number derived from the conversation ([`sender_number`]).

use chrono::Utc;
use pombo_contract::hub::{ForwardKind, ForwardStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{OnConflict, Query},
};
use serde_json::json;
use uuid::Uuid;

use super::{
    forwards::{self, Forward},
    messages,
    rooms::Room,
};
use crate::{
    StoreError,
    entities::{hub_forward, hub_platform, hub_room, hub_room_conversation},
};

/// Bridges the tenant's conversation into the room (again: nothing changes).
pub async fn link(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    room_id: Uuid,
    conversation_id: Uuid,
) -> Result<(), StoreError> {
    hub_room_conversation::Entity::insert(hub_room_conversation::ActiveModel {
        room_id: Set(room_id),
        conversation_id: Set(conversation_id),
        tenant_id: Set(tenant_id),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            hub_room_conversation::Column::RoomId,
            hub_room_conversation::Column::ConversationId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The conversations bridged into a room.
pub async fn conversations_of(
    db: &impl ConnectionTrait,
    room_id: Uuid,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(hub_room_conversation::Entity::find()
        .select_only()
        .column(hub_room_conversation::Column::ConversationId)
        .filter(hub_room_conversation::Column::RoomId.eq(room_id))
        .order_by_asc(hub_room_conversation::Column::ConversationId)
        .into_tuple()
        .all(db)
        .await?)
}

/// The number a bridged person has as a room's sender: the conversation id's first 52
/// bits, stable and within JSON's exact integers.
pub fn sender_number(conversation_id: Uuid) -> i64 {
    let bytes = conversation_id.as_bytes();
    let high = u64::from_be_bytes(bytes[..8].try_into().expect("eight bytes"));
    i64::try_from(high >> 12).expect("52 bits fit")
}

/// A person's message in a bridged conversation, into each room it is bridged into (in
/// the caller's transaction, the one storing the message): stored as a room message whose
/// sender is the conversation, owed to the room's platforms and other conversations.
pub(crate) async fn inbound(
    tx: &impl ConnectionTrait,
    tenant_id: Uuid,
    conversation_id: Uuid,
    channel: &str,
    sender_name: Option<&str>,
    text: &str,
) -> Result<(), StoreError> {
    let rooms: Vec<Uuid> = hub_room_conversation::Entity::find()
        .select_only()
        .column(hub_room_conversation::Column::RoomId)
        .filter(hub_room_conversation::Column::ConversationId.eq(conversation_id))
        .into_tuple()
        .all(tx)
        .await?;
    for room_id in rooms {
        let Some(room) = hub_room::Entity::find_by_id(room_id).one(tx).await? else {
            continue;
        };
        let room = Room::from(room);
        let origin = hub_platform::Entity::find_by_id(room.platform_id)
            .one(tx)
            .await?
            .map(|p| p.name)
            .unwrap_or_default();
        let sender = sender_number(conversation_id);
        let body = json!({
            "roomOriginalPlatform": origin,
            "roomId": room.external_id,
            "senderId": sender,
            "text": text,
            "platform": channel,
            "senderName": sender_name,
        });
        messages::store(tx, tenant_id, &room, conversation_id, sender, text, &body).await?;
    }
    Ok(())
}

/// The platforms a new message of `conversation_id` is forwarded to (the members'
/// platforms and origin of each room it is bridged into): whose forwarders to wake.
pub async fn platforms_reached(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<Vec<Uuid>, StoreError> {
    let rooms: Vec<Uuid> = hub_room_conversation::Entity::find()
        .select_only()
        .column(hub_room_conversation::Column::RoomId)
        .filter(hub_room_conversation::Column::ConversationId.eq(conversation_id))
        .into_tuple()
        .all(db)
        .await?;
    let mut platforms = Vec::new();
    for room_id in rooms {
        if let Some(room) = hub_room::Entity::find_by_id(room_id).one(db).await? {
            platforms.push(room.platform_id);
        }
        platforms.extend(super::rooms::members(db, room_id).await?.into_keys());
    }
    platforms.sort();
    platforms.dedup();
    Ok(platforms)
}

/// Pending forwards to bridged conversations: those of `ids` when given, else those older
/// than `older_than` (the API's sweep), oldest first, at most `limit`.
pub async fn pending_to_conversations(
    db: &impl ConnectionTrait,
    ids: Option<Vec<Uuid>>,
    older_than: std::time::Duration,
    limit: u64,
) -> Result<Vec<Forward>, StoreError> {
    let bridged = Query::select()
        .column(hub_room_conversation::Column::ConversationId)
        .from(hub_room_conversation::Entity)
        .to_owned();
    let mut query = hub_forward::Entity::find()
        .filter(hub_forward::Column::Status.eq(ForwardStatus::Pending.as_str()))
        .filter(hub_forward::Column::Kind.eq(ForwardKind::Message.as_str()))
        .filter(hub_forward::Column::PlatformId.in_subquery(bridged));
    query = match ids {
        Some(ids) => query.filter(hub_forward::Column::Id.is_in(ids)),
        None => {
            let before = Utc::now() - chrono::Duration::from_std(older_than).unwrap_or_default();
            query.filter(hub_forward::Column::CreatedAt.lt(before))
        }
    };
    let rows = query
        .order_by_asc(hub_forward::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    rows.into_iter().map(forwards::open).collect()
}
