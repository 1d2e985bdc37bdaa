use pombo_contract::{Channel, conversation::ConversationStatus};
use sea_orm::entity::prelude::*;

use super::Text;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub channel: Text<Channel>,
    pub contact_id: Uuid,
    /// The provider account's name; `provider_account_id` for a tenant's account.
    pub provider_account: String,
    pub provider_account_id: Option<Uuid>,
    pub status: Text<ConversationStatus>,
    pub unread: i32,
    pub last_message_at: DateTimeUtc,
    pub last_inbound_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
