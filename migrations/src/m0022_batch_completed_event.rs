//! `batch.completed`: a batch's last recipient is settled (its status becomes `completed`),
//! written to the event log by a trigger like every other event (see `m0020_event_log`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER IF NOT EXISTS event_log_batch_completed AFTER UPDATE OF status ON batches \
     WHEN NEW.status = 'completed' AND OLD.status <> 'completed' \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'batch.completed', NEW.id, NULL, NEW.status, \
             COALESCE(NEW.finished_at, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))); END",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE OR REPLACE FUNCTION event_log_batches() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.status = 'completed' AND OLD.status IS DISTINCT FROM 'completed' THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'batch.completed', NEW.id, NULL, NEW.status, COALESCE(NEW.finished_at, now()));
       END IF;
       RETURN NULL;
     END $$",
    "CREATE OR REPLACE TRIGGER event_log_batches AFTER UPDATE OF status ON batches \
     FOR EACH ROW EXECUTE FUNCTION event_log_batches()",
];

const SQLITE_DOWN: &[&str] = &["DROP TRIGGER IF EXISTS event_log_batch_completed"];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_batches ON batches",
    "DROP FUNCTION IF EXISTS event_log_batches()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::statements::run(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::statements::run(manager, SQLITE_DOWN, POSTGRES_DOWN).await
    }
}
