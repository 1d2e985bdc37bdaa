use sea_orm::entity::prelude::*;

/// An in-app notification in its recipient's inbox (`m0023_inbox`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "inbox_items")]
pub struct Model {
    /// UUIDv7: the inbox's order, newest first.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The recipient profile whose inbox it is.
    pub recipient_id: Uuid,
    #[sea_orm(unique)]
    pub notification_id: Uuid,
    pub created_at: DateTimeUtc,
    /// When the recipient's app showed it (the badge count goes down).
    pub seen_at: Option<DateTimeUtc>,
    /// When the recipient read it (the notification becomes `read`).
    pub read_at: Option<DateTimeUtc>,
    pub archived_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
