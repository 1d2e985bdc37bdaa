use pombo_contract::hub::{ForwardKind, ForwardStatus};
use sea_orm::entity::prelude::*;

use super::Text;

/// What one platform is owed: a user, a room or a message to POST to it (`m0026_hub`).
/// Ids are UUIDv7: a platform's forwards go in id order.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "hub_forwards")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The platform it goes to.
    pub platform_id: Uuid,
    pub kind: Text<ForwardKind>,
    /// The user, room or message forwarded.
    pub subject_id: Uuid,
    /// The JSON body POSTed, sealed.
    pub body: String,
    pub status: Text<ForwardStatus>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
