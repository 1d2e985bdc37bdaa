//! Where each gateway instance (an Evolution instance, a WAHA session) stands, as its
//! webhook last said (`connection.update`, `qrcode.updated`, `session.status`): one row per
//! account, replaced only by a newer event.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InstanceStates {
    Table,
    /// The account's callback key: a tenant account's id, or a server-wide account's name.
    AccountKey,
    TenantId,
    Connection,
    GatewayState,
    ChangedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(InstanceStates::Table)
                    .if_not_exists()
                    .col(string(InstanceStates::AccountKey).primary_key())
                    .col(uuid_null(InstanceStates::TenantId))
                    .col(string(InstanceStates::Connection))
                    .col(string(InstanceStates::GatewayState))
                    .col(timestamp_with_time_zone(InstanceStates::ChangedAt))
                    .col(timestamp_with_time_zone(InstanceStates::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(InstanceStates::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
