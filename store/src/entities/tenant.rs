use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTimeUtc,
    /// When an administrator disabled it: its keys are refused from then on.
    pub disabled_at: Option<DateTimeUtc>,
    /// Preferences every recipient of the tenant has unless they chose otherwise.
    pub preference_defaults: Option<Json>,
    /// Its share of the starts within a priority (see `notifications::claim_unstarted`).
    pub weight: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
