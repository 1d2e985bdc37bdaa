//! Retention: when a notification's personal data was purged (`purged_at`), and when an
//! uploaded file's object was deleted. The purge looks for finished notifications not yet
//! purged and older than the cutoff, hence the index on both columns.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    /// When retention blanked its recipient, content, data, rendered message and fallback.
    PurgedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    /// When retention deleted its object; the row stays as a record of what was uploaded.
    PurgedAt,
    CreatedAt,
}

const NOTIFICATIONS_INDEX: &str = "ix_notifications_retention";
const FILES_INDEX: &str = "ix_files_retention";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .add_column_if_not_exists(timestamp_with_time_zone_null(
                        Notifications::PurgedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(NOTIFICATIONS_INDEX)
                    .table(Notifications::Table)
                    .col(Notifications::PurgedAt)
                    .col(Notifications::UpdatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Files::Table)
                    .add_column_if_not_exists(timestamp_with_time_zone_null(Files::PurgedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(FILES_INDEX)
                    .table(Files::Table)
                    .col(Files::PurgedAt)
                    .col(Files::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(FILES_INDEX)
                    .table(Files::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Files::Table)
                    .drop_column(Files::PurgedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(NOTIFICATIONS_INDEX)
                    .table(Notifications::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .drop_column(Notifications::PurgedAt)
                    .to_owned(),
            )
            .await
    }
}
