//! Which template version a notification used, and escalation to another channel: a notification may carry a fallback (channel, recipient,
//! content) that is sent, once, when it is not delivered in time or fails.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    /// `{channel, to, content}` of the fallback, as requested.
    Fallback,
    /// The fallback notification, once created.
    FallbackId,
    /// For a fallback: the notification it stands in for.
    ParentId,
    /// The stored template the content came from, its version and locale.
    TemplateId,
    TemplateVersion,
    TemplateLocale,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            json_null(Notifications::Fallback),
            uuid_null(Notifications::FallbackId),
            uuid_null(Notifications::ParentId),
            uuid_null(Notifications::TemplateId),
            integer_null(Notifications::TemplateVersion),
            string_null(Notifications::TemplateLocale),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notifications::Table)
                        .add_column_if_not_exists(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Notifications::Fallback,
            Notifications::FallbackId,
            Notifications::ParentId,
            Notifications::TemplateId,
            Notifications::TemplateVersion,
            Notifications::TemplateLocale,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notifications::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
