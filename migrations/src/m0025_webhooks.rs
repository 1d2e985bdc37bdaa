//! Webhook subscriptions: tenants' endpoints, the deliveries of events to them (one per
//! event × endpoint, or per resend) and every attempt of each. `webhook_fanout` is the
//! log cursor up to which events have been turned into deliveries: it moves in the same
//! transaction as the deliveries it made, so a worker that dies mid-way makes them again,
//! never twice (a second worker's move of the same cursor fails its compare).
//!
//! An endpoint disabled for failing (`disabled_at` set) writes `endpoint.disabled` to the
//! event log by a trigger, like every other event.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    TenantId,
    Url,
    Description,
    EventTypes,
    Channels,
    PayloadFilter,
    Headers,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    Enabled,
    Ordered,
    RateLimit,
    RetryScheduleSecs,
    ConsecutiveFailures,
    FailingSince,
    PausedUntil,
    ProbeUntil,
    LastSuccessAt,
    LastFailureAt,
    LastError,
    DisabledAt,
    DisabledReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    TenantId,
    EndpointId,
    EventId,
    EventXact,
    EventType,
    Payload,
    Status,
    Attempts,
    ClaimedUntil,
    StartedAt,
    FinishedAt,
    LastStatusCode,
    LastError,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    TenantId,
    EndpointId,
    DeliveryId,
    EventId,
    Attempt,
    AttemptedAt,
    Succeeded,
    StatusCode,
    DurationMs,
    ResponseExcerpt,
    Error,
}

#[derive(DeriveIden)]
enum WebhookFanout {
    Table,
    Id,
    CursorXact,
    CursorId,
}

const SQLITE_UP: &[&str] = &[
    "INSERT OR IGNORE INTO webhook_fanout (id, cursor_xact, cursor_id) VALUES (1, 0, 0)",
    "CREATE TRIGGER IF NOT EXISTS event_log_endpoint_disabled AFTER UPDATE OF disabled_at ON webhook_endpoints \
     WHEN NEW.disabled_at IS NOT NULL AND OLD.disabled_at IS NULL \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'endpoint.disabled', NEW.id, NULL, 'disabled', NEW.disabled_at); END",
];

const POSTGRES_UP: &[&str] = &[
    "INSERT INTO webhook_fanout (id, cursor_xact, cursor_id) VALUES (1, 0, 0) ON CONFLICT DO NOTHING",
    "CREATE OR REPLACE FUNCTION event_log_webhook_endpoints() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.disabled_at IS NOT NULL AND OLD.disabled_at IS NULL THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'endpoint.disabled', NEW.id, NULL, 'disabled', NEW.disabled_at);
       END IF;
       RETURN NULL;
     END $$",
    "CREATE OR REPLACE TRIGGER event_log_webhook_endpoints AFTER UPDATE OF disabled_at ON webhook_endpoints \
     FOR EACH ROW EXECUTE FUNCTION event_log_webhook_endpoints()",
];

const SQLITE_DOWN: &[&str] = &["DROP TRIGGER IF EXISTS event_log_endpoint_disabled"];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_webhook_endpoints ON webhook_endpoints",
    "DROP FUNCTION IF EXISTS event_log_webhook_endpoints()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .if_not_exists()
                    .col(uuid(WebhookEndpoints::Id).primary_key())
                    .col(uuid(WebhookEndpoints::TenantId))
                    .col(text(WebhookEndpoints::Url))
                    .col(text(WebhookEndpoints::Description))
                    .col(json(WebhookEndpoints::EventTypes))
                    .col(json(WebhookEndpoints::Channels))
                    .col(json_null(WebhookEndpoints::PayloadFilter))
                    // Sealed: custom headers often carry the receiver's credentials.
                    .col(text_null(WebhookEndpoints::Headers))
                    .col(text(WebhookEndpoints::Secret))
                    .col(text_null(WebhookEndpoints::PreviousSecret))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::PreviousSecretUntil,
                    ))
                    .col(boolean(WebhookEndpoints::Enabled))
                    .col(boolean(WebhookEndpoints::Ordered))
                    .col(integer_null(WebhookEndpoints::RateLimit))
                    .col(json_null(WebhookEndpoints::RetryScheduleSecs))
                    .col(integer(WebhookEndpoints::ConsecutiveFailures).default(0))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::FailingSince,
                    ))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::PausedUntil))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::ProbeUntil))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::LastSuccessAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::LastFailureAt,
                    ))
                    .col(text_null(WebhookEndpoints::LastError))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::DisabledAt))
                    .col(string_null(WebhookEndpoints::DisabledReason))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_webhook_endpoints_tenant")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::TenantId)
                    .col(WebhookEndpoints::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(uuid(WebhookDeliveries::Id).primary_key())
                    .col(uuid(WebhookDeliveries::TenantId))
                    .col(uuid(WebhookDeliveries::EndpointId))
                    .col(big_integer(WebhookDeliveries::EventId))
                    .col(big_integer(WebhookDeliveries::EventXact))
                    .col(string(WebhookDeliveries::EventType))
                    .col(text(WebhookDeliveries::Payload))
                    .col(string(WebhookDeliveries::Status))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::ClaimedUntil,
                    ))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::StartedAt))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::FinishedAt))
                    .col(integer_null(WebhookDeliveries::LastStatusCode))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // Deliveries owed a start, oldest first.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_webhook_deliveries_to_start")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::StartedAt)
                    .to_owned(),
            )
            .await?;
        // An endpoint's deliveries in log order (an ordered endpoint's head; recover).
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_webhook_deliveries_endpoint")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::EventXact)
                    .col(WebhookDeliveries::EventId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_webhook_deliveries_event")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::TenantId)
                    .col(WebhookDeliveries::EventId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .if_not_exists()
                    .col(uuid(WebhookAttempts::Id).primary_key())
                    .col(uuid(WebhookAttempts::TenantId))
                    .col(uuid(WebhookAttempts::EndpointId))
                    .col(uuid(WebhookAttempts::DeliveryId))
                    .col(big_integer(WebhookAttempts::EventId))
                    .col(integer(WebhookAttempts::Attempt))
                    .col(timestamp_with_time_zone(WebhookAttempts::AttemptedAt))
                    .col(boolean(WebhookAttempts::Succeeded))
                    .col(integer_null(WebhookAttempts::StatusCode))
                    .col(big_integer(WebhookAttempts::DurationMs))
                    .col(text_null(WebhookAttempts::ResponseExcerpt))
                    .col(text_null(WebhookAttempts::Error))
                    .to_owned(),
            )
            .await?;
        // An endpoint's attempts, newest first (ids are UUIDv7: time-ordered).
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_webhook_attempts_endpoint")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::EndpointId)
                    .col(WebhookAttempts::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_webhook_attempts_event")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::TenantId)
                    .col(WebhookAttempts::EventId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookFanout::Table)
                    .if_not_exists()
                    .col(integer(WebhookFanout::Id).primary_key())
                    .col(big_integer(WebhookFanout::CursorXact))
                    .col(big_integer(WebhookFanout::CursorId))
                    .to_owned(),
            )
            .await?;
        crate::statements::run(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::statements::run(manager, SQLITE_DOWN, POSTGRES_DOWN).await?;
        for table in [
            WebhookFanout::Table.into_iden(),
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
