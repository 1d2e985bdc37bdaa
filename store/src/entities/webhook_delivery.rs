use pombo_contract::webhooks::DeliveryStatus;
use sea_orm::entity::prelude::*;

use super::Text;

/// One event to deliver to one endpoint (`m0025_webhooks`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    /// The event's id in the log (`evt_<id>` on the wire); 0 for a test event.
    pub event_id: i64,
    /// With `event_id`, the event's place in the log: an ordered endpoint's order.
    pub event_xact: i64,
    pub event_type: String,
    /// The JSON body every attempt sends (ids and statuses, no personal data).
    pub payload: String,
    pub status: Text<DeliveryStatus>,
    pub attempts: i32,
    pub claimed_until: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
