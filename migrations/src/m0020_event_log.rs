//! The event log: every state change a tenant may watch, as one row per event with an
//! increasing `id` (the cursor), written by triggers in the same transaction as the change
//! itself, so there is no change without its event and no event without its change, whatever
//! code path made it (an API request, a worker's activity, a batch's insert, a redrive).
//!
//! Events: `notification.accepted` (a notification's insert), `notification.sent|delivered|
//! read|failed|cancelled` (its status), `notification.fallback` (its fallback made),
//! `message.received` (an inbound message's insert), `message.updated` (edited or deleted
//! by the person), `conversation.opened`, `conversation.closed`. A row names its subject by
//! id and carries no personal data (the API composes the payload from the ids).
//!
//! On PostgreSQL ids are taken at insert and transactions commit in any order, so a reader
//! could see id 12 before 11 commits and skip it. Each row keeps the transaction that wrote
//! it (`xid`), and readers stop below the oldest transaction still running
//! (`pg_snapshot_xmin`): an id is shown only once every smaller id is settled. SQLite has one
//! writer at a time: ids commit in order. `event_log_horizon` keeps the highest id retention
//! deleted, so a cursor older than that is told so instead of silently missing events.

use sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventLog {
    Table,
    Id,
    TenantId,
    EventType,
    SubjectId,
    RelatedId,
    Status,
    OccurredAt,
}

#[derive(DeriveIden)]
enum EventLogHorizon {
    Table,
    Id,
    PurgedUpTo,
}

const SQLITE_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER IF NOT EXISTS event_log_notification_accepted AFTER INSERT ON notifications \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'notification.accepted', NEW.id, NEW.batch_id, NEW.status, NEW.created_at); END",
    "CREATE TRIGGER IF NOT EXISTS event_log_notification_status AFTER UPDATE OF status ON notifications \
     WHEN NEW.status <> OLD.status AND NEW.status IN ('sent', 'delivered', 'read', 'failed', 'cancelled') \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'notification.' || NEW.status, NEW.id, NEW.batch_id, NEW.status, NEW.updated_at); END",
    "CREATE TRIGGER IF NOT EXISTS event_log_notification_fallback AFTER UPDATE OF fallback_id ON notifications \
     WHEN OLD.fallback_id IS NULL AND NEW.fallback_id IS NOT NULL \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'notification.fallback', NEW.id, NEW.fallback_id, NEW.status, NEW.updated_at); END",
    "CREATE TRIGGER IF NOT EXISTS event_log_message_received AFTER INSERT ON conversation_messages \
     WHEN NEW.direction = 'inbound' \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'message.received', NEW.id, NEW.conversation_id, NULL, NEW.received_at); END",
    "CREATE TRIGGER IF NOT EXISTS event_log_message_updated AFTER UPDATE OF edited_at, revoked_at ON conversation_messages \
     WHEN NEW.edited_at IS NOT OLD.edited_at OR NEW.revoked_at IS NOT OLD.revoked_at \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'message.updated', NEW.id, NEW.conversation_id, \
             CASE WHEN NEW.revoked_at IS NOT NULL THEN 'revoked' ELSE 'edited' END, \
             COALESCE(NEW.revoked_at, NEW.edited_at)); END",
    "CREATE TRIGGER IF NOT EXISTS event_log_conversation_opened AFTER INSERT ON conversations \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'conversation.opened', NEW.id, NEW.contact_id, NEW.status, NEW.created_at); END",
    "CREATE TRIGGER IF NOT EXISTS event_log_conversation_status AFTER UPDATE OF status ON conversations \
     WHEN NEW.status <> OLD.status \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, CASE NEW.status WHEN 'closed' THEN 'conversation.closed' ELSE 'conversation.opened' END, \
             NEW.id, NEW.contact_id, NEW.status, NEW.updated_at); END",
];

const SQLITE_DROP: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_notification_accepted",
    "DROP TRIGGER IF EXISTS event_log_notification_status",
    "DROP TRIGGER IF EXISTS event_log_notification_fallback",
    "DROP TRIGGER IF EXISTS event_log_message_received",
    "DROP TRIGGER IF EXISTS event_log_message_updated",
    "DROP TRIGGER IF EXISTS event_log_conversation_opened",
    "DROP TRIGGER IF EXISTS event_log_conversation_status",
];

const POSTGRES_TRIGGERS: &[&str] = &[
    "ALTER TABLE event_log ADD COLUMN IF NOT EXISTS xid xid8 NOT NULL DEFAULT pg_current_xact_id()",
    "CREATE OR REPLACE FUNCTION event_log_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'notification.accepted', NEW.id, NEW.batch_id, NEW.status, NEW.created_at);
       ELSE
         IF NEW.status IS DISTINCT FROM OLD.status
            AND NEW.status IN ('sent', 'delivered', 'read', 'failed', 'cancelled') THEN
           INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
           VALUES (NEW.tenant_id, 'notification.' || NEW.status, NEW.id, NEW.batch_id, NEW.status, NEW.updated_at);
         END IF;
         IF OLD.fallback_id IS NULL AND NEW.fallback_id IS NOT NULL THEN
           INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
           VALUES (NEW.tenant_id, 'notification.fallback', NEW.id, NEW.fallback_id, NEW.status, NEW.updated_at);
         END IF;
       END IF;
       RETURN NULL;
     END $$",
    "CREATE OR REPLACE TRIGGER event_log_notifications AFTER INSERT OR UPDATE ON notifications \
     FOR EACH ROW EXECUTE FUNCTION event_log_notifications()",
    "CREATE OR REPLACE FUNCTION event_log_messages() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         IF NEW.direction = 'inbound' THEN
           INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
           VALUES (NEW.tenant_id, 'message.received', NEW.id, NEW.conversation_id, NULL, NEW.received_at);
         END IF;
       ELSIF NEW.edited_at IS DISTINCT FROM OLD.edited_at OR NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'message.updated', NEW.id, NEW.conversation_id,
                 CASE WHEN NEW.revoked_at IS NOT NULL THEN 'revoked' ELSE 'edited' END,
                 COALESCE(NEW.revoked_at, NEW.edited_at));
       END IF;
       RETURN NULL;
     END $$",
    "CREATE OR REPLACE TRIGGER event_log_messages AFTER INSERT OR UPDATE ON conversation_messages \
     FOR EACH ROW EXECUTE FUNCTION event_log_messages()",
    "CREATE OR REPLACE FUNCTION event_log_conversations() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'conversation.opened', NEW.id, NEW.contact_id, NEW.status, NEW.created_at);
       ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id,
                 CASE NEW.status WHEN 'closed' THEN 'conversation.closed' ELSE 'conversation.opened' END,
                 NEW.id, NEW.contact_id, NEW.status, NEW.updated_at);
       END IF;
       RETURN NULL;
     END $$",
    "CREATE OR REPLACE TRIGGER event_log_conversations AFTER INSERT OR UPDATE ON conversations \
     FOR EACH ROW EXECUTE FUNCTION event_log_conversations()",
];

const POSTGRES_DROP: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_notifications ON notifications",
    "DROP TRIGGER IF EXISTS event_log_messages ON conversation_messages",
    "DROP TRIGGER IF EXISTS event_log_conversations ON conversations",
    "DROP FUNCTION IF EXISTS event_log_notifications()",
    "DROP FUNCTION IF EXISTS event_log_messages()",
    "DROP FUNCTION IF EXISTS event_log_conversations()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // SQLite's AUTOINCREMENT wants exactly `integer`; PostgreSQL gets a bigserial.
        let id = match backend {
            DbBackend::Sqlite => integer(EventLog::Id)
                .auto_increment()
                .primary_key()
                .to_owned(),
            _ => big_integer(EventLog::Id)
                .auto_increment()
                .primary_key()
                .to_owned(),
        };
        manager
            .create_table(
                Table::create()
                    .table(EventLog::Table)
                    .if_not_exists()
                    .col(id)
                    .col(uuid(EventLog::TenantId))
                    .col(string(EventLog::EventType))
                    .col(uuid(EventLog::SubjectId))
                    .col(uuid_null(EventLog::RelatedId))
                    .col(string_null(EventLog::Status))
                    .col(timestamp_with_time_zone(EventLog::OccurredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_event_log_tenant_id")
                    .table(EventLog::Table)
                    .col(EventLog::TenantId)
                    .col(EventLog::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EventLogHorizon::Table)
                    .if_not_exists()
                    .col(integer(EventLogHorizon::Id).primary_key())
                    .col(big_integer(EventLogHorizon::PurgedUpTo))
                    .to_owned(),
            )
            .await?;
        crate::statements::run(manager, SQLITE_TRIGGERS, POSTGRES_TRIGGERS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::statements::run(manager, SQLITE_DROP, POSTGRES_DROP).await?;
        for table in [
            EventLog::Table.into_iden(),
            EventLogHorizon::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
