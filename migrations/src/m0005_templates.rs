//! Stored templates per tenant, versioned: a template names its current version, and every
//! version (immutable once written) holds the content variants per locale and channel.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Templates {
    Table,
    Id,
    TenantId,
    /// Unique per tenant; notifications may name a template by it.
    Name,
    Description,
    /// The default locale of the current version.
    DefaultLocale,
    CurrentVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TemplateVersions {
    Table,
    Id,
    TemplateId,
    /// 1, 2, …: each PUT writes the next.
    Version,
    /// The locale this version falls back to (a version is self-contained).
    DefaultLocale,
    /// `{"<locale>": {"<channel>": <content of that channel>}}`.
    Variants,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Templates::Table)
                    .if_not_exists()
                    .col(uuid(Templates::Id).primary_key())
                    .col(uuid(Templates::TenantId))
                    .col(string(Templates::Name))
                    .col(text_null(Templates::Description))
                    .col(string(Templates::DefaultLocale))
                    .col(integer(Templates::CurrentVersion))
                    .col(timestamp_with_time_zone(Templates::CreatedAt))
                    .col(timestamp_with_time_zone(Templates::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Templates::Table, Templates::TenantId)
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
                    .name("ux_templates_tenant_name")
                    .table(Templates::Table)
                    .col(Templates::TenantId)
                    .col(Templates::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TemplateVersions::Table)
                    .if_not_exists()
                    .col(uuid(TemplateVersions::Id).primary_key())
                    .col(uuid(TemplateVersions::TemplateId))
                    .col(integer(TemplateVersions::Version))
                    .col(string(TemplateVersions::DefaultLocale))
                    .col(json(TemplateVersions::Variants))
                    .col(timestamp_with_time_zone(TemplateVersions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TemplateVersions::Table, TemplateVersions::TemplateId)
                            .to(Templates::Table, Templates::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_template_versions_template_version")
                    .table(TemplateVersions::Table)
                    .col(TemplateVersions::TemplateId)
                    .col(TemplateVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(TemplateVersions::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Templates::Table).if_exists().to_owned())
            .await
    }
}
