//! `instance.connection_updated` and `instance.qrcode_updated`: what a tenant's gateway
//! instance (Evolution, WAHA) reported of itself, as its kept state changes
//! (`m0019_instance_states`), written to the event log by triggers like every other event.
//! Only tenants' accounts (whose key is the account's id): a server-wide account belongs to
//! no tenant's log. The QR code itself is not in the event (the instance's view,
//! `GET /v1/providers/{id}/instance`, asks the gateway for the current one).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The account id, as the log's uuid column stores it (SQLite: 16 bytes).
const SQLITE_ID: &str = "unhex(replace(NEW.account_key, '-', ''))";

/// One trigger per operation, its inserts in order: the connection first, then the QR
/// code (SQLite runs several triggers of one operation newest first).
fn sqlite_up() -> Vec<String> {
    let insert = |event: &str, when: &str| {
        format!(
            "INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
             SELECT NEW.tenant_id, '{event}', {SQLITE_ID}, NULL, NEW.connection, NEW.changed_at \
             WHERE {when};"
        )
    };
    let ours = "NEW.tenant_id IS NOT NULL AND length(NEW.account_key) = 36";
    vec![
        format!(
            "CREATE TRIGGER IF NOT EXISTS event_log_instance_inserted AFTER INSERT ON instance_states \
             WHEN {ours} BEGIN {} {} END",
            insert("instance.connection_updated", "1"),
            insert("instance.qrcode_updated", "NEW.connection = 'pairing'"),
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS event_log_instance_updated AFTER UPDATE ON instance_states \
             WHEN {ours} BEGIN {} {} END",
            insert(
                "instance.connection_updated",
                "NEW.connection <> OLD.connection"
            ),
            insert(
                "instance.qrcode_updated",
                "NEW.connection = 'pairing' AND NEW.changed_at <> OLD.changed_at"
            ),
        ),
    ]
}

const POSTGRES_UP: &[&str] = &[
    "CREATE OR REPLACE FUNCTION event_log_instances() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.tenant_id IS NULL OR NEW.account_key !~ '^[0-9a-fA-F-]{36}$' THEN
         RETURN NULL;
       END IF;
       IF TG_OP = 'INSERT' OR NEW.connection IS DISTINCT FROM OLD.connection THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'instance.connection_updated', NEW.account_key::uuid, NULL, NEW.connection, NEW.changed_at);
       END IF;
       IF NEW.connection = 'pairing' AND (TG_OP = 'INSERT' OR NEW.changed_at IS DISTINCT FROM OLD.changed_at) THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'instance.qrcode_updated', NEW.account_key::uuid, NULL, NEW.connection, NEW.changed_at);
       END IF;
       RETURN NULL;
     END $$",
    "CREATE OR REPLACE TRIGGER event_log_instances AFTER INSERT OR UPDATE ON instance_states \
     FOR EACH ROW EXECUTE FUNCTION event_log_instances()",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_instance_inserted",
    "DROP TRIGGER IF EXISTS event_log_instance_updated",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_instances ON instance_states",
    "DROP FUNCTION IF EXISTS event_log_instances()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::statements::run(manager, &sqlite_up(), POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::statements::run(manager, SQLITE_DOWN, POSTGRES_DOWN).await
    }
}
