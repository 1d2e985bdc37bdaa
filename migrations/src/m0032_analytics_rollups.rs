//! Analytics roll-ups: a tenant's notifications counted per hour and group once the hour
//! is over (`analytics_hours`), so a 30-day breakdown reads 720 rows per group instead of
//! every notification. `analytics_rollups` says, per tenant and grouping, which hours are
//! rolled up and how far into the event log the roll-ups have followed the notifications'
//! changes (a delivery report for last week's message rolls its hour up again). Counts and
//! log-spaced duration histograms only: no addresses, no content.
//!
//! Counting an hour again reads that hour's notifications only: by `(tenant_id,
//! created_at)`, which `notifications` had no index for (each count read every notification
//! of the tenant).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AnalyticsHours {
    Table,
    Id,
    TenantId,
    Grouping,
    Hour,
    Grp,
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
    Opened,
    Clicked,
    Skipped,
    Tracked,
    ToSend,
    ToDeliver,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    TenantId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AnalyticsRollups {
    Table,
    TenantId,
    Grouping,
    CoveredFrom,
    CoveredTo,
    CursorXact,
    CursorId,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_notifications_tenant_created")
                    .table(Notifications::Table)
                    .col(Notifications::TenantId)
                    .col(Notifications::CreatedAt)
                    .to_owned(),
            )
            .await?;
        use AnalyticsHours as H;
        manager
            .create_table(
                Table::create()
                    .table(H::Table)
                    .if_not_exists()
                    .col(uuid(H::Id).primary_key())
                    .col(uuid(H::TenantId))
                    .col(string(H::Grouping))
                    // The hour's start as `2026-12-07T04:00:00Z`: ordered as text on both
                    // databases, and the label the API shows.
                    .col(string(H::Hour))
                    .col(text_null(H::Grp))
                    .col(big_integer(H::Accepted))
                    .col(big_integer(H::Sent))
                    .col(big_integer(H::Delivered))
                    .col(big_integer(H::Read))
                    .col(big_integer(H::Failed))
                    .col(big_integer(H::Opened))
                    .col(big_integer(H::Clicked))
                    .col(big_integer(H::Skipped))
                    .col(big_integer(H::Tracked))
                    .col(text(H::ToSend))
                    .col(text(H::ToDeliver))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_analytics_hours_tenant_grouping_hour")
                    .table(H::Table)
                    .col(H::TenantId)
                    .col(H::Grouping)
                    .col(H::Hour)
                    .to_owned(),
            )
            .await?;
        use AnalyticsRollups as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .if_not_exists()
                    .col(uuid(R::TenantId))
                    .col(string(R::Grouping))
                    .col(string(R::CoveredFrom))
                    .col(string(R::CoveredTo))
                    .col(big_integer(R::CursorXact))
                    .col(big_integer(R::CursorId))
                    .col(big_integer(R::Version))
                    .primary_key(Index::create().col(R::TenantId).col(R::Grouping))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AnalyticsRollups::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AnalyticsHours::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_notifications_tenant_created")
                    .table(Notifications::Table)
                    .to_owned(),
            )
            .await
    }
}
