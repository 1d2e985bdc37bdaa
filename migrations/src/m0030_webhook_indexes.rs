//! Indexes that keep webhook deliveries cheap with a large backlog.
//!
//! - A delivery's attempts: recording an attempt first asks whether that attempt of that
//!   delivery was recorded already (a retried activity records nothing twice); without it
//!   the question read every attempt kept.
//! - Deliveries owed a start, in id order: the claim takes the oldest few, and with the
//!   index on `(status, started_at)` alone it sorted every pending delivery for each claim
//!   (30,000 at once in `make bench`'s burst, read again for every 64 claimed).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    DeliveryId,
    Attempt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Status,
    StartedAt,
    Id,
}

const ATTEMPTS: &str = "ix_webhook_attempts_delivery";
const TO_START: &str = "ix_webhook_deliveries_to_start";
const TO_START_IN_ORDER: &str = "ix_webhook_deliveries_to_start_in_order";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(ATTEMPTS)
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::DeliveryId)
                    .col(WebhookAttempts::Attempt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(TO_START_IN_ORDER)
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::StartedAt)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await?;
        // Its prefix: the new one answers everything it did.
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(TO_START)
                    .table(WebhookDeliveries::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(TO_START)
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::StartedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(TO_START_IN_ORDER)
                    .table(WebhookDeliveries::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(ATTEMPTS)
                    .table(WebhookAttempts::Table)
                    .to_owned(),
            )
            .await
    }
}
