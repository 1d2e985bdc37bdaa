//! Files of inbound messages: a message a person sent with a file keeps where the provider
//! has it (sealed in `body`) and, once a worker fetched it into object storage, the file's
//! id. `media_state` says where that stands (`pending`, `stored`, `failed` with
//! `media_error`); a pending message's fetch is started by a worker that claims it until
//! `media_claimed_until` and records the start in `media_started_at`, like notifications'
//! starts (m0012), so an API or worker that dies between the store and the start loses
//! nothing.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConversationMessages {
    Table,
    MediaState,
    FileId,
    MediaError,
    MediaClaimedUntil,
    MediaStartedAt,
}

const INDEX: &str = "ix_conversation_messages_media_to_start";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            string_null(ConversationMessages::MediaState),
            uuid_null(ConversationMessages::FileId),
            text_null(ConversationMessages::MediaError),
            timestamp_with_time_zone_null(ConversationMessages::MediaClaimedUntil),
            timestamp_with_time_zone_null(ConversationMessages::MediaStartedAt),
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
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(INDEX)
                    .table(ConversationMessages::Table)
                    .col(ConversationMessages::MediaState)
                    .col(ConversationMessages::MediaStartedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(INDEX)
                    .table(ConversationMessages::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            ConversationMessages::MediaState,
            ConversationMessages::FileId,
            ConversationMessages::MediaError,
            ConversationMessages::MediaClaimedUntil,
            ConversationMessages::MediaStartedAt,
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
