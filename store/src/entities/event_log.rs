use sea_orm::entity::prelude::*;

/// One event of a tenant's log (written by the triggers of `m0020_event_log`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "event_log")]
pub struct Model {
    /// With `xact`, the cursor (`event_log::Cursor`): the log is read in (xact, id) order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The PostgreSQL transaction that wrote it (0 on SQLite); see `m0021_event_log_order`.
    pub xact: i64,
    pub tenant_id: Uuid,
    pub event_type: String,
    /// The notification, message or conversation it is about.
    pub subject_id: Uuid,
    /// Its batch (notifications), fallback (`notification.fallback`), conversation
    /// (messages) or contact (conversations).
    pub related_id: Option<Uuid>,
    /// The subject's status after the event (`edited`/`revoked` for `message.updated`).
    pub status: Option<String>,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
