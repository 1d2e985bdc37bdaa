use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    KeyHash,
    Label,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    TenantId,
    Channel,
    Recipient,
    Content,
    Data,
    Rendered,
    Priority,
    NotificationType,
    IdempotencyKey,
    RequestHash,
    Status,
    Attempts,
    LastError,
    Provider,
    ProviderMessageId,
    MaxAttempts,
    RetryIntervalSecs,
    CreatedAt,
    UpdatedAt,
    DispatchedAt,
    SendingAt,
    SentAt,
    DeliveredAt,
    ReadAt,
    FailedAt,
    CancelledAt,
}

#[derive(DeriveIden)]
enum NotificationAttempts {
    Table,
    Id,
    NotificationId,
    Attempt,
    Provider,
    Outcome,
    Error,
    StartedAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .if_not_exists()
                    .col(uuid(Tenants::Id).primary_key())
                    .col(string(Tenants::Name).unique_key())
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(uuid(ApiKeys::Id).primary_key())
                    .col(uuid(ApiKeys::TenantId))
                    // SHA-256 of the key: keys are random and long, so a fast hash is safe
                    // and lets a request find its key with one indexed lookup.
                    .col(string(ApiKeys::KeyHash).unique_key())
                    .col(string(ApiKeys::Label))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .if_not_exists()
                    // UUIDv7: time-ordered, so the id doubles as the pagination cursor.
                    .col(uuid(Notifications::Id).primary_key())
                    .col(uuid(Notifications::TenantId))
                    .col(string(Notifications::Channel))
                    .col(text(Notifications::Recipient))
                    .col(json(Notifications::Content))
                    .col(json_null(Notifications::Data))
                    .col(json_null(Notifications::Rendered))
                    .col(string(Notifications::Priority))
                    .col(string_null(Notifications::NotificationType))
                    .col(string_null(Notifications::IdempotencyKey))
                    .col(string(Notifications::RequestHash))
                    .col(string(Notifications::Status))
                    .col(integer(Notifications::Attempts).default(0))
                    .col(text_null(Notifications::LastError))
                    .col(string_null(Notifications::Provider))
                    .col(string_null(Notifications::ProviderMessageId))
                    .col(integer(Notifications::MaxAttempts))
                    .col(big_integer(Notifications::RetryIntervalSecs))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone(Notifications::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::DispatchedAt))
                    .col(timestamp_with_time_zone_null(Notifications::SendingAt))
                    .col(timestamp_with_time_zone_null(Notifications::SentAt))
                    .col(timestamp_with_time_zone_null(Notifications::DeliveredAt))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .col(timestamp_with_time_zone_null(Notifications::FailedAt))
                    .col(timestamp_with_time_zone_null(Notifications::CancelledAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Notifications::Table, Notifications::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Idempotency is enforced by the database, so concurrent duplicates cannot both win.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_notifications_tenant_idempotency")
                    .table(Notifications::Table)
                    .col(Notifications::TenantId)
                    .col(Notifications::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_notifications_tenant_status")
                    .table(Notifications::Table)
                    .col(Notifications::TenantId)
                    .col(Notifications::Status)
                    .to_owned(),
            )
            .await?;
        // The dispatch sweep looks for rows whose workflow has not started.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_notifications_dispatched_at")
                    .table(Notifications::Table)
                    .col(Notifications::DispatchedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_notifications_provider_message_id")
                    .table(Notifications::Table)
                    .col(Notifications::ProviderMessageId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationAttempts::Table)
                    .if_not_exists()
                    .col(uuid(NotificationAttempts::Id).primary_key())
                    .col(uuid(NotificationAttempts::NotificationId))
                    .col(integer(NotificationAttempts::Attempt))
                    .col(string(NotificationAttempts::Provider))
                    .col(string(NotificationAttempts::Outcome))
                    .col(text_null(NotificationAttempts::Error))
                    .col(timestamp_with_time_zone(NotificationAttempts::StartedAt))
                    .col(timestamp_with_time_zone_null(
                        NotificationAttempts::FinishedAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                NotificationAttempts::Table,
                                NotificationAttempts::NotificationId,
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
                    .name("ix_notification_attempts_notification")
                    .table(NotificationAttempts::Table)
                    .col(NotificationAttempts::NotificationId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            NotificationAttempts::Table.into_iden(),
            Notifications::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Tenants::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
