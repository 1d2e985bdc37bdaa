//! Recipients in control: a person's preferences (on the profile row) and the tenant's
//! defaults (on the tenant row), a notification's `category` (and a template's), the
//! `skipped` status with its time, and the tenant's suppression list: addresses that
//! bounced, complained or were refused for good on a channel, found by a keyed digest (the
//! address itself is sealed, like a contact's).
//!
//! Digests: a digest is a notification of its own (sent when its window closes), with a
//! `digests` row saying whose, which category and channel, and when it closed to new
//! members; each member notification names it (`digested_into`).
//!
//! The event log's notification trigger learns `notification.skipped`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Recipients {
    Table,
    Preferences,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    PreferenceDefaults,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    RecipientId,
    Category,
    SentAt,
    SkippedAt,
    DigestedInto,
}

#[derive(DeriveIden)]
enum Digests {
    Table,
    Id,
    TenantId,
    RecipientId,
    Category,
    Channel,
    ClosesAt,
    ClosedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Templates {
    Table,
    Category,
}

#[derive(DeriveIden)]
enum Suppressions {
    Table,
    Id,
    TenantId,
    Channel,
    AddressDigest,
    Address,
    Reason,
    Detail,
    NotificationId,
    CreatedAt,
}

const STATUSES: &str = "('sent', 'delivered', 'read', 'failed', 'cancelled', 'skipped')";
const OLD_STATUSES: &str = "('sent', 'delivered', 'read', 'failed', 'cancelled')";

fn sqlite_status_trigger(statuses: &str) -> Vec<String> {
    vec![
        "DROP TRIGGER IF EXISTS event_log_notification_status".to_owned(),
        format!(
            "CREATE TRIGGER IF NOT EXISTS event_log_notification_status AFTER UPDATE OF status ON notifications \
             WHEN NEW.status <> OLD.status AND NEW.status IN {statuses} \
             BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
             VALUES (NEW.tenant_id, 'notification.' || NEW.status, NEW.id, NEW.batch_id, NEW.status, NEW.updated_at); END"
        ),
    ]
}

fn postgres_function(statuses: &str) -> Vec<String> {
    vec![format!(
        "CREATE OR REPLACE FUNCTION event_log_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'notification.accepted', NEW.id, NEW.batch_id, NEW.status, NEW.created_at);
       ELSE
         IF NEW.status IS DISTINCT FROM OLD.status
            AND NEW.status IN {statuses} THEN
           INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
           VALUES (NEW.tenant_id, 'notification.' || NEW.status, NEW.id, NEW.batch_id, NEW.status, NEW.updated_at);
         END IF;
         IF OLD.fallback_id IS NULL AND NEW.fallback_id IS NOT NULL THEN
           INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
           VALUES (NEW.tenant_id, 'notification.fallback', NEW.id, NEW.fallback_id, NEW.status, NEW.updated_at);
         END IF;
       END IF;
       RETURN NULL;
     END $$"
    )]
}

async fn add(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: ColumnDef,
) -> Result<(), DbErr> {
    let mut column = column;
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column_if_not_exists(&mut column)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add(
            manager,
            Recipients::Table,
            json_null(Recipients::Preferences),
        )
        .await?;
        add(
            manager,
            Tenants::Table,
            json_null(Tenants::PreferenceDefaults),
        )
        .await?;
        add(
            manager,
            Notifications::Table,
            string_null(Notifications::Category),
        )
        .await?;
        add(
            manager,
            Notifications::Table,
            timestamp_with_time_zone_null(Notifications::SkippedAt),
        )
        .await?;
        add(manager, Templates::Table, string_null(Templates::Category)).await?;
        add(
            manager,
            Notifications::Table,
            uuid_null(Notifications::DigestedInto),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_notifications_digested_into")
                    .table(Notifications::Table)
                    .col(Notifications::DigestedInto)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Digests::Table)
                    .if_not_exists()
                    .col(uuid(Digests::Id).primary_key())
                    .col(uuid(Digests::TenantId))
                    .col(uuid(Digests::RecipientId))
                    .col(string(Digests::Category))
                    .col(string(Digests::Channel))
                    .col(timestamp_with_time_zone(Digests::ClosesAt))
                    .col(timestamp_with_time_zone_null(Digests::ClosedAt))
                    .col(timestamp_with_time_zone(Digests::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // One open digest per recipient, category and channel: a second member racing the
        // first to open one fails here and joins the winner's.
        let open = "CREATE UNIQUE INDEX IF NOT EXISTS idx_digests_open \
                    ON digests (recipient_id, category, channel) WHERE closed_at IS NULL";
        crate::statements::run(manager, &[open], &[open]).await?;
        // The frequency cap counts a recipient's sends of a category in the last day.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_notifications_recipient_category_sent")
                    .table(Notifications::Table)
                    .col(Notifications::RecipientId)
                    .col(Notifications::Category)
                    .col(Notifications::SentAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Suppressions::Table)
                    .if_not_exists()
                    .col(uuid(Suppressions::Id).primary_key())
                    .col(uuid(Suppressions::TenantId))
                    .col(string(Suppressions::Channel))
                    .col(string(Suppressions::AddressDigest))
                    .col(text(Suppressions::Address))
                    .col(string(Suppressions::Reason))
                    .col(text_null(Suppressions::Detail))
                    .col(uuid_null(Suppressions::NotificationId))
                    .col(timestamp_with_time_zone(Suppressions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_suppressions_address")
                    .table(Suppressions::Table)
                    .col(Suppressions::TenantId)
                    .col(Suppressions::Channel)
                    .col(Suppressions::AddressDigest)
                    .unique()
                    .to_owned(),
            )
            .await?;
        crate::statements::run(
            manager,
            &sqlite_status_trigger(STATUSES),
            &postgres_function(STATUSES),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::statements::run(
            manager,
            &sqlite_status_trigger(OLD_STATUSES),
            &postgres_function(OLD_STATUSES),
        )
        .await?;
        for table in [Suppressions::Table.into_iden(), Digests::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_notifications_digested_into")
                    .table(Notifications::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_notifications_recipient_category_sent")
                    .table(Notifications::Table)
                    .to_owned(),
            )
            .await?;
        for (table, column) in [
            (
                Recipients::Table.into_iden(),
                Recipients::Preferences.into_iden(),
            ),
            (
                Tenants::Table.into_iden(),
                Tenants::PreferenceDefaults.into_iden(),
            ),
            (
                Notifications::Table.into_iden(),
                Notifications::Category.into_iden(),
            ),
            (
                Notifications::Table.into_iden(),
                Notifications::SkippedAt.into_iden(),
            ),
            (
                Notifications::Table.into_iden(),
                Notifications::DigestedInto.into_iden(),
            ),
            (
                Templates::Table.into_iden(),
                Templates::Category.into_iden(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
