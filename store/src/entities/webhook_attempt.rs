use sea_orm::entity::prelude::*;

/// One POST of a delivery (`m0025_webhooks`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    /// UUIDv7: attempts sort by time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub delivery_id: Uuid,
    pub event_id: i64,
    pub attempt: i32,
    pub attempted_at: DateTimeUtc,
    pub succeeded: bool,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    /// The first KiB of the receiver's answer, shown to the tenant, never sent anywhere.
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
