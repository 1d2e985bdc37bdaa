use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "recipients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// SHA-256 of the tenant and the caller's id for the person (see `recipients`).
    pub external_id_digest: Option<String>,
    /// Every personal field as one JSON text, sealed (see `pombo_store::sealed`).
    pub profile: String,
    /// The person's choices ([`pombo_contract::preferences::Preferences`]); `None`: none made.
    pub preferences: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
