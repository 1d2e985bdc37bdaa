//! Conversations: what people write to a tenant's provider accounts, and the tenant's
//! side of it. `GET /v1/conversations` (filter by channel, status, contact),
//! `GET /v1/conversations/{id}`, `GET /v1/conversations/{id}/messages` (both directions,
//! newest first), `PATCH /v1/conversations/{id}` (close, reopen) and
//! `POST /v1/conversations/{id}/read`, and `POST /v1/conversations/{id}/messages`: a reply,
//! which is an ordinary notification (its workflow, retries, reports and timeline) to the
//! contact, through the conversation's account first, recorded as an outbound message.
//!
//! Replying, closing and reopening need a key's `send` or a signed-in operator's `operate`
//! (`auth::CanAnswer`, which says why); what an operator does here is audited.
//!
//! Inbound messages arrive on the provider callback routes (`crate::callbacks`), stored by
//! `pombo_store::conversations::receive` before the provider hears 2xx.

use axum::{
    Json,
    extract::{RawQuery, State},
};
use chrono::{DateTime, Utc};
use pombo_contract::{
    Channel, NotificationStatus,
    conversation::{ConversationStatus, Direction, MediaState, MessageKind},
};
use pombo_store::conversations::{self, Conversation, ListFilter, Message};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::{Authorized, CanAnswer, CanRead, CanSend};
use crate::{
    error::{ApiError, FieldError, Problem},
    extract::{JsonBody, PathParams, Tenant},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, update))
        .routes(routes!(messages, reply))
        .routes(routes!(mark_read))
}

/// A conversation as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    pub id: Uuid,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub contact: ContactView,
    /// The provider account the contact writes to, and its id for a tenant's account.
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_account_id: Option<Uuid>,
    /// Inbound messages not marked read.
    pub unread: i32,
    pub last_message_at: DateTime<Utc>,
    /// The contact's last message (WhatsApp's 24-hour window counts from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Who the tenant talks with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub id: Uuid,
    /// The address replies go to: a phone number, a platform id.
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub data: Vec<ConversationView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A message of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    pub direction: Direction,
    #[serde(rename = "type")]
    pub kind: MessageKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The file an inbound message carries: where the provider keeps it, and its fetch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MessageMedia>,
    /// The file, once fetched into Pombo's storage (`GET /v1/files/{id}` downloads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// The provider's id of the message this one answers or reacts to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The notification that sent an outbound message (its attempts and timeline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<Uuid>,
    /// An outbound message's delivery: `pending`, `sent`, `delivered`, `read`, `failed`…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<NotificationStatus>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// When the person last edited it (it shows the new text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<DateTime<Utc>>,
    /// When the person deleted it for everyone (its text and file reference are withdrawn).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The file of an inbound message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageMedia {
    /// The provider's reference: its media id, file id, message key or URL.
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// `pending` while a worker fetches it (retrying while the provider fails), `stored`
    /// once it is the message's `file_id`, `failed` when it could not be fetched (`error`).
    pub status: MediaState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a message received before files were fetched says of its file.
const NOT_FETCHED: &str =
    "received before Pombo fetched files; only the provider's reference is kept";

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        let media = m.media.map(|media| {
            let (status, error) = match m.media_state {
                Some(state) => (state, m.media_error),
                None => (MediaState::Failed, Some(NOT_FETCHED.to_owned())),
            };
            MessageMedia {
                reference: media.reference,
                content_type: media.content_type,
                filename: media.filename,
                status,
                error,
            }
        });
        MessageView {
            id: m.id,
            direction: m.direction,
            kind: m.kind,
            text: m.text,
            media,
            file_id: m.file_id,
            provider_message_id: m.provider_message_id,
            reply_to: m.reply_to,
            notification_id: m.notification_id,
            status: m.status,
            occurred_at: m.occurred_at,
            received_at: m.received_at,
            edited_at: m.edited_at,
            revoked_at: m.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub data: Vec<MessageView>,
    /// Pass as `cursor` for older messages; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

async fn view(state: &AppState, c: Conversation) -> Result<ConversationView, ApiError> {
    let contact = conversations::contact(&state.db, c.tenant_id, c.contact_id).await?;
    Ok(ConversationView {
        id: c.id,
        channel: *c.channel,
        status: *c.status,
        contact: ContactView {
            id: c.contact_id,
            address: contact.address,
            name: contact.name,
        },
        provider: c.provider_account,
        provider_account_id: c.provider_account_id,
        unread: c.unread,
        last_message_at: c.last_message_at,
        last_inbound_at: c.last_inbound_at,
        created_at: c.created_at,
    })
}

async fn owned(state: &AppState, tenant: &Tenant, id: &str) -> Result<Conversation, ApiError> {
    let not_found = || ApiError::NotFound(format!("no conversation `{id}`"));
    let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
    match conversations::get(&state.db, tenant.id, uuid).await {
        Ok(c) => Ok(c),
        Err(pombo_store::StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(value_type = Option<Channel>, nullable = false)]
    pub channel: Option<String>,
    /// `open` or `closed`.
    #[param(value_type = Option<ConversationStatus>, nullable = false)]
    pub status: Option<String>,
    /// Only this contact's conversations (`contact.id`).
    #[param(value_type = Option<Uuid>, nullable = false)]
    pub contact: Option<String>,
    /// 1 to 200, default 50.
    #[param(value_type = Option<u64>, nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>, nullable = false)]
    pub cursor: Option<String>,
}

/// The tenant's conversations, newest first.
#[utoipa::path(
    get, path = "/v1/conversations", tag = "conversations",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of conversations", body = ConversationPage),
        (status = 422, description = "Invalid filter, naming each bad parameter", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ConversationPage>, ApiError> {
    let query: ListQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let channel = query.channel.as_deref().and_then(|c| {
        c.parse::<Channel>()
            .map_err(|e| errors.push(FieldError::new("channel", e)))
            .ok()
    });
    let status = query.status.as_deref().and_then(|s| {
        s.parse::<ConversationStatus>()
            .map_err(|e| errors.push(FieldError::new("status", e)))
            .ok()
    });
    let contact_id = query.contact.as_deref().and_then(|c| {
        Uuid::parse_str(c)
            .map_err(|_| errors.push(FieldError::new("contact", "must be a contact id")))
            .ok()
    });
    let (limit, before) =
        crate::paging::parse(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows = conversations::list(
        &state.db,
        tenant.id,
        &ListFilter {
            channel,
            status,
            contact_id,
            before,
            limit: limit + 1,
        },
    )
    .await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |c| c.id);
    let mut data = Vec::with_capacity(rows.len());
    for c in rows {
        data.push(view(&state, c).await?);
    }
    Ok(Json(ConversationPage { data, next_cursor }))
}

/// One conversation.
#[utoipa::path(
    get, path = "/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation", body = ConversationView),
        (status = 404, description = "No such conversation for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ConversationView>, ApiError> {
    let c = owned(&state, &tenant, &id).await?;
    view(&state, c).await.map(Json)
}

/// A change to a conversation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationPatch {
    /// `closed` closes it (the contact's next message opens it again); `open` reopens it.
    pub status: ConversationStatus,
}

/// Close or reopen a conversation.
#[utoipa::path(
    patch, path = "/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    request_body = ConversationPatch,
    responses(
        (status = 200, description = "The conversation after the change", body = ConversationView),
        (status = 404, description = "No such conversation for this tenant", body = Problem),
        (status = 422, description = "Invalid body, naming the field", body = Problem),
    ),
    security(("api_key" = ["send"]), ("operator_session" = ["operate"]))
)]
pub async fn update(
    State(state): State<AppState>,
    tenant: Authorized<CanAnswer>,
    PathParams(id): PathParams<String>,
    JsonBody(patch): JsonBody<ConversationPatch>,
) -> Result<Json<ConversationView>, ApiError> {
    let c = owned(&state, &tenant, &id).await?;
    let c = conversations::set_status(&state.db, tenant.id, c.id, patch.status).await?;
    let action = match patch.status {
        ConversationStatus::Closed => "conversation.close",
        ConversationStatus::Open => "conversation.reopen",
    };
    audit_operator(&state, &tenant, action, c.id, serde_json::json!({})).await?;
    view(&state, c).await.map(Json)
}

/// What an operator does in a conversation goes to the audit log, as its redrives and
/// cancels do: a person answering for the tenant is named there. A key's replies are the
/// tenant's own traffic (its notifications), and are not.
async fn audit_operator(
    state: &AppState,
    tenant: &Tenant,
    action: &str,
    conversation: Uuid,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    if tenant.operator.is_some() {
        pombo_store::audit::record(
            &state.db,
            tenant.id,
            &tenant.actor(),
            tenant.key_id,
            action,
            Some(conversation.to_string()),
            details,
        )
        .await?;
    }
    Ok(())
}

/// A conversation after it was read, and what its provider was told.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadView {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub receipt: ReadReceipt,
}

/// The read receipt sent to the contact (WhatsApp's blue ticks), where the provider has one.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadReceipt {
    pub status: ReceiptStatus,
    /// How many messages it named.
    pub messages: usize,
    /// Why it failed (the conversation is marked read all the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// The provider took it.
    Sent,
    /// The provider has no read receipts (SMS, Telegram bots, Callbell, …).
    NoSuchCall,
    /// Nothing was unread: nothing to tell.
    NothingUnread,
    /// The provider refused it, could not be reached, or the account is gone.
    Failed,
}

/// How long a read receipt may take before the API answers without it.
const RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Mark the conversation's inbound messages read.
///
/// The messages that were unread (the newest 100) are then named in the provider's read
/// receipt where it has one (WhatsApp Cloud `status: read`, Evolution
/// `markMessageAsRead`, WAHA `sendSeen`, Instagram `mark_seen`), and `receipt` says how
/// that went. A receipt is sent once and not retried: the conversation is read whatever
/// the provider says.
#[utoipa::path(
    post, path = "/v1/conversations/{id}/read", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation, with no unread messages, and the provider's read receipt", body = ReadView),
        (status = 404, description = "No such conversation for this tenant", body = Problem),
    ),
    security(("api_key" = ["send"]))
)]
pub async fn mark_read(
    State(state): State<AppState>,
    tenant: Authorized<CanSend>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ReadView>, ApiError> {
    let c = owned(&state, &tenant, &id).await?;
    let (c, read_ids) = conversations::mark_read(&state.db, tenant.id, c.id).await?;
    let receipt = send_read_receipt(&state, &c, &read_ids).await;
    if let Some(error) = &receipt.error {
        tracing::warn!(conversation = %c.id, %error, "the read receipt was not sent");
    }
    Ok(Json(ReadView {
        conversation: view(&state, c).await?,
        receipt,
    }))
}

/// Tells the conversation's provider that `read_ids` were read, through the same guarded
/// clients as sends (a tenant's account is held to the outbound rule).
async fn send_read_receipt(state: &AppState, c: &Conversation, read_ids: &[String]) -> ReadReceipt {
    let outcome = |status, error: Option<String>| ReadReceipt {
        status,
        messages: if status == ReceiptStatus::Sent {
            read_ids.len()
        } else {
            0
        },
        error,
    };
    if read_ids.is_empty() {
        return outcome(ReceiptStatus::NothingUnread, None);
    }
    let failed = |error: String| outcome(ReceiptStatus::Failed, Some(error));
    let account = match crate::callbacks::handler::find_account(state, &account_key(c)).await {
        Ok(Some(account)) => account,
        Ok(None) => return failed("the conversation's provider account no longer exists".into()),
        Err(_) => return failed("the conversation's provider account could not be read".into()),
    };
    let trust = if account.tenant_account.is_some() {
        pombo_providers::outbound::Trust::Tenant
    } else {
        pombo_providers::outbound::Trust::Operator
    };
    let client = match pombo_providers::Client::new(&account.settings, &state.providers, trust) {
        Ok(client) => client,
        Err(e) => return failed(e.message),
    };
    let contact = match conversations::contact(&state.db, c.tenant_id, c.contact_id).await {
        Ok(contact) => contact,
        Err(_) => return failed("the contact could not be read".into()),
    };
    let read = pombo_providers::Read {
        contact: &contact.address,
        message_ids: read_ids,
    };
    match tokio::time::timeout(RECEIPT_TIMEOUT, client.mark_read(read)).await {
        Ok(Ok(pombo_providers::Receipt::Sent)) => outcome(ReceiptStatus::Sent, None),
        Ok(Ok(pombo_providers::Receipt::NoSuchCall)) => outcome(ReceiptStatus::NoSuchCall, None),
        Ok(Err(e)) => failed(e.to_string()),
        Err(_) => failed(format!(
            "the provider did not answer within {} s",
            RECEIPT_TIMEOUT.as_secs()
        )),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// 1 to 200, default 50.
    #[param(value_type = Option<u64>, nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>, nullable = false)]
    pub cursor: Option<String>,
}

/// The conversation's messages, both directions, newest first.
#[utoipa::path(
    get, path = "/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), MessagesQuery),
    responses(
        (status = 200, description = "A page of messages", body = MessagePage),
        (status = 404, description = "No such conversation for this tenant, or no such cursor", body = Problem),
        (status = 422, description = "Invalid parameter", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn messages(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MessagePage>, ApiError> {
    let c = owned(&state, &tenant, &id).await?;
    let query: MessagesQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let (limit, before) =
        crate::paging::parse(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows = match conversations::messages(&state.db, tenant.id, c.id, before, limit + 1).await {
        Ok(rows) => rows,
        Err(pombo_store::StoreError::NotFound) => {
            return Err(ApiError::NotFound(
                "no such cursor in this conversation".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let (rows, next_cursor) = crate::paging::page(rows, limit, |m| m.id);
    Ok(Json(MessagePage {
        data: rows.into_iter().map(MessageView::from).collect(),
        next_cursor,
    }))
}

/// A reply in a conversation: the content of a notification on the conversation's channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Shaped as a notification's `content` on the conversation's channel: `{"text"}`,
    /// `{"media": {"file_id" or "url", "kind", "caption"?}}`, or on WhatsApp
    /// `{"template": {"name", "language", "parameters"?}}`. Give `content` or `template`.
    #[schema(value_type = Option<Object>)]
    pub content: Option<serde_json::Value>,
    /// A stored template instead of inline `content`.
    pub template: Option<crate::templates::TemplateRef>,
    /// Values for the content's placeholders.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// Repeating a reply with the same key returns the first and sends nothing again.
    pub idempotency_key: Option<String>,
}

/// What a reply answers: the message in the conversation and the notification that sends it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyAccepted {
    pub message: MessageView,
    /// Follow its delivery at `GET /v1/notifications/{notification_id}`.
    pub notification_id: Uuid,
}

/// Reply in the conversation.
///
/// The reply is a notification to the contact on the conversation's channel, through the
/// conversation's account first; it is accepted when stored (202), and its delivery shows
/// on the message (`status`) and on the notification. On WhatsApp through the Cloud API,
/// free-form messages are only allowed within 24 hours of the contact's last message:
/// outside that window only a template (`content.template`) can be sent, and other inline
/// content is a 422 saying so (a stored `template` is left to the provider to judge).
#[utoipa::path(
    post, path = "/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    request_body = Reply,
    responses(
        (status = 202, description = "Accepted: stored, and on its way", body = ReplyAccepted),
        (status = 404, description = "No such conversation for this tenant", body = Problem),
        (status = 422, description = "Invalid content, naming the field; or a free-form WhatsApp message outside the 24-hour window", body = Problem),
    ),
    security(("api_key" = ["send"]), ("operator_session" = ["operate"]))
)]
pub async fn reply(
    State(state): State<AppState>,
    tenant: Authorized<CanAnswer>,
    PathParams(id): PathParams<String>,
    JsonBody(reply): JsonBody<Reply>,
) -> Result<(axum::http::StatusCode, Json<ReplyAccepted>), ApiError> {
    let c = owned(&state, &tenant, &id).await?;
    let (notification, replayed, message_id, kind, text) = send_reply(&state, &c, reply).await?;
    let at = notification.created_at;
    if !replayed {
        audit_operator(
            &state,
            &tenant,
            "conversation.reply",
            c.id,
            serde_json::json!({"notification_id": notification.id}),
        )
        .await?;
    }
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(ReplyAccepted {
            message: MessageView {
                id: message_id,
                direction: Direction::Outbound,
                kind,
                text,
                media: None,
                file_id: None,
                provider_message_id: None,
                reply_to: None,
                notification_id: Some(notification.id),
                status: Some(*notification.status),
                occurred_at: at,
                received_at: at,
                edited_at: None,
                revoked_at: None,
            },
            notification_id: notification.id,
        }),
    ))
}

/// What a reply came to: its notification, whether that was an idempotent replay, the
/// conversation's message, its kind and text.
pub(crate) type Replied = (
    pombo_store::notifications::Notification,
    bool,
    Uuid,
    MessageKind,
    Option<String>,
);

/// Sends `reply` in the conversation `c` (the reply route's work, also the chat hub's for a
/// room message to a bridged conversation): checks the provider's reply window, accepts
/// the notification through the conversation's account first, records the message.
pub(crate) async fn send_reply(
    state: &AppState,
    c: &Conversation,
    reply: Reply,
) -> Result<Replied, ApiError> {
    // The provider's reply window (Meta's customer-service window): outside it, a template
    // or nothing.
    if reply.template.is_none()
        && !is_whatsapp_template(reply.content.as_ref())
        && let Some((provider, window)) = reply_window(state, c).await?
    {
        let now = Utc::now();
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let open_until = c.last_inbound_at.map(|t| t + window);
        if open_until.is_none_or(|until| until < now) {
            let since = match c.last_inbound_at {
                Some(t) => format!("the contact last wrote at {}", t.to_rfc3339()),
                None => "the contact has not written in this conversation".to_owned(),
            };
            return Err(ApiError::field(
                "content",
                format!(
                    "`{provider}` only takes free-form messages within {} hours of the contact's last message, and {since}: send a template (`content.template`) instead",
                    window.num_hours()
                ),
            ));
        }
    }
    let contact = conversations::contact(&state.db, c.tenant_id, c.contact_id).await?;
    // A reply from a stored template shows no text here: its notification has the rendering.
    let (kind, text) = reply
        .content
        .as_ref()
        .map_or((MessageKind::Text, None), MessageKind::of_outbound);
    let request: crate::notifications::request::CreateNotification =
        serde_json::from_value(serde_json::json!({
            "channel": *c.channel,
            "to": contact.address,
            "content": reply.content,
            "template": reply.template,
            "data": reply.data,
            "idempotency_key": reply.idempotency_key,
        }))
        .map_err(|e| ApiError::field("content", e.to_string()))?;
    let (notification, replayed) =
        crate::notifications::accept(state, c.tenant_id, None, request, c.provider_account_id)
            .await?;
    let at = notification.created_at;
    let message_id =
        conversations::record_outbound(&state.db, c, notification.id, kind, text.clone(), at)
            .await?;
    Ok((notification, replayed, message_id, kind, text))
}

/// How the conversation names its account: a tenant account's id, or a server-wide
/// account's name (what [`crate::callbacks::handler::find_account`] takes).
fn account_key(c: &Conversation) -> String {
    match c.provider_account_id {
        Some(id) => id.to_string(),
        None => c.provider_account.clone(),
    }
}

/// The provider of the conversation's account and its reply window, when it has one.
async fn reply_window(
    state: &AppState,
    c: &Conversation,
) -> Result<Option<(&'static str, std::time::Duration)>, ApiError> {
    Ok(
        crate::callbacks::handler::find_account(state, &account_key(c))
            .await?
            .and_then(|account| {
                let settings = &account.settings;
                settings.reply_window().map(|w| (settings.kind(), w))
            }),
    )
}

/// Whether the content is a WhatsApp message template (allowed outside the 24-hour window).
fn is_whatsapp_template(content: Option<&serde_json::Value>) -> bool {
    content.is_some_and(|c| c.get("template").is_some())
}
