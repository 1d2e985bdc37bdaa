use pombo_contract::NotificationStatus;
use sea_orm::entity::prelude::*;

use super::Text;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub notification_id: Uuid,
    pub status: Text<NotificationStatus>,
    pub source: String,
    pub provider_message_id: Option<String>,
    pub raw_status: Option<String>,
    pub reason: Option<String>,
    pub code: Option<String>,
    pub occurred_at: DateTimeUtc,
    pub received_at: DateTimeUtc,
    pub dedupe_key: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
