//! Digests: notifications of a category to one recipient on one channel, collected within
//! a window and sent as one message. A digest is a notification of its own, made when the
//! first member arrives with `send_at` at the window's end, so the ordinary notification
//! workflow waits for it and sends it; the `digests` row says whose it is and when it
//! stopped taking members. Each member ends `skipped` with `digested_into` naming it.
//!
//! A member joins under a lock of the digest's row (PostgreSQL; SQLite's write transaction
//! is the lock there), and the digest closes by updating that row before reading its
//! members: a member either joins before the close and is in the message, or finds the
//! digest closed and opens the next one. None is lost between the two.

use chrono::{DateTime, Utc};
use pombo_contract::NotificationStatus;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{digest, notification},
    events::{self, NewEvent},
    notifications::{self, Created, NewNotification, Notification, Routing},
    templates::Resolved,
};

/// Puts `member` into its recipient's open digest of `category` on its channel, or opens
/// one that goes out at `closes_at`, rendered from `template`. Returns the digest's id.
/// `member` must name a recipient profile.
pub async fn join(
    db: &impl TransactionTrait,
    member: &Notification,
    category: &str,
    closes_at: DateTime<Utc>,
    template: &Resolved,
) -> Result<Uuid, StoreError> {
    let mut tries = 0;
    loop {
        match join_once(db, member, category, closes_at, template).await {
            // Another member opened the digest meanwhile (one open digest per recipient,
            // category and channel): join it.
            Err(StoreError::Db(e))
                if tries < 3
                    && matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) =>
            {
                tries += 1;
            }
            joined => return joined,
        }
    }
}

async fn join_once(
    db: &impl TransactionTrait,
    member: &Notification,
    category: &str,
    closes_at: DateTime<Utc>,
    template: &Resolved,
) -> Result<Uuid, StoreError> {
    let recipient_id = member
        .recipient_id
        .ok_or_else(|| StoreError::Corrupt("a digest member needs a recipient profile".into()))?;
    let tx = crate::begin_write(db).await?;
    let mut open = digest::Entity::find()
        .filter(digest::Column::TenantId.eq(member.tenant_id))
        .filter(digest::Column::RecipientId.eq(recipient_id))
        .filter(digest::Column::Category.eq(category))
        .filter(digest::Column::Channel.eq(member.channel.as_str()))
        .filter(digest::Column::ClosedAt.is_null())
        .order_by_desc(digest::Column::CreatedAt);
    if tx.get_database_backend() == DbBackend::Postgres {
        open = open.lock_exclusive();
    }
    let digest_id = match open.one(&tx).await? {
        Some(open) => open.id,
        None => {
            let id = Uuid::now_v7();
            let new = NewNotification {
                id,
                tenant_id: member.tenant_id,
                channel: *member.channel,
                recipient: member.recipient.clone(),
                content: template.content.clone(),
                // Filled with the members when it is rendered.
                data: None,
                priority: *member.priority,
                notification_type: member.notification_type.clone(),
                idempotency_key: None,
                request_hash: format!("{HASH_PREFIX}{id}"),
                max_attempts: member.max_attempts,
                retry_interval_secs: member.retry_interval_secs,
                fallback: None,
                parent_id: None,
                template: Some((
                    template.template_id,
                    template.version,
                    template.locale_used.clone(),
                )),
                routing: Routing {
                    recipient_id: Some(recipient_id),
                    rule_id: None,
                    preferred_provider_id: member.preferred_provider_id,
                },
                send_at: Some(closes_at),
                category: Some(category.to_owned()),
                tracking: template.tracking,
                trace_context: member.trace_context.clone(),
            };
            let Created::New(_) = notifications::create(&tx, new).await? else {
                return Err(StoreError::Conflict("a digest's id was taken".into()));
            };
            digest::ActiveModel {
                id: Set(id),
                tenant_id: Set(member.tenant_id),
                recipient_id: Set(recipient_id),
                category: Set(category.to_owned()),
                channel: Set(member.channel),
                closes_at: Set(closes_at),
                closed_at: Set(None),
                created_at: Set(Utc::now()),
            }
            .insert(&tx)
            .await?;
            id
        }
    };
    let moved = notifications::transition(&tx, member.id, NotificationStatus::Skipped, |row| {
        row.digested_into = Set(Some(digest_id));
    })
    .await?;
    if matches!(moved, notifications::Transition::Applied(_)) {
        events::insert(
            &tx,
            member.id,
            &NewEvent {
                reason: Some(format!("in the `{category}` digest {digest_id}")),
                code: Some("digested".to_owned()),
                ..NewEvent::new(NotificationStatus::Skipped, "preferences", "digested")
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(digest_id)
}

/// What a digest's notification has as its request fingerprint: a request's is SHA-256
/// hex, so no caller's notification starts so.
const HASH_PREFIX: &str = "digest-";

/// Whether `n` is a digest (read from the row itself: no query on the send path).
pub fn is_digest(n: &Notification) -> bool {
    n.request_hash.starts_with(HASH_PREFIX)
}

/// Closes the digest to new members (once; a retried render closes nothing more) and
/// returns its members, oldest first.
pub async fn close(db: &crate::Db, digest_id: Uuid) -> Result<Vec<Notification>, StoreError> {
    let tx = crate::begin_write(db).await?;
    digest::Entity::update_many()
        .col_expr(
            digest::Column::ClosedAt,
            sea_orm::sea_query::Expr::value(Some(Utc::now())),
        )
        .filter(digest::Column::Id.eq(digest_id))
        .filter(digest::Column::ClosedAt.is_null())
        .exec(&tx)
        .await?;
    tx.commit().await?;
    let members = notification::Entity::find()
        .filter(notification::Column::DigestedInto.eq(digest_id))
        .order_by_asc(notification::Column::Id)
        .all(db)
        .await?;
    members.into_iter().map(notifications::opened).collect()
}
