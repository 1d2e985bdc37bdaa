use sea_orm::entity::prelude::*;

/// An operator may see and repair this tenant's notifications.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "operator_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub operator_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
