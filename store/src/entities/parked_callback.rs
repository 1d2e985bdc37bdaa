use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "parked_callbacks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The name of the provider account the report came through.
    pub provider: String,
    /// That account's id; `None` for a server-wide account (matched by name and no tenant).
    pub account_id: Option<Uuid>,
    /// That account's tenant; `None` for a server-wide account.
    pub tenant_id: Option<Uuid>,
    pub provider_message_id: String,
    pub event: Json,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
