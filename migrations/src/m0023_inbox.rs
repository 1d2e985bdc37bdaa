//! The in-app channel's inboxes: one row per in-app notification, in its recipient's
//! inbox, with when the recipient saw, read and archived it. The message itself stays in the
//! notification (sealed there like any content); the row holds only ids and times.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InboxItems {
    Table,
    Id,
    TenantId,
    RecipientId,
    NotificationId,
    CreatedAt,
    SeenAt,
    ReadAt,
    ArchivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(InboxItems::Table)
                    .if_not_exists()
                    .col(uuid(InboxItems::Id).primary_key())
                    .col(uuid(InboxItems::TenantId))
                    .col(uuid(InboxItems::RecipientId))
                    .col(uuid(InboxItems::NotificationId).unique_key())
                    .col(timestamp_with_time_zone(InboxItems::CreatedAt))
                    .col(timestamp_with_time_zone_null(InboxItems::SeenAt))
                    .col(timestamp_with_time_zone_null(InboxItems::ReadAt))
                    .col(timestamp_with_time_zone_null(InboxItems::ArchivedAt))
                    .to_owned(),
            )
            .await?;
        // A recipient's inbox, newest first (ids are UUIDv7: time-ordered).
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_inbox_items_recipient")
                    .table(InboxItems::Table)
                    .col(InboxItems::TenantId)
                    .col(InboxItems::RecipientId)
                    .col(InboxItems::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(InboxItems::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
