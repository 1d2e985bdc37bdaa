//! The delivery timeline: every status event of a notification (ours and the providers'),
//! and provider callbacks that arrived before we knew which notification they are about.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum NotificationEvents {
    Table,
    Id,
    NotificationId,
    /// `sent`, `delivered`, `read`, `failed`, … as reported.
    Status,
    /// `worker`, `provider:<account>`, `connector`, `operator`.
    Source,
    ProviderMessageId,
    RawStatus,
    Reason,
    Code,
    /// The reporter's own timestamp.
    OccurredAt,
    ReceivedAt,
    /// Identifies a repeated report of the same event, so duplicates are kept once.
    DedupeKey,
}

#[derive(DeriveIden)]
enum ParkedCallbacks {
    Table,
    Id,
    /// The provider account the callback came through.
    Provider,
    TenantId,
    ProviderMessageId,
    Event,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationEvents::Table)
                    .if_not_exists()
                    .col(uuid(NotificationEvents::Id).primary_key())
                    .col(uuid(NotificationEvents::NotificationId))
                    .col(string(NotificationEvents::Status))
                    .col(string(NotificationEvents::Source))
                    .col(string_null(NotificationEvents::ProviderMessageId))
                    .col(string_null(NotificationEvents::RawStatus))
                    .col(text_null(NotificationEvents::Reason))
                    .col(string_null(NotificationEvents::Code))
                    .col(timestamp_with_time_zone(NotificationEvents::OccurredAt))
                    .col(timestamp_with_time_zone(NotificationEvents::ReceivedAt))
                    .col(string(NotificationEvents::DedupeKey))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                NotificationEvents::Table,
                                NotificationEvents::NotificationId,
                            )
                            .to(Notifications::Table, Notifications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_notification_events_dedupe")
                    .table(NotificationEvents::Table)
                    .col(NotificationEvents::NotificationId)
                    .col(NotificationEvents::DedupeKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ParkedCallbacks::Table)
                    .if_not_exists()
                    .col(uuid(ParkedCallbacks::Id).primary_key())
                    .col(string(ParkedCallbacks::Provider))
                    .col(uuid_null(ParkedCallbacks::TenantId))
                    .col(string(ParkedCallbacks::ProviderMessageId))
                    .col(json(ParkedCallbacks::Event))
                    .col(timestamp_with_time_zone(ParkedCallbacks::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_parked_callbacks_message")
                    .table(ParkedCallbacks::Table)
                    .col(ParkedCallbacks::Provider)
                    .col(ParkedCallbacks::ProviderMessageId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ParkedCallbacks::Table.into_iden(),
            NotificationEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
