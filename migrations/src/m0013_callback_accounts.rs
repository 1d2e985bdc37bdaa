//! Delivery reports keyed by the provider account they came through, not its name alone.
//!
//! Account names are unique only within a tenant (and among the server-wide accounts), so
//! matching a report to a notification, or a parked report to a send, by name let a report
//! through one tenant's account reach another tenant's notification of an account with the
//! same name. The notification now records the id of the tenant account that sent it
//! (`provider_account_id`, NULL for a server-wide account), and a parked report the id of the
//! account it came through (`account_id`, NULL for a server-wide account, which is then
//! matched by name with no tenant).
//!
//! Existing rows are filled in from the tenant's account of that name, which is what the
//! name meant for a tenant that has one.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    ProviderAccountId,
}

#[derive(DeriveIden)]
enum ParkedCallbacks {
    Table,
    AccountId,
    ProviderMessageId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .add_column_if_not_exists(uuid_null(Notifications::ProviderAccountId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ParkedCallbacks::Table)
                    .add_column_if_not_exists(uuid_null(ParkedCallbacks::AccountId))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Only sent messages can still get reports.
        db.execute_unprepared(
            "UPDATE notifications SET provider_account_id = (SELECT pa.id FROM provider_accounts pa \
             WHERE pa.tenant_id = notifications.tenant_id AND pa.name = notifications.provider) \
             WHERE provider IS NOT NULL AND provider_account_id IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE parked_callbacks SET account_id = (SELECT pa.id FROM provider_accounts pa \
             WHERE pa.tenant_id = parked_callbacks.tenant_id AND pa.name = parked_callbacks.provider) \
             WHERE tenant_id IS NOT NULL AND account_id IS NULL",
        )
        .await?;
        // A parked report of a tenant account is claimed, and counted against the account's
        // cap, by account id.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_parked_callbacks_account")
                    .table(ParkedCallbacks::Table)
                    .col(ParkedCallbacks::AccountId)
                    .col(ParkedCallbacks::ProviderMessageId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("ix_parked_callbacks_account")
                    .table(ParkedCallbacks::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ParkedCallbacks::Table)
                    .drop_column(ParkedCallbacks::AccountId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .drop_column(Notifications::ProviderAccountId)
                    .to_owned(),
            )
            .await
    }
}
