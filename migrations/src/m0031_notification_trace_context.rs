//! A notification's trace context: the W3C `traceparent` of the request that accepted it,
//! when traces are on, so the process that starts its workflow later (a worker's starter,
//! a sweep) continues the same trace. Ids only: no personal data.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    TraceContext,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .add_column_if_not_exists(text_null(Notifications::TraceContext))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .drop_column(Notifications::TraceContext)
                    .to_owned(),
            )
            .await
    }
}
