use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Unique per tenant; notifications may name the template by it.
    pub name: String,
    pub description: Option<String>,
    /// The default locale of the current version.
    pub default_locale: String,
    /// The version notifications use when they name none.
    pub current_version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The category of the notifications made from it, unless they name one.
    pub category: Option<String>,
    /// Whether its emails track opens and clicks, unless a notification says.
    pub track_opens: Option<bool>,
    pub track_clicks: Option<bool>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
