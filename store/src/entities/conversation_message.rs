use pombo_contract::conversation::{Direction, MediaState, MessageKind};
use sea_orm::entity::prelude::*;

use super::Text;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub direction: Text<Direction>,
    pub kind: Text<MessageKind>,
    /// Sealed `{text, media}`.
    pub body: String,
    pub provider_message_id: Option<String>,
    pub reply_to: Option<String>,
    pub notification_id: Option<Uuid>,
    pub occurred_at: DateTimeUtc,
    pub received_at: DateTimeUtc,
    /// An inbound file's fetch into object storage; `None` for a message without one.
    pub media_state: Option<Text<MediaState>>,
    /// The fetched file (`files`), once `media_state` is `stored`.
    pub file_id: Option<Uuid>,
    /// Why the fetch failed for good (`media_state` `failed`).
    pub media_error: Option<String>,
    /// A worker starting the fetch holds it until then.
    pub media_claimed_until: Option<DateTimeUtc>,
    /// When the fetch's workflow was started: a pending message without it is owed a start.
    pub media_started_at: Option<DateTimeUtc>,
    /// When the person last edited it.
    pub edited_at: Option<DateTimeUtc>,
    /// When the person deleted it for everyone (its text and file reference withdrawn).
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
