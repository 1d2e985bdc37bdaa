use pombo_contract::Channel;
use sea_orm::entity::prelude::*;

use super::Text;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "suppressions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub channel: Text<Channel>,
    /// Keyed digest of the tenant, channel and address (see `suppressions`).
    pub address_digest: String,
    /// The address, sealed.
    pub address: String,
    /// `hard_bounce`, `complaint`, `refused`, `unsubscribed` or `manual`.
    pub reason: String,
    /// The provider's words, when a report gave them.
    pub detail: Option<String>,
    /// The notification whose report suppressed the address.
    pub notification_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
