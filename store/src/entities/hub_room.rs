use sea_orm::entity::prelude::*;

/// A room, under the id its original platform gave it (`m0026_hub`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "hub_rooms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The platform that created it (`roomOriginalPlatform`).
    pub platform_id: Uuid,
    pub external_id: i64,
    pub name: String,
    /// `private` or `public`.
    pub kind: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
