use pombo_contract::conversation::{Direction, MessageKind};
use sea_orm::entity::prelude::*;

use super::Text;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub direction: Text<Direction>,
    pub kind: Text<MessageKind>,
    /// Sealed `{text, media}`.
    pub body: String,
    pub provider_message_id: Option<String>,
    pub reply_to: Option<String>,
    pub notification_id: Option<Uuid>,
    pub occurred_at: DateTimeUtc,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
