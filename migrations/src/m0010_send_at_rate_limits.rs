//! Scheduled sends and provider send rate limits: a notification may carry the time it is
//! to be sent (`send_at`); a tenant's provider account may carry a send rate; and
//! `send_slots` holds, per rate-limited account, the next free send slot, shared by every
//! worker of every process.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    /// Not sent before this time (`None`: at once).
    SendAt,
}

#[derive(DeriveIden)]
enum ProviderAccounts {
    Table,
    /// Sends per second the account allows (`None`: unlimited). Not a secret, so kept
    /// beside the sealed settings, readable without the keyring.
    RateLimitPerSecond,
}

#[derive(DeriveIden)]
enum SendSlots {
    Table,
    /// A tenant account's id, or `server:<name>` for a server-wide account.
    Key,
    /// The earliest time the next send may go out, in microseconds since the Unix epoch:
    /// an integer, so that one statement can advance it on SQLite and PostgreSQL alike.
    NextAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .add_column_if_not_exists(timestamp_with_time_zone_null(Notifications::SendAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ProviderAccounts::Table)
                    .add_column_if_not_exists(double_null(ProviderAccounts::RateLimitPerSecond))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SendSlots::Table)
                    .if_not_exists()
                    .col(string(SendSlots::Key).primary_key())
                    .col(big_integer(SendSlots::NextAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SendSlots::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ProviderAccounts::Table)
                    .drop_column(ProviderAccounts::RateLimitPerSecond)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .drop_column(Notifications::SendAt)
                    .to_owned(),
            )
            .await
    }
}
