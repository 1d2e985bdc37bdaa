//! Provider accounts registered by tenants, and the provider kind on each attempt.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ProviderAccounts {
    Table,
    Id,
    TenantId,
    Name,
    Kind,
    Channel,
    Priority,
    Enabled,
    /// The settings JSON, credentials included, sealed with AES-256-GCM.
    SettingsSealed,
    /// Which key sealed it, so keys can rotate.
    KeyId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NotificationAttempts {
    Table,
    ProviderKind,
    ErrorCode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProviderAccounts::Table)
                    .if_not_exists()
                    .col(uuid(ProviderAccounts::Id).primary_key())
                    .col(uuid(ProviderAccounts::TenantId))
                    .col(string(ProviderAccounts::Name))
                    .col(string(ProviderAccounts::Kind))
                    .col(string(ProviderAccounts::Channel))
                    .col(integer(ProviderAccounts::Priority))
                    .col(boolean(ProviderAccounts::Enabled))
                    .col(text(ProviderAccounts::SettingsSealed))
                    .col(string(ProviderAccounts::KeyId))
                    .col(timestamp_with_time_zone(ProviderAccounts::CreatedAt))
                    .col(timestamp_with_time_zone(ProviderAccounts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProviderAccounts::Table, ProviderAccounts::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_provider_accounts_tenant_name")
                    .table(ProviderAccounts::Table)
                    .col(ProviderAccounts::TenantId)
                    .col(ProviderAccounts::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(NotificationAttempts::Table)
                    .add_column_if_not_exists(string_null(NotificationAttempts::ProviderKind))
                    .to_owned(),
            )
            .await?;
        // The provider's own error code (Twilio 21211, Meta 131026, SMTP 550…).
        manager
            .alter_table(
                Table::alter()
                    .table(NotificationAttempts::Table)
                    .add_column_if_not_exists(string_null(NotificationAttempts::ErrorCode))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(NotificationAttempts::Table)
                    .drop_column(NotificationAttempts::ProviderKind)
                    .drop_column(NotificationAttempts::ErrorCode)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(ProviderAccounts::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
