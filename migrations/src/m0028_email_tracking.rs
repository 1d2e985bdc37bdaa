//! Email engagement, opted into per notification or template: whether a notification's
//! email carries an open pixel and tracked links, and when it was first opened and first
//! clicked. Triggers write `notification.opened` and `notification.clicked` to the event
//! log when those are first set, like every other event.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    TrackOpens,
    TrackClicks,
    OpenedAt,
    ClickedAt,
}

#[derive(DeriveIden)]
enum Templates {
    Table,
    TrackOpens,
    TrackClicks,
}

const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER IF NOT EXISTS event_log_notification_opened AFTER UPDATE OF opened_at ON notifications \
     WHEN OLD.opened_at IS NULL AND NEW.opened_at IS NOT NULL \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'notification.opened', NEW.id, NEW.batch_id, NEW.status, NEW.opened_at); END",
    "CREATE TRIGGER IF NOT EXISTS event_log_notification_clicked AFTER UPDATE OF clicked_at ON notifications \
     WHEN OLD.clicked_at IS NULL AND NEW.clicked_at IS NOT NULL \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'notification.clicked', NEW.id, NEW.batch_id, NEW.status, NEW.clicked_at); END",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE OR REPLACE FUNCTION event_log_engagement() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF OLD.opened_at IS NULL AND NEW.opened_at IS NOT NULL THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'notification.opened', NEW.id, NEW.batch_id, NEW.status, NEW.opened_at);
       END IF;
       IF OLD.clicked_at IS NULL AND NEW.clicked_at IS NOT NULL THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'notification.clicked', NEW.id, NEW.batch_id, NEW.status, NEW.clicked_at);
       END IF;
       RETURN NULL;
     END $$",
    "CREATE OR REPLACE TRIGGER event_log_engagement AFTER UPDATE OF opened_at, clicked_at ON notifications \
     FOR EACH ROW EXECUTE FUNCTION event_log_engagement()",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_notification_opened",
    "DROP TRIGGER IF EXISTS event_log_notification_clicked",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_engagement ON notifications",
    "DROP FUNCTION IF EXISTS event_log_engagement()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            boolean_null(Notifications::TrackOpens),
            boolean_null(Notifications::TrackClicks),
            timestamp_with_time_zone_null(Notifications::OpenedAt),
            timestamp_with_time_zone_null(Notifications::ClickedAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Notifications::Table)
                        .add_column_if_not_exists(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            boolean_null(Templates::TrackOpens),
            boolean_null(Templates::TrackClicks),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Templates::Table)
                        .add_column_if_not_exists(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        crate::statements::run(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::statements::run(manager, SQLITE_DOWN, POSTGRES_DOWN).await?;
        for column in [
            Notifications::TrackOpens,
            Notifications::TrackClicks,
            Notifications::OpenedAt,
            Notifications::ClickedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notifications::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Templates::TrackOpens, Templates::TrackClicks] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Templates::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
