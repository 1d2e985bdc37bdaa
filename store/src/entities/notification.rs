use pombo_contract::{Channel, NotificationStatus, Priority};
use sea_orm::entity::prelude::*;

use super::Text;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub channel: Text<Channel>,
    pub recipient: String,
    /// The caller's content, before rendering (`EmailContent` for email).
    pub content: Json,
    /// Values for the content's placeholders.
    pub data: Option<Json>,
    /// What was sent, after rendering (`RenderedEmail` for email).
    pub rendered: Option<Json>,
    pub priority: Text<Priority>,
    pub notification_type: Option<String>,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request, to tell a retried request from a different one reusing a key.
    pub request_hash: String,
    pub status: Text<NotificationStatus>,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The provider account's name.
    pub provider: Option<String>,
    /// The tenant account that sent it; `None` for a server-wide account (or not sent yet).
    /// Delivery reports match by it, not by the name alone (names are unique per tenant).
    pub provider_account_id: Option<Uuid>,
    pub provider_message_id: Option<String>,
    pub max_attempts: i32,
    pub retry_interval_secs: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When its workflow was started; `None` means the dispatch sweep still owes a start.
    pub dispatched_at: Option<DateTimeUtc>,
    pub sending_at: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub read_at: Option<DateTimeUtc>,
    pub failed_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    /// `{channel, to, content}` to send once if this one is not delivered in time or fails.
    pub fallback: Option<Json>,
    /// The fallback notification, once created.
    pub fallback_id: Option<Uuid>,
    /// For a fallback: the notification it stands in for.
    pub parent_id: Option<Uuid>,
    /// The stored template the content came from, with its version and locale.
    pub template_id: Option<Uuid>,
    pub template_version: Option<i32>,
    pub template_locale: Option<String>,
    /// The recipient profile the address was taken from (the address is a snapshot).
    pub recipient_id: Option<Uuid>,
    /// The routing rule that chose the channel or the provider account.
    pub routing_rule_id: Option<Uuid>,
    /// The tenant provider account that rule put first.
    pub preferred_provider_id: Option<Uuid>,
    /// Not sent before this time (`None`: at once).
    pub send_at: Option<DateTimeUtc>,
    /// The bulk send this notification is a recipient of; its batch's workflow sends it.
    pub batch_id: Option<Uuid>,
    /// When retention purged its personal data (recipient, content, data, rendered,
    /// fallback); `None` while it is kept.
    pub purged_at: Option<DateTimeUtc>,
    /// A worker is starting its workflow until then (see
    /// [`crate::notifications::claim_unstarted`]).
    pub start_claimed_until: Option<DateTimeUtc>,
    /// What kind of message it is for the recipient's preferences (`promo`, `newsletter`);
    /// `None` on rows from before categories (their type or priority stands for it).
    pub category: Option<String>,
    /// When it was skipped (the recipient's preferences or the suppression list).
    pub skipped_at: Option<DateTimeUtc>,
    /// The digest it went out in (see `digests`).
    pub digested_into: Option<Uuid>,
    /// Its email carries an open pixel / tracked links (`None`: rows from before).
    pub track_opens: Option<bool>,
    pub track_clicks: Option<bool>,
    /// When its email was first opened / a tracked link first followed.
    pub opened_at: Option<DateTimeUtc>,
    pub clicked_at: Option<DateTimeUtc>,
    /// The W3C `traceparent` of the request that accepted it (traces on only), continued by
    /// whichever process starts its workflow.
    pub trace_context: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
