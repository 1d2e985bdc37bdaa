//! Recipients' in-app inboxes: an in-app notification is delivered by adding it here
//! ([`deliver`], once however often it is retried), and read through the recipient's
//! inbox ([`list`], [`counts`]), where the recipient's app marks items seen, read or
//! archived ([`mark`]). What an item says is its notification's rendered content, sealed
//! with it; the item itself holds ids and times only.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::OnConflict,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::inbox_item,
    notifications::{self, Notification},
};

pub use inbox_item::Model as Item;

/// Adds notification `notification_id` to the inbox of `recipient_id`; a repeat (a
/// retried delivery) finds the item already there and returns it.
pub async fn deliver(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    recipient_id: Uuid,
    notification_id: Uuid,
) -> Result<Item, StoreError> {
    let row = inbox_item::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        recipient_id: Set(recipient_id),
        notification_id: Set(notification_id),
        created_at: Set(Utc::now()),
        seen_at: Set(None),
        read_at: Set(None),
        archived_at: Set(None),
    };
    inbox_item::Entity::insert(row)
        .on_conflict(
            OnConflict::column(inbox_item::Column::NotificationId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    inbox_item::Entity::find()
        .filter(inbox_item::Column::NotificationId.eq(notification_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Which items of an inbox to list.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Only those not read yet.
    pub unread: bool,
    /// Archived ones instead of the others.
    pub archived: bool,
    /// Only items older than this one (a page's last).
    pub before: Option<Uuid>,
    pub limit: u64,
}

fn of(tenant_id: Uuid, recipient_id: Uuid) -> Condition {
    Condition::all()
        .add(inbox_item::Column::TenantId.eq(tenant_id))
        .add(inbox_item::Column::RecipientId.eq(recipient_id))
}

/// A page of the inbox, newest first, each item with its notification.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    recipient_id: Uuid,
    listing: &Listing,
) -> Result<Vec<(Item, Notification)>, StoreError> {
    let mut query = inbox_item::Entity::find()
        .filter(of(tenant_id, recipient_id))
        .filter(if listing.archived {
            inbox_item::Column::ArchivedAt.is_not_null()
        } else {
            inbox_item::Column::ArchivedAt.is_null()
        })
        .order_by_desc(inbox_item::Column::Id)
        .limit(listing.limit);
    if listing.unread {
        query = query.filter(inbox_item::Column::ReadAt.is_null());
    }
    if let Some(before) = listing.before {
        query = query.filter(inbox_item::Column::Id.lt(before));
    }
    let items = query.all(db).await?;
    let notifications =
        notifications::get_many(db, items.iter().map(|i| i.notification_id).collect()).await?;
    Ok(items
        .into_iter()
        .filter_map(|item| {
            let n = notifications
                .iter()
                .find(|n| n.id == item.notification_id)?
                .clone();
            Some((item, n))
        })
        .collect())
}

/// How many items an inbox holds (archived ones left out), and of those how many the
/// recipient has not read and not seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub unread: u64,
    pub unseen: u64,
}

pub async fn counts(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    recipient_id: Uuid,
) -> Result<Counts, StoreError> {
    let kept = || {
        inbox_item::Entity::find()
            .filter(of(tenant_id, recipient_id))
            .filter(inbox_item::Column::ArchivedAt.is_null())
    };
    Ok(Counts {
        total: kept().count(db).await?,
        unread: kept()
            .filter(inbox_item::Column::ReadAt.is_null())
            .count(db)
            .await?,
        unseen: kept()
            .filter(inbox_item::Column::SeenAt.is_null())
            .count(db)
            .await?,
    })
}

/// What a recipient's app says of items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Seen,
    /// Read (and so seen).
    Read,
    /// Not read any more (the notification stays `read`: it was).
    Unread,
    Archived,
    Unarchived,
}

/// Marks the given items (`None`: every item of the inbox) and returns the notifications
/// this marked read for the first time, whose status becomes `read`.
pub async fn mark(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    recipient_id: Uuid,
    items: Option<&[Uuid]>,
    mark: Mark,
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let mut scope = of(tenant_id, recipient_id);
    if let Some(ids) = items {
        scope = scope.add(inbox_item::Column::Id.is_in(ids.iter().copied()));
    }
    let first_read: Vec<Uuid> = if mark == Mark::Read {
        inbox_item::Entity::find()
            .select_only()
            .column(inbox_item::Column::NotificationId)
            .filter(scope.clone())
            .filter(inbox_item::Column::ReadAt.is_null())
            .into_tuple()
            .all(db)
            .await?
    } else {
        Vec::new()
    };
    let update = inbox_item::Entity::update_many().filter(scope.clone());
    let update = match mark {
        Mark::Seen => update
            .col_expr(inbox_item::Column::SeenAt, at.into())
            .filter(inbox_item::Column::SeenAt.is_null()),
        Mark::Read => update
            .col_expr(inbox_item::Column::ReadAt, at.into())
            .filter(inbox_item::Column::ReadAt.is_null()),
        Mark::Unread => update.col_expr(
            inbox_item::Column::ReadAt,
            sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
        ),
        Mark::Archived => update
            .col_expr(inbox_item::Column::ArchivedAt, at.into())
            .filter(inbox_item::Column::ArchivedAt.is_null()),
        Mark::Unarchived => update.col_expr(
            inbox_item::Column::ArchivedAt,
            sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
        ),
    };
    update.exec(db).await?;
    if mark == Mark::Read {
        // Read is seen too.
        inbox_item::Entity::update_many()
            .filter(scope)
            .filter(inbox_item::Column::SeenAt.is_null())
            .col_expr(inbox_item::Column::SeenAt, at.into())
            .exec(db)
            .await?;
    }
    Ok(first_read)
}
