//! Workflow starts from the workers: a worker claims an accepted notification whose workflow
//! has not started (`dispatched_at` empty) until `start_claimed_until`, so that two workers do
//! not both start it. A claim that runs out (its worker died) lets another worker take it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    StartClaimedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .add_column_if_not_exists(timestamp_with_time_zone_null(
                        Notifications::StartClaimedUntil,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .drop_column(Notifications::StartClaimedUntil)
                    .to_owned(),
            )
            .await
    }
}
