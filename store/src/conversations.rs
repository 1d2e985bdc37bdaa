//! Conversations: the contacts who write to a tenant's provider accounts, one conversation
//! per contact and account, and their messages both ways.
//!
//! An inbound message is stored by [`receive`] in one write transaction (contact,
//! conversation, message) before the provider hears its 2xx: repeats of a webhook find the
//! message by its provider id and change nothing. Personal data (a contact's address and
//! name, a message's text and file reference) is sealed like notifications'.

use chrono::{DateTime, Utc};
use pombo_contract::{
    Channel, NotificationStatus,
    conversation::{
        Change, ChangeKind, ConversationStatus, Direction, InboundMedia, InboundMessage,
        MediaState, MessageKind,
    },
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr, TransactionSession, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{Text, contact, conversation, conversation_message, notification},
    sealed::{self, Aad},
};

pub use conversation::Model as Conversation;

/// The provider account a message came through.
#[derive(Debug, Clone, Copy)]
pub struct Through<'a> {
    pub tenant_id: Uuid,
    pub channel: Channel,
    /// The account's name, and its id when it is a tenant's.
    pub account: &'a str,
    pub account_id: Option<Uuid>,
}

/// A contact, opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub address: String,
    pub name: Option<String>,
}

/// A message of a conversation, opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub direction: Direction,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub media: Option<InboundMedia>,
    /// Where the fetch of an inbound file stands, and the file once stored.
    pub media_state: Option<MediaState>,
    pub file_id: Option<Uuid>,
    pub media_error: Option<String>,
    pub provider_message_id: Option<String>,
    pub reply_to: Option<String>,
    pub notification_id: Option<Uuid>,
    /// An outbound message's delivery: its notification's status.
    pub status: Option<NotificationStatus>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Body {
    text: Option<String>,
    media: Option<InboundMedia>,
}

/// What [`receive`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    /// False for a repeat: the message was stored by an earlier delivery of the webhook.
    pub new: bool,
}

fn seal(aad: Aad, value: &impl Serialize) -> String {
    sealed::seal_text_at(&aad, serde_json::to_string(value).expect("serialises"))
}

fn open<T: for<'de> Deserialize<'de>>(stored: &str, aad: Aad) -> Result<T, StoreError> {
    let json = sealed::open_text_at(&aad, stored.to_owned())?;
    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("{e}")))
}

/// The file reference of a stored message, opened (`crate::inbound_media`).
pub(crate) fn media_of(
    row: &conversation_message::Model,
) -> Result<Option<InboundMedia>, StoreError> {
    let body: Body = open(&row.body, body_aad(row.tenant_id, row.id))?;
    Ok(body.media)
}

fn contact_aad(tenant_id: Uuid, id: Uuid) -> Aad {
    Aad::new(Some(tenant_id), format!("contacts:{id}:profile"))
}

fn body_aad(tenant_id: Uuid, id: Uuid) -> Aad {
    Aad::new(Some(tenant_id), format!("conversation_messages:{id}:body"))
}

const DIGEST_LABEL: &str = "pombo-contact-address";

/// Every digest a contact row for `address` may hold: under each configured key (current
/// first), and the unkeyed one written without a keyring.
fn address_digests(tenant_id: Uuid, channel: Channel, address: &str) -> Vec<String> {
    sealed::address_digests(DIGEST_LABEL, tenant_id, channel, address)
}

/// Stores a message a contact sent through `through`: finds or makes the contact and its
/// conversation with the account (opening it again when closed), then the message, unless
/// the same provider id is stored already.
pub async fn receive<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    through: Through<'_>,
    message: &InboundMessage,
    received_at: DateTime<Utc>,
) -> Result<Received, StoreError> {
    if message.change.is_none()
        && let Some(received) = receive_known(db, through, message, received_at).await?
    {
        return Ok(received);
    }
    // Nothing to withdraw from a contact, or a conversation, Pombo never saw: open none.
    if matches!(&message.change, Some(c) if c.kind == ChangeKind::Revoked)
        && known_conversation(db, through, &message.from)
            .await?
            .is_none()
    {
        return Ok(Received {
            conversation_id: Uuid::nil(),
            message_id: Uuid::nil(),
            new: false,
        });
    }
    // On PostgreSQL two first messages of one contact (or two webhooks carrying the same
    // message) can race to add the same row: the loser reads the winner's, each attempt
    // after a winner has committed.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match receive_once(db, through, message, received_at).await {
            Err(StoreError::Conflict(_)) if attempts < 3 => continue,
            done => return done,
        }
    }
}

async fn receive_once<C: TransactionTrait>(
    db: &C,
    through: Through<'_>,
    message: &InboundMessage,
    received_at: DateTime<Utc>,
) -> Result<Received, StoreError> {
    let tx = crate::begin_write(db).await?;
    let contact =
        find_or_add_contact(&tx, through, &message.from, message.from_name.as_deref()).await?;
    let conversation = find_or_open_conversation(&tx, through, contact, received_at).await?;
    if let Some(change) = &message.change
        && let Some(changed) = apply_change(
            &tx,
            &conversation,
            change,
            message.text.as_deref(),
            received_at,
        )
        .await?
    {
        tx.commit().await?;
        return Ok(Received {
            conversation_id: conversation.id,
            message_id: changed,
            new: false,
        });
    }
    // A change of a message never stored (sent before the webhook pointed here) is kept as
    // the message it now is; a revocation of one leaves nothing to keep.
    if matches!(&message.change, Some(c) if c.kind == ChangeKind::Revoked) {
        tx.commit().await?;
        return Ok(Received {
            conversation_id: conversation.id,
            message_id: Uuid::nil(),
            new: false,
        });
    }
    if let Some(row) = find_inbound(&tx, conversation.id, &message.provider_message_id).await? {
        tx.commit().await?;
        return Ok(Received {
            conversation_id: conversation.id,
            message_id: row.id,
            new: false,
        });
    }
    let id = insert_inbound(&tx, through, &conversation, message, received_at).await?;
    tx.commit().await?;
    Ok(Received {
        conversation_id: conversation.id,
        message_id: id,
        new: true,
    })
}

/// The conversation of the contact at `address` with the account, if both exist.
async fn known_conversation(
    db: &impl ConnectionTrait,
    through: Through<'_>,
    address: &str,
) -> Result<Option<Conversation>, StoreError> {
    match find_contact(db, through, address).await? {
        Some(contact) => find_conversation(db, through, contact.id).await,
        None => Ok(None),
    }
}

/// The common case, a known contact writing again in a known conversation: everything is
/// read before the write transaction (SQLite has one writer at a time), which then holds
/// the conversation's row, the message's insert and the conversation's update only.
/// `None` when the slow path must run: a new contact or conversation, a new name, or a
/// message another request is adding at the same moment.
async fn receive_known<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    through: Through<'_>,
    message: &InboundMessage,
    received_at: DateTime<Utc>,
) -> Result<Option<Received>, StoreError> {
    let Some(contact) = find_contact(db, through, &message.from).await? else {
        return Ok(None);
    };
    if let Some(name) = &message.from_name {
        let profile: Profile = open(&contact.profile, contact_aad(contact.tenant_id, contact.id))?;
        if profile.name.as_ref() != Some(name) {
            return Ok(None);
        }
    }
    let Some(conversation) = find_conversation(db, through, contact.id).await? else {
        return Ok(None);
    };
    if let Some(row) = find_inbound(db, conversation.id, &message.provider_message_id).await? {
        return Ok(Some(Received {
            conversation_id: conversation.id,
            message_id: row.id,
            new: false,
        }));
    }
    let tx = crate::begin_write(db).await?;
    let Some(conversation) = conversation::Entity::find_by_id(conversation.id)
        .one(&tx)
        .await?
    else {
        return Ok(None);
    };
    match insert_inbound(&tx, through, &conversation, message, received_at).await {
        Ok(id) => {
            tx.commit().await?;
            Ok(Some(Received {
                conversation_id: conversation.id,
                message_id: id,
                new: true,
            }))
        }
        // The same message, added by another request meanwhile: the slow path reads it.
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Adds `message` to `conversation` and counts it there (unread, last message, status
/// open). Its row was read inside the same write transaction.
async fn insert_inbound(
    tx: &impl ConnectionTrait,
    through: Through<'_>,
    conversation: &Conversation,
    message: &InboundMessage,
    received_at: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    let occurred_at = message.occurred_at.unwrap_or(received_at);
    conversation_message::ActiveModel {
        id: Set(id),
        tenant_id: Set(through.tenant_id),
        conversation_id: Set(conversation.id),
        direction: Set(Direction::Inbound.into()),
        kind: Set(message.kind.into()),
        body: Set(seal(
            body_aad(through.tenant_id, id),
            &Body {
                text: message.text.clone(),
                media: message.media.clone(),
            },
        )),
        provider_message_id: Set(Some(message.provider_message_id.clone())),
        reply_to: Set(message.reply_to.clone()),
        notification_id: Set(None),
        occurred_at: Set(occurred_at),
        received_at: Set(received_at),
        // A worker fetches the file into object storage (`crate::inbound_media`).
        media_state: Set(message.media.as_ref().map(|_| MediaState::Pending.into())),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(taken)?;
    // Into the hub's rooms this conversation is bridged into, in this same transaction.
    let text = message
        .text
        .clone()
        .unwrap_or_else(|| format!("[{}]", message.kind.as_str()));
    crate::hub::bridge::inbound(
        tx,
        through.tenant_id,
        conversation.id,
        through.channel.as_str(),
        message.from_name.as_deref(),
        &text,
    )
    .await?;
    conversation::Entity::update_many()
        .col_expr(
            conversation::Column::Unread,
            sea_orm::sea_query::ExprTrait::add(Expr::col(conversation::Column::Unread), 1),
        )
        .col_expr(
            conversation::Column::Status,
            Expr::value(ConversationStatus::Open.as_str()),
        )
        .col_expr(
            conversation::Column::LastMessageAt,
            Expr::value(occurred_at.max(conversation.last_message_at)),
        )
        .col_expr(
            conversation::Column::LastInboundAt,
            Expr::value(Some(
                conversation
                    .last_inbound_at
                    .map_or(occurred_at, |t| t.max(occurred_at)),
            )),
        )
        .col_expr(conversation::Column::UpdatedAt, Expr::value(received_at))
        .filter(conversation::Column::Id.eq(conversation.id))
        .exec(tx)
        .await?;
    Ok(id)
}

/// The inbound message of the conversation with the provider's id `provider_message_id`.
async fn find_inbound(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    provider_message_id: &str,
) -> Result<Option<conversation_message::Model>, StoreError> {
    Ok(conversation_message::Entity::find()
        .filter(conversation_message::Column::ConversationId.eq(conversation_id))
        .filter(conversation_message::Column::Direction.eq(Direction::Inbound.as_str()))
        .filter(conversation_message::Column::ProviderMessageId.eq(provider_message_id))
        .one(db)
        .await?)
}

/// Applies a person's change to the inbound message `change.of` of the conversation: an
/// edit replaces its text (its file stays); a revocation withdraws its text and file
/// reference (a file already fetched stays the tenant's, until retention). The message id
/// changed, or `None` when the conversation has no such message.
async fn apply_change(
    db: &impl ConnectionTrait,
    conversation: &Conversation,
    change: &Change,
    text: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Option<Uuid>, StoreError> {
    let Some(row) = find_inbound(db, conversation.id, &change.of).await? else {
        return Ok(None);
    };
    let aad = body_aad(row.tenant_id, row.id);
    let mut body: Body = open(&row.body, aad.clone())?;
    let mut active = conversation_message::ActiveModel {
        id: Set(row.id),
        ..Default::default()
    };
    match change.kind {
        ChangeKind::Edited => {
            body.text = text.map(str::to_owned);
            active.edited_at = Set(Some(at));
        }
        ChangeKind::Revoked => {
            body = Body {
                text: None,
                media: None,
            };
            active.revoked_at = Set(Some(at));
            // Nothing left to fetch.
            if row.media_state.map(|s| *s) == Some(MediaState::Pending) {
                active.media_state = Set(None);
            }
        }
    }
    active.body = Set(seal(aad, &body));
    active.update(db).await?;
    Ok(Some(row.id))
}

/// The contact at `address` on the channel, if there is one (its address digest under any
/// key still configured).
async fn find_contact(
    db: &impl ConnectionTrait,
    through: Through<'_>,
    address: &str,
) -> Result<Option<contact::Model>, StoreError> {
    let digests = address_digests(through.tenant_id, through.channel, address);
    Ok(contact::Entity::find()
        .filter(contact::Column::TenantId.eq(through.tenant_id))
        .filter(contact::Column::Channel.eq(through.channel.as_str()))
        .filter(contact::Column::AddressDigest.is_in(digests))
        .one(db)
        .await?)
}

async fn find_or_add_contact(
    db: &impl ConnectionTrait,
    through: Through<'_>,
    address: &str,
    name: Option<&str>,
) -> Result<Uuid, StoreError> {
    let found = find_contact(db, through, address).await?;
    let now = Utc::now();
    if let Some(row) = found {
        let found_id = row.id;
        // A name the provider now gives replaces the one we had.
        if let Some(name) = name {
            let profile: Profile = open(&row.profile, contact_aad(row.tenant_id, row.id))?;
            if profile.name.as_deref() != Some(name) {
                let id = row.id;
                let mut active: contact::ActiveModel = row.into();
                active.profile = Set(seal(
                    contact_aad(through.tenant_id, id),
                    &Profile {
                        address: profile.address,
                        name: Some(name.to_owned()),
                    },
                ));
                active.updated_at = Set(now);
                active.update(db).await?;
            }
        }
        return Ok(found_id);
    }
    let digests = address_digests(through.tenant_id, through.channel, address);
    let id = Uuid::now_v7();
    contact::ActiveModel {
        id: Set(id),
        tenant_id: Set(through.tenant_id),
        channel: Set(through.channel.into()),
        address_digest: Set(digests[0].clone()),
        profile: Set(seal(
            contact_aad(through.tenant_id, id),
            &Profile {
                address: address.to_owned(),
                name: name.map(str::to_owned),
            },
        )),
        recipient_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(taken)?;
    Ok(id)
}

/// The contact's conversation with the account, if there is one.
async fn find_conversation(
    db: &impl ConnectionTrait,
    through: Through<'_>,
    contact_id: Uuid,
) -> Result<Option<Conversation>, StoreError> {
    Ok(conversation::Entity::find()
        .filter(conversation::Column::TenantId.eq(through.tenant_id))
        .filter(conversation::Column::ContactId.eq(contact_id))
        .filter(conversation::Column::ProviderAccount.eq(through.account))
        .one(db)
        .await?)
}

async fn find_or_open_conversation(
    db: &impl ConnectionTrait,
    through: Through<'_>,
    contact_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Conversation, StoreError> {
    if let Some(row) = find_conversation(db, through, contact_id).await? {
        return Ok(row);
    }
    conversation::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(through.tenant_id),
        channel: Set(through.channel.into()),
        contact_id: Set(contact_id),
        provider_account: Set(through.account.to_owned()),
        provider_account_id: Set(through.account_id),
        status: Set(ConversationStatus::Open.into()),
        unread: Set(0),
        last_message_at: Set(now),
        last_inbound_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(taken)
}

/// A row another transaction added first (SQLite's immediate transactions never race;
/// PostgreSQL's may): [`StoreError::Conflict`], which [`receive`] retries.
fn taken(e: sea_orm::DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(m)) => StoreError::Conflict(m),
        _ => StoreError::Db(e),
    }
}

/// Records `notification_id`, sent by the tenant into a conversation, as its outbound
/// message (once: a replayed request finds it).
pub async fn record_outbound<C: TransactionTrait>(
    db: &C,
    conversation: &Conversation,
    notification_id: Uuid,
    kind: MessageKind,
    text: Option<String>,
    at: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let tx = crate::begin_write(db).await?;
    let existing = conversation_message::Entity::find()
        .filter(conversation_message::Column::ConversationId.eq(conversation.id))
        .filter(conversation_message::Column::NotificationId.eq(notification_id))
        .one(&tx)
        .await?;
    if let Some(row) = existing {
        tx.commit().await?;
        return Ok(row.id);
    }
    let id = Uuid::now_v7();
    conversation_message::ActiveModel {
        id: Set(id),
        tenant_id: Set(conversation.tenant_id),
        conversation_id: Set(conversation.id),
        direction: Set(Direction::Outbound.into()),
        kind: Set(kind.into()),
        body: Set(seal(
            body_aad(conversation.tenant_id, id),
            &Body { text, media: None },
        )),
        provider_message_id: Set(None),
        reply_to: Set(None),
        notification_id: Set(Some(notification_id)),
        occurred_at: Set(at),
        received_at: Set(at),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    conversation::Entity::update_many()
        .col_expr(conversation::Column::LastMessageAt, Expr::value(at))
        .col_expr(conversation::Column::UpdatedAt, Expr::value(at))
        .filter(conversation::Column::Id.eq(conversation.id))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Whether a sent message opens a conversation the recipient has none of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joining {
    /// Chat channels: a message opens the conversation the answer will land in.
    OpenOrJoin,
    /// SMS: only a conversation the contact started (by writing in) is joined; the many
    /// one-way texts (codes, alerts) open none.
    JoinOnly,
}

/// Adds a notification the tenant sent to the recipient's conversation with the account
/// that sent it, opening one if needed and `joining` allows: unless it is there already (a
/// reply is recorded when accepted).
#[allow(clippy::too_many_arguments)]
pub async fn join_sent<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    through: Through<'_>,
    joining: Joining,
    to: &str,
    notification_id: Uuid,
    kind: MessageKind,
    text: Option<String>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let recorded = conversation_message::Entity::find()
        .filter(conversation_message::Column::NotificationId.eq(notification_id))
        .filter(conversation_message::Column::TenantId.eq(through.tenant_id))
        .one(db)
        .await?;
    if recorded.is_some() {
        return Ok(());
    }
    let conversation = match joining {
        Joining::OpenOrJoin => {
            let tx = crate::begin_write(db).await?;
            let contact = find_or_add_contact(&tx, through, to, None).await?;
            let conversation = find_or_open_conversation(&tx, through, contact, at).await?;
            tx.commit().await?;
            conversation
        }
        // Reads only: most texts have no conversation, and find none here.
        Joining::JoinOnly => {
            let Some(contact) = find_contact(db, through, to).await? else {
                return Ok(());
            };
            let Some(conversation) = find_conversation(db, through, contact.id).await? else {
                return Ok(());
            };
            conversation
        }
    };
    record_outbound(db, &conversation, notification_id, kind, text, at)
        .await
        .map(drop)
}

/// Which of a tenant's conversations to list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub channel: Option<Channel>,
    pub status: Option<ConversationStatus>,
    pub contact_id: Option<Uuid>,
    /// Only conversations older than this one (ids are UUIDv7, so time-ordered).
    pub before: Option<Uuid>,
    pub limit: u64,
}

/// A tenant's conversations, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filter: &ListFilter,
) -> Result<Vec<Conversation>, StoreError> {
    let mut query = conversation::Entity::find()
        .filter(conversation::Column::TenantId.eq(tenant_id))
        .order_by_desc(conversation::Column::Id)
        .limit(filter.limit);
    if let Some(channel) = filter.channel {
        query = query.filter(conversation::Column::Channel.eq(channel.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(conversation::Column::Status.eq(status.as_str()));
    }
    if let Some(contact) = filter.contact_id {
        query = query.filter(conversation::Column::ContactId.eq(contact));
    }
    if let Some(before) = filter.before {
        query = query.filter(conversation::Column::Id.lt(before));
    }
    Ok(query.all(db).await?)
}

/// One of a tenant's conversations; another tenant's is not found.
pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Conversation, StoreError> {
    conversation::Entity::find_by_id(id)
        .filter(conversation::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The contact of a conversation, opened.
pub async fn contact(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Profile, StoreError> {
    let row = contact::Entity::find_by_id(id)
        .filter(contact::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    open(&row.profile, contact_aad(row.tenant_id, row.id))
}

/// A page of a conversation's messages, both directions, newest first.
pub async fn messages(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    conversation_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Message>, StoreError> {
    let mut query = conversation_message::Entity::find()
        .filter(conversation_message::Column::TenantId.eq(tenant_id))
        .filter(conversation_message::Column::ConversationId.eq(conversation_id))
        .order_by_desc(conversation_message::Column::OccurredAt)
        .order_by_desc(conversation_message::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        let cursor = conversation_message::Entity::find_by_id(before)
            .filter(conversation_message::Column::ConversationId.eq(conversation_id))
            .one(db)
            .await?
            .ok_or(StoreError::NotFound)?;
        query = query.filter(
            sea_orm::Condition::any()
                .add(conversation_message::Column::OccurredAt.lt(cursor.occurred_at))
                .add(
                    sea_orm::Condition::all()
                        .add(conversation_message::Column::OccurredAt.eq(cursor.occurred_at))
                        .add(conversation_message::Column::Id.lt(cursor.id)),
                ),
        );
    }
    let rows = query.all(db).await?;
    let sent: Vec<Uuid> = rows.iter().filter_map(|r| r.notification_id).collect();
    let statuses: Vec<(Uuid, Text<NotificationStatus>)> = if sent.is_empty() {
        Vec::new()
    } else {
        notification::Entity::find()
            .select_only()
            .column(notification::Column::Id)
            .column(notification::Column::Status)
            .filter(notification::Column::Id.is_in(sent))
            .into_tuple()
            .all(db)
            .await?
    };
    rows.into_iter()
        .map(|row| {
            let status = row.notification_id.and_then(|n| {
                statuses
                    .iter()
                    .find(|(id, _)| *id == n)
                    .map(|(_, status)| **status)
            });
            let body: Body = open(&row.body, body_aad(row.tenant_id, row.id))?;
            Ok(Message {
                id: row.id,
                conversation_id: row.conversation_id,
                direction: *row.direction,
                kind: *row.kind,
                text: body.text,
                media: body.media,
                media_state: row.media_state.map(|s| *s),
                file_id: row.file_id,
                media_error: row.media_error,
                provider_message_id: row.provider_message_id,
                reply_to: row.reply_to,
                notification_id: row.notification_id,
                status,
                occurred_at: row.occurred_at,
                received_at: row.received_at,
                edited_at: row.edited_at,
                revoked_at: row.revoked_at,
            })
        })
        .collect()
}

/// Closes or opens a conversation again.
pub async fn set_status(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    status: ConversationStatus,
) -> Result<Conversation, StoreError> {
    let row = get(db, tenant_id, id).await?;
    let mut active: conversation::ActiveModel = row.into();
    active.status = Set(status.into());
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// Most messages one read receipt names.
pub const READ_RECEIPT_MAX: u64 = 100;

/// Marks every inbound message of a conversation read. Returns the conversation and the
/// provider's ids of the messages that were unread (oldest first, the newest
/// [`READ_RECEIPT_MAX`]), for the provider's read receipt.
pub async fn mark_read(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(Conversation, Vec<String>), StoreError> {
    let row = get(db, tenant_id, id).await?;
    let unread = u64::try_from(row.unread).unwrap_or(0).min(READ_RECEIPT_MAX);
    let mut read_ids = Vec::new();
    if unread > 0 {
        let newest: Vec<Option<String>> = conversation_message::Entity::find()
            .select_only()
            .column(conversation_message::Column::ProviderMessageId)
            .filter(conversation_message::Column::TenantId.eq(tenant_id))
            .filter(conversation_message::Column::ConversationId.eq(id))
            .filter(conversation_message::Column::Direction.eq(Direction::Inbound.as_str()))
            .order_by_desc(conversation_message::Column::OccurredAt)
            .order_by_desc(conversation_message::Column::Id)
            .limit(unread)
            .into_tuple()
            .all(db)
            .await?;
        read_ids = newest.into_iter().rev().flatten().collect();
    }
    let mut active: conversation::ActiveModel = row.into();
    active.unread = Set(0);
    active.updated_at = Set(Utc::now());
    Ok((active.update(db).await?, read_ids))
}

/// Re-seals contacts (and rewrites their address digests under the current key) and
/// messages not sealed with the installed keyring's current key: the last step of a key
/// rotation, beside [`crate::notifications::reseal_all`]. Returns how many rows.
pub async fn reseal_all(db: &impl ConnectionTrait) -> Result<u64, StoreError> {
    let Some(keyring) = sealed::installed() else {
        return Err(StoreError::NoKeyring);
    };
    let current = format!("{}%", keyring.current_prefix());
    let current_digest = format!("h1:{}:%", keyring.current_key_id());
    let mut count = 0;
    let mut after = Uuid::nil();
    loop {
        let batch = contact::Entity::find()
            .filter(contact::Column::Id.gt(after))
            .filter(
                sea_orm::Condition::any()
                    .add(contact::Column::Profile.not_like(current.as_str()))
                    .add(contact::Column::AddressDigest.not_like(current_digest.as_str())),
            )
            .order_by_asc(contact::Column::Id)
            .limit(500)
            .all(db)
            .await?;
        let Some(last) = batch.last() else {
            break;
        };
        after = last.id;
        for row in batch {
            let profile: Profile = open(&row.profile, contact_aad(row.tenant_id, row.id))?;
            let digest = address_digests(row.tenant_id, *row.channel, &profile.address).remove(0);
            contact::ActiveModel {
                id: Set(row.id),
                profile: Set(seal(contact_aad(row.tenant_id, row.id), &profile)),
                address_digest: Set(digest),
                ..Default::default()
            }
            .update(db)
            .await?;
            count += 1;
        }
    }
    let mut after = Uuid::nil();
    loop {
        let batch = conversation_message::Entity::find()
            .filter(conversation_message::Column::Id.gt(after))
            .filter(conversation_message::Column::Body.not_like(current.as_str()))
            .order_by_asc(conversation_message::Column::Id)
            .limit(500)
            .all(db)
            .await?;
        let Some(last) = batch.last() else {
            return Ok(count);
        };
        after = last.id;
        for row in batch {
            let aad = body_aad(row.tenant_id, row.id);
            let body: Body = open(&row.body, aad.clone())?;
            conversation_message::ActiveModel {
                id: Set(row.id),
                body: Set(seal(aad, &body)),
                ..Default::default()
            }
            .update(db)
            .await?;
            count += 1;
        }
    }
}
