//! Tenants and API keys that can be managed: keys carry scopes, may expire, can be revoked,
//! record when they were last used and which key created them, and show a short prefix to
//! tell them apart in lists (the key itself is never stored, only its SHA-256). A tenant
//! can be disabled, and the audit log records the id of the key that acted.
//!
//! Keys that exist already keep what they could do before scopes: every tenant scope
//! (`send,read,manage,operate`). Their prefix is unknown (only the hash was kept), so empty.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Scopes,
    Prefix,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
    CreatedByKeyId,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    DisabledAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    KeyId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        let key_columns = [
            string(ApiKeys::Scopes)
                .default("send,read,manage,operate")
                .to_owned(),
            string(ApiKeys::Prefix).default("").to_owned(),
            timestamp_with_time_zone_null(ApiKeys::ExpiresAt),
            timestamp_with_time_zone_null(ApiKeys::LastUsedAt),
            timestamp_with_time_zone_null(ApiKeys::RevokedAt),
            uuid_null(ApiKeys::CreatedByKeyId),
        ];
        for column in key_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .add_column_if_not_exists(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column_if_not_exists(timestamp_with_time_zone_null(Tenants::DisabledAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .add_column_if_not_exists(uuid_null(AuditLog::KeyId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .drop_column(AuditLog::KeyId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::DisabledAt)
                    .to_owned(),
            )
            .await?;
        for column in [
            ApiKeys::CreatedByKeyId,
            ApiKeys::RevokedAt,
            ApiKeys::LastUsedAt,
            ApiKeys::ExpiresAt,
            ApiKeys::Prefix,
            ApiKeys::Scopes,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
