use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "instance_states")]
pub struct Model {
    /// The account's callback key: a tenant account's id, or a server-wide account's name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_key: String,
    pub tenant_id: Option<Uuid>,
    /// `connected`, `pairing`, `connecting` or `disconnected`.
    pub connection: String,
    /// The gateway's own word.
    pub gateway_state: String,
    /// When the gateway said so.
    pub changed_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
