//! Bulk sends: a batch is one request for many recipients, driven by one workflow. Each
//! recipient is an ordinary notification row that names its batch, so reads, callbacks,
//! the timeline and redrives work on it as on any other.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Batches {
    Table,
    Id,
    TenantId,
    Channel,
    Priority,
    /// `accepted`, `running` (its workflow started), `completed`.
    Status,
    /// Recipients in the batch (its notification rows).
    Total,
    /// Recipients left out because their own idempotency key was already used.
    Skipped,
    MaxAttempts,
    RetryIntervalSecs,
    IdempotencyKey,
    /// SHA-256 of the request, to tell a retried request from another reusing its key.
    RequestHash,
    /// Not sent before this time (a scheduled batch).
    SendAt,
    CreatedAt,
    /// When its workflow was started; `None` means the batch sweep still owes a start.
    DispatchedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    BatchId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Batches::Table)
                    .if_not_exists()
                    .col(uuid(Batches::Id).primary_key())
                    .col(uuid(Batches::TenantId))
                    .col(string(Batches::Channel))
                    .col(string(Batches::Priority))
                    .col(string(Batches::Status))
                    .col(integer(Batches::Total))
                    .col(integer(Batches::Skipped).default(0))
                    .col(integer(Batches::MaxAttempts))
                    .col(big_integer(Batches::RetryIntervalSecs))
                    .col(string_null(Batches::IdempotencyKey))
                    .col(string(Batches::RequestHash))
                    .col(timestamp_with_time_zone_null(Batches::SendAt))
                    .col(timestamp_with_time_zone(Batches::CreatedAt))
                    .col(timestamp_with_time_zone_null(Batches::DispatchedAt))
                    .col(timestamp_with_time_zone_null(Batches::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Batches::Table, Batches::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A repeated batch request returns the first batch: the database decides between
        // concurrent duplicates.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_batches_tenant_idempotency")
                    .table(Batches::Table)
                    .col(Batches::TenantId)
                    .col(Batches::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The batch sweep looks for batches whose workflow has not started.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_batches_dispatched_at")
                    .table(Batches::Table)
                    .col(Batches::DispatchedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .add_column_if_not_exists(uuid_null(Notifications::BatchId))
                    .to_owned(),
            )
            .await?;
        // A batch's chunks page through its members in id order; its progress counts them
        // by status.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_notifications_batch")
                    .table(Notifications::Table)
                    .col(Notifications::BatchId)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("ix_notifications_batch")
                    .table(Notifications::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .drop_column(Notifications::BatchId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Batches::Table).if_exists().to_owned())
            .await
    }
}
