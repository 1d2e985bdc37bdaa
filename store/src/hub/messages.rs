//! Messages posted to rooms: stored with their forwards (one per other platform with
//! members in the room) in one transaction, and read back as the room's history with
//! each platform's delivery status. The text is sealed.

use chrono::{DateTime, Utc};
use pombo_contract::hub::ForwardKind;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::{
    forwards::{self, Forward},
    platforms::Platform,
    rooms::{self, Room},
};
use crate::{
    StoreError,
    entities::hub_message,
    sealed::{self, Aad},
};

fn text_aad(tenant_id: Uuid, id: Uuid) -> Aad {
    Aad::new(Some(tenant_id), format!("hub_messages:{id}:text"))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: Uuid,
    pub room_id: Uuid,
    /// The sender's platform.
    pub platform_id: Uuid,
    pub sender_id: i64,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

fn open(row: hub_message::Model) -> Result<Message, StoreError> {
    let text = sealed::open_text_at(&text_aad(row.tenant_id, row.id), row.text)?;
    Ok(Message {
        id: row.id,
        room_id: row.room_id,
        platform_id: row.platform_id,
        sender_id: row.sender_id,
        text,
        created_at: row.created_at,
    })
}

/// A message stored, and who is owed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub message: Message,
    /// Platforms owed a forward: their forwarders are to be woken.
    pub platforms: Vec<Uuid>,
    /// Forwards to bridged conversations (forward id, conversation id): the API sends them
    /// as replies.
    pub to_conversations: Vec<(Uuid, Uuid)>,
}

/// Who posted a message: a platform, or the tenant itself through Pombo's API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sender<'a> {
    Platform(&'a Platform),
    /// `POST /v1/hub/rooms/{id}/messages`; kept under the nil id.
    Tenant,
}

/// Stores the sender's message to `room` and owes `body` to every other platform with
/// members in it, and to the conversations bridged into it.
pub async fn post<C: TransactionTrait>(
    db: &C,
    from: Sender<'_>,
    room: &Room,
    sender_id: i64,
    text: &str,
    body: &serde_json::Value,
) -> Result<Posted, StoreError> {
    let sender = match from {
        Sender::Platform(p) => p.id,
        Sender::Tenant => Uuid::nil(),
    };
    let tx = crate::begin_write(db).await?;
    let posted = store(&tx, room.tenant_id, room, sender, sender_id, text, body).await?;
    tx.commit().await?;
    Ok(posted)
}

/// [`post`] in the caller's transaction, from a platform or a bridged conversation
/// (`sender`: its id).
pub(crate) async fn store(
    tx: &impl ConnectionTrait,
    tenant_id: Uuid,
    room: &Room,
    sender: Uuid,
    sender_id: i64,
    text: &str,
    body: &serde_json::Value,
) -> Result<Posted, StoreError> {
    let id = Uuid::now_v7();
    let row = hub_message::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id),
        room_id: Set(room.id),
        platform_id: Set(sender),
        sender_id: Set(sender_id),
        text: Set(sealed::seal_text_at(
            &text_aad(tenant_id, id),
            text.to_owned(),
        )),
        created_at: Set(Utc::now()),
    }
    .insert(tx)
    .await?;
    let mut platforms: Vec<Uuid> = rooms::members(tx, room.id).await?.into_keys().collect();
    if !platforms.contains(&room.platform_id) {
        platforms.push(room.platform_id);
    }
    platforms.retain(|p| *p != sender);
    let mut conversations = super::bridge::conversations_of(tx, room.id).await?;
    conversations.retain(|c| *c != sender);
    let targets: Vec<Uuid> = platforms.iter().chain(&conversations).copied().collect();
    let ids = forwards::owe(tx, tenant_id, &targets, ForwardKind::Message, id, body).await?;
    let to_conversations = ids[platforms.len()..]
        .iter()
        .copied()
        .zip(conversations)
        .collect();
    Ok(Posted {
        message: open(row)?,
        platforms,
        to_conversations,
    })
}

/// A message of a room's history with what became of it on each platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub message: Message,
    pub forwards: Vec<Forward>,
}

/// The room's messages, oldest first, after `after` (a message id), at most `limit`.
pub async fn history(
    db: &impl ConnectionTrait,
    room_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Delivered>, StoreError> {
    let mut query = hub_message::Entity::find().filter(hub_message::Column::RoomId.eq(room_id));
    if let Some(after) = after {
        query = query.filter(hub_message::Column::Id.gt(after));
    }
    let messages: Vec<Message> = query
        .order_by_asc(hub_message::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(open)
        .collect::<Result<_, _>>()?;
    let mut forwards = forwards::of_subjects(db, messages.iter().map(|m| m.id).collect()).await?;
    Ok(messages
        .into_iter()
        .map(|message| {
            let (mine, rest) = forwards
                .drain(..)
                .partition(|f: &Forward| f.subject_id == message.id);
            forwards = rest;
            Delivered {
                message,
                forwards: mine,
            }
        })
        .collect())
}

/// Retention: deletes forwards settled before `older_than`, and room messages from before
/// it that nothing is still owed (a message waiting for a platform that is down is kept
/// until it is delivered), and bridges to conversations retention has deleted. Returns
/// how many messages went.
pub async fn purge<C: TransactionTrait>(
    db: &C,
    older_than: DateTime<Utc>,
) -> Result<u64, StoreError> {
    use crate::entities::{conversation, hub_forward, hub_room_conversation};
    use pombo_contract::hub::ForwardStatus;
    use sea_orm::QueryTrait;

    let tx = crate::begin_write(db).await?;
    hub_forward::Entity::delete_many()
        .filter(hub_forward::Column::CreatedAt.lt(older_than))
        .filter(hub_forward::Column::Status.ne(ForwardStatus::Pending.as_str()))
        .exec(&tx)
        .await?;
    let owed = hub_forward::Entity::find()
        .select_only()
        .column(hub_forward::Column::SubjectId)
        .into_query();
    let messages = hub_message::Entity::delete_many()
        .filter(hub_message::Column::CreatedAt.lt(older_than))
        .filter(hub_message::Column::Id.not_in_subquery(owed))
        .exec(&tx)
        .await?
        .rows_affected;
    let conversations = conversation::Entity::find()
        .select_only()
        .column(conversation::Column::Id)
        .into_query();
    hub_room_conversation::Entity::delete_many()
        .filter(hub_room_conversation::Column::ConversationId.not_in_subquery(conversations))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(messages)
}
