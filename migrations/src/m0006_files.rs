//! Files uploaded by tenants (`POST /v1/files`): the bytes live in object storage under
//! `object_key`; this table holds what the API answers about them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    Id,
    TenantId,
    /// As the uploader named it (path stripped).
    Filename,
    ContentType,
    SizeBytes,
    /// Hex SHA-256 of the content.
    Sha256,
    /// `<tenant id>/<file id>/<sanitized filename>` in the configured bucket.
    ObjectKey,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Files::Table)
                    .if_not_exists()
                    .col(uuid(Files::Id).primary_key())
                    .col(uuid(Files::TenantId))
                    .col(string(Files::Filename))
                    .col(string(Files::ContentType))
                    .col(big_integer(Files::SizeBytes))
                    .col(string(Files::Sha256))
                    .col(string(Files::ObjectKey))
                    .col(timestamp_with_time_zone(Files::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Files::Table, Files::TenantId)
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
                    .name("ix_files_tenant_created")
                    .table(Files::Table)
                    .col(Files::TenantId)
                    .col(Files::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Files::Table).if_exists().to_owned())
            .await
    }
}
