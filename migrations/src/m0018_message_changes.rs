//! Changes people make to what they sent: a message edited (its text replaced, `edited_at`)
//! or deleted for everyone (its text and file reference withdrawn, `revoked_at`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConversationMessages {
    Table,
    EditedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            timestamp_with_time_zone_null(ConversationMessages::EditedAt),
            timestamp_with_time_zone_null(ConversationMessages::RevokedAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ConversationMessages::Table)
                        .add_column_if_not_exists(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ConversationMessages::EditedAt,
            ConversationMessages::RevokedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ConversationMessages::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
