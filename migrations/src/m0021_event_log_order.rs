//! The event log's order on PostgreSQL, and its wake-up.
//!
//! m0020 showed an event once its transaction id was below the oldest one still running,
//! in id order. That skips one: transaction 101 inserts id 49, transaction 100 (older, but
//! it wrote its event later) inserts id 50 and commits; 50 is shown while 49 is not yet, and
//! a reader that moved past 50 never sees 49. Ordering by (transaction, id) instead makes
//! the shown part of the log append-only: every transaction below the oldest running one
//! has ended, so nothing can ever be added before what was shown. The cursor is that pair
//! (`xact` is 0 on SQLite, whose single writer commits ids in order).
//!
//! A statement trigger also notifies `pombo_event_log` on each insert (delivered at
//! commit), which wakes the streams of every API process at once instead of at their next
//! poll.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE event_log ADD COLUMN xact bigint NOT NULL DEFAULT 0",
    "ALTER TABLE event_log_horizon ADD COLUMN purged_xact bigint NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS ix_event_log_tenant_order ON event_log (tenant_id, xact, id)",
    "CREATE INDEX IF NOT EXISTS ix_event_log_order ON event_log (xact, id)",
    "DROP INDEX IF EXISTS ix_event_log_tenant_id",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE event_log ADD COLUMN IF NOT EXISTS xact bigint",
    "UPDATE event_log SET xact = xid::text::bigint WHERE xact IS NULL",
    "ALTER TABLE event_log ALTER COLUMN xact SET DEFAULT (pg_current_xact_id()::text::bigint)",
    "ALTER TABLE event_log ALTER COLUMN xact SET NOT NULL",
    "ALTER TABLE event_log DROP COLUMN IF EXISTS xid",
    "ALTER TABLE event_log_horizon ADD COLUMN IF NOT EXISTS purged_xact bigint NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS ix_event_log_tenant_order ON event_log (tenant_id, xact, id)",
    "CREATE INDEX IF NOT EXISTS ix_event_log_order ON event_log (xact, id)",
    "DROP INDEX IF EXISTS ix_event_log_tenant_id",
    "CREATE OR REPLACE FUNCTION event_log_wake() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN PERFORM pg_notify('pombo_event_log', ''); RETURN NULL; END $$",
    "CREATE OR REPLACE TRIGGER event_log_wake AFTER INSERT ON event_log \
     FOR EACH STATEMENT EXECUTE FUNCTION event_log_wake()",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS ix_event_log_tenant_order",
    "DROP INDEX IF EXISTS ix_event_log_order",
    "CREATE INDEX IF NOT EXISTS ix_event_log_tenant_id ON event_log (tenant_id, id)",
    "ALTER TABLE event_log DROP COLUMN xact",
    "ALTER TABLE event_log_horizon DROP COLUMN purged_xact",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_wake ON event_log",
    "DROP FUNCTION IF EXISTS event_log_wake()",
    "DROP INDEX IF EXISTS ix_event_log_tenant_order",
    "DROP INDEX IF EXISTS ix_event_log_order",
    "CREATE INDEX IF NOT EXISTS ix_event_log_tenant_id ON event_log (tenant_id, id)",
    "ALTER TABLE event_log ADD COLUMN IF NOT EXISTS xid xid8 NOT NULL DEFAULT pg_current_xact_id()",
    "ALTER TABLE event_log DROP COLUMN IF EXISTS xact",
    "ALTER TABLE event_log_horizon DROP COLUMN IF EXISTS purged_xact",
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
