//! Retention: purging the personal data of notifications that are done with and old.
//!
//! A purged notification keeps its metadata (channel, priority, type, provider, message id,
//! template, timestamps, attempt count) and its statuses: the timeline and the attempt log
//! stay, with their outcomes and provider codes. What goes is everything that can name or
//! reach a person, or say what they were told: the sealed columns (recipient, content, data,
//! rendered message, fallback) and the free text providers send back (error messages and
//! report reasons echo addresses and numbers). Provider callbacks parked for a message we
//! never recorded are deleted once past the cutoff, and so are conversations' messages,
//! then conversations left without messages and contacts left without conversations.

use chrono::{DateTime, Utc};
use pombo_contract::NotificationStatus;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{
        contact, conversation, conversation_message, notification, notification_attempt,
        notification_event, parked_callback,
    },
};

/// Statuses whose notifications may be purged: the provider has had the message (or it
/// never will), so nothing will read its content again. Pending and sending ones, which
/// include those scheduled for later, are kept whatever their age.
pub const PURGEABLE: [NotificationStatus; 6] = [
    NotificationStatus::Sent,
    NotificationStatus::Delivered,
    NotificationStatus::Read,
    NotificationStatus::Failed,
    NotificationStatus::Cancelled,
    NotificationStatus::Skipped,
];

/// What a purged recipient column holds (the column is `NOT NULL`).
pub const PURGED_RECIPIENT: &str = "";

/// Purges up to `limit` notifications in a [`PURGEABLE`] status that have not changed since
/// before `older_than` and are not purged yet: blanks their personal columns (the recipient
/// becomes [`PURGED_RECIPIENT`], the content JSON `null`, the optional ones SQL `NULL`), their
/// last error, their attempts' error texts and their timeline's reasons, and sets
/// `purged_at`. Returns how many it purged: fewer than `limit` means none is left.
/// Idempotent, one transaction per call.
pub async fn purge_personal_data(
    db: &DatabaseConnection,
    older_than: DateTime<Utc>,
    limit: u64,
) -> Result<u64, StoreError> {
    let purgeable = PURGEABLE.map(|s| s.as_str());
    let tx = crate::begin_write(db).await?;
    let candidates: Vec<Uuid> = notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .filter(notification::Column::PurgedAt.is_null())
        .filter(notification::Column::UpdatedAt.lt(older_than))
        .filter(notification::Column::Status.is_in(purgeable))
        .order_by_asc(notification::Column::UpdatedAt)
        .limit(limit)
        .into_tuple()
        .all(&tx)
        .await?;
    if candidates.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    // The same conditions again: on PostgreSQL a report may have moved a row since the read.
    let purged = notification::Entity::update_many()
        .col_expr(
            notification::Column::Recipient,
            Expr::value(PURGED_RECIPIENT),
        )
        .col_expr(
            notification::Column::Content,
            Expr::value(serde_json::Value::Null),
        )
        .col_expr(
            notification::Column::Data,
            Expr::value(Option::<serde_json::Value>::None),
        )
        .col_expr(
            notification::Column::Rendered,
            Expr::value(Option::<serde_json::Value>::None),
        )
        .col_expr(
            notification::Column::Fallback,
            Expr::value(Option::<serde_json::Value>::None),
        )
        .col_expr(
            notification::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .col_expr(notification::Column::PurgedAt, Expr::value(Utc::now()))
        .filter(notification::Column::Id.is_in(candidates.iter().copied()))
        .filter(notification::Column::PurgedAt.is_null())
        .filter(notification::Column::UpdatedAt.lt(older_than))
        .filter(notification::Column::Status.is_in(purgeable))
        .exec(&tx)
        .await?
        .rows_affected;
    let done: Vec<Uuid> = notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .filter(notification::Column::Id.is_in(candidates))
        .filter(notification::Column::PurgedAt.is_not_null())
        .into_tuple()
        .all(&tx)
        .await?;
    notification_event::Entity::update_many()
        .col_expr(
            notification_event::Column::Reason,
            Expr::value(Option::<String>::None),
        )
        .filter(notification_event::Column::NotificationId.is_in(done.iter().copied()))
        .filter(notification_event::Column::Reason.is_not_null())
        .exec(&tx)
        .await?;
    notification_attempt::Entity::update_many()
        .col_expr(
            notification_attempt::Column::Error,
            Expr::value(Option::<String>::None),
        )
        .filter(notification_attempt::Column::NotificationId.is_in(done))
        .filter(notification_attempt::Column::Error.is_not_null())
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(purged)
}

/// Deletes provider callbacks parked before `older_than`: their message was never
/// recorded, and they carry the provider's report (recipient included). Returns how many.
pub async fn purge_parked_callbacks(
    db: &DatabaseConnection,
    older_than: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(parked_callback::Entity::delete_many()
        .filter(parked_callback::Column::ReceivedAt.lt(older_than))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes conversation messages received before `older_than` (what people wrote, and the
/// replies' copies), then the conversations with no message left whose last message is
/// that old, then the contacts with no conversation left. Returns how many messages.
pub async fn purge_conversations(
    db: &DatabaseConnection,
    older_than: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let tx = crate::begin_write(db).await?;
    let messages = conversation_message::Entity::delete_many()
        .filter(conversation_message::Column::ReceivedAt.lt(older_than))
        .exec(&tx)
        .await?
        .rows_affected;
    let with_messages = conversation_message::Entity::find()
        .select_only()
        .column(conversation_message::Column::ConversationId)
        .into_query();
    conversation::Entity::delete_many()
        .filter(conversation::Column::LastMessageAt.lt(older_than))
        .filter(conversation::Column::Id.not_in_subquery(with_messages))
        .exec(&tx)
        .await?;
    let with_conversations = conversation::Entity::find()
        .select_only()
        .column(conversation::Column::ContactId)
        .into_query();
    contact::Entity::delete_many()
        .filter(contact::Column::Id.not_in_subquery(with_conversations))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(messages)
}
