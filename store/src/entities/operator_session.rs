use sea_orm::entity::prelude::*;

/// A signed-in operator. The cookie carries the token; the row keeps its SHA-256.
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "operator_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the cookie's token, hex.
    pub token_hash: String,
    pub operator_id: Uuid,
    /// Sent back by the page in `X-CSRF-Token` on every state-changing request.
    pub csrf_token: String,
    pub created_at: DateTimeUtc,
    /// Absolute end: a session is not extended past it however active.
    pub expires_at: DateTimeUtc,
    /// For the idle timeout; written at most once a minute.
    pub last_seen_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorSession")
            .field("id", &self.id)
            .field("operator_id", &self.operator_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
