//! Files people send in: an inbound message with a file is stored at once with
//! `media_state = pending` ([`crate::conversations::receive`]); a worker claims it
//! ([`claim_unstarted`]), starts the fetch's workflow and records the start
//! ([`mark_started`]). The fetch reads what to download ([`to_fetch`]) and ends in
//! [`record_stored`] (the file row and the message's `file_id`, in one transaction) or
//! [`record_failed`]. A claim that runs out (its worker died before starting) lets another
//! worker take it; a second start is refused by Temporal (one workflow id per message).

use std::time::Duration;

use chrono::{DateTime, Utc};
use pombo_contract::{
    Channel,
    conversation::{InboundMedia, MediaState, MessageKind},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{conversation, conversation_message},
    files::{self, NewFile},
};

/// A message whose file is owed a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unstarted {
    pub message_id: Uuid,
    pub tenant_id: Uuid,
}

/// What a fetch downloads, and through which account.
#[derive(Debug, Clone, PartialEq)]
pub struct ToFetch {
    pub message_id: Uuid,
    pub tenant_id: Uuid,
    pub channel: Channel,
    pub kind: MessageKind,
    /// The account the message came through: its name, and its id when it is a tenant's.
    pub account: String,
    pub account_id: Option<Uuid>,
    pub media: InboundMedia,
    pub state: MediaState,
    /// The file, when an earlier attempt stored it.
    pub file_id: Option<Uuid>,
}

fn unclaimed(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(conversation_message::Column::MediaClaimedUntil.is_null())
        .add(conversation_message::Column::MediaClaimedUntil.lt(now))
}

fn unstarted() -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(conversation_message::Column::MediaState.eq(MediaState::Pending.as_str()))
        .add(conversation_message::Column::MediaStartedAt.is_null())
}

/// Claims up to `limit` messages whose fetch has not started, oldest first, for `lease`.
pub async fn claim_unstarted(
    db: &impl ConnectionTrait,
    limit: u64,
    lease: Duration,
) -> Result<Vec<Unstarted>, StoreError> {
    let now = Utc::now();
    let ids: Vec<Uuid> = conversation_message::Entity::find()
        .select_only()
        .column(conversation_message::Column::Id)
        .filter(unstarted())
        .filter(unclaimed(now))
        .order_by_asc(conversation_message::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let claimed = conversation_message::Entity::update_many()
        .col_expr(
            conversation_message::Column::MediaClaimedUntil,
            Expr::value(until),
        )
        .filter(conversation_message::Column::Id.is_in(ids))
        .filter(unstarted())
        .filter(unclaimed(now))
        .exec_with_returning(db)
        .await?;
    let mut claimed: Vec<Unstarted> = claimed
        .into_iter()
        .map(|row| Unstarted {
            message_id: row.id,
            tenant_id: row.tenant_id,
        })
        .collect();
    claimed.sort_by_key(|u| u.message_id);
    Ok(claimed)
}

/// Records that the fetch's workflow of `message_id` exists.
pub async fn mark_started(db: &impl ConnectionTrait, message_id: Uuid) -> Result<(), StoreError> {
    conversation_message::Entity::update_many()
        .col_expr(
            conversation_message::Column::MediaStartedAt,
            Expr::value(Utc::now()),
        )
        .filter(conversation_message::Column::Id.eq(message_id))
        .filter(conversation_message::Column::MediaStartedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The file to fetch for `message_id`, with its account. [`StoreError::NotFound`] when the
/// message is gone (its personal data purged by retention) or has no file.
pub async fn to_fetch(db: &impl ConnectionTrait, message_id: Uuid) -> Result<ToFetch, StoreError> {
    let row = conversation_message::Entity::find_by_id(message_id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    let state = row.media_state.map(|s| *s).ok_or(StoreError::NotFound)?;
    let media = crate::conversations::media_of(&row)?.ok_or(StoreError::NotFound)?;
    let conversation = conversation::Entity::find_by_id(row.conversation_id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(ToFetch {
        message_id: row.id,
        tenant_id: row.tenant_id,
        channel: *conversation.channel,
        kind: *row.kind,
        account: conversation.provider_account,
        account_id: conversation.provider_account_id,
        media,
        state,
        file_id: row.file_id,
    })
}

/// Records the fetched file and gives it to the message, once: a retry after a crash
/// between the two finds the file already given and returns it.
pub async fn record_stored<C: TransactionTrait>(
    db: &C,
    message_id: Uuid,
    file: NewFile,
) -> Result<Uuid, StoreError> {
    let tx = crate::begin_write(db).await?;
    let row = conversation_message::Entity::find_by_id(message_id)
        .one(&tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    if let Some(file_id) = row.file_id {
        tx.commit().await?;
        return Ok(file_id);
    }
    if files::get_for_tenant(&tx, row.tenant_id, file.id)
        .await?
        .is_none()
    {
        files::create(&tx, file.clone()).await?;
    }
    conversation_message::Entity::update_many()
        .col_expr(conversation_message::Column::FileId, Expr::value(file.id))
        .col_expr(
            conversation_message::Column::MediaState,
            Expr::value(MediaState::Stored.as_str()),
        )
        .col_expr(
            conversation_message::Column::MediaError,
            Expr::value(Option::<String>::None),
        )
        .filter(conversation_message::Column::Id.eq(message_id))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(file.id)
}

/// Records that the file could not be fetched, unless it was stored meanwhile. The message
/// keeps its text and the provider's reference.
pub async fn record_failed(
    db: &impl ConnectionTrait,
    message_id: Uuid,
    error: &str,
) -> Result<(), StoreError> {
    conversation_message::Entity::update_many()
        .col_expr(
            conversation_message::Column::MediaState,
            Expr::value(MediaState::Failed.as_str()),
        )
        .col_expr(
            conversation_message::Column::MediaError,
            Expr::value(error.to_owned()),
        )
        .filter(conversation_message::Column::Id.eq(message_id))
        .filter(conversation_message::Column::FileId.is_null())
        .exec(db)
        .await?;
    Ok(())
}
