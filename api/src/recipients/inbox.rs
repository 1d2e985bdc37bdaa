//! A recipient's in-app inbox: what `in_app` notifications delivered to the profile
//! (`activities/src/inbox.rs`), read by the tenant's backend with its key, or straight from
//! the recipient's browser or app with a recipient token (`POST /v1/recipients/{id}/tokens`),
//! which reaches that recipient's inbox and the stream of its notifications and nothing
//! else. Marking an item read makes its notification `read`, as a provider's read receipt
//! would.

use std::marker::PhantomData;

use axum::{
    Json,
    extract::{FromRequestParts, RawQuery, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_contract::{NotificationStatus, content::InAppContent};
use pombo_store::{
    events::NewEvent,
    inbox::{self, Listing, Mark},
    recipients,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::{Authorized, CanRead, CanSend, RequiredScope},
    error::{ApiError, FieldError, Problem},
    extract::{JsonBody, PathParams},
    state::AppState,
};

/// Who reads or marks an inbox: a key holding `S`, or a recipient token, which acts as one
/// recipient only.
pub struct InboxAccess<S> {
    tenant_id: Uuid,
    /// Set for a recipient token: the one profile it may act as.
    as_recipient: Option<Uuid>,
    _scope: PhantomData<fn() -> S>,
}

impl<S: RequiredScope> FromRequestParts<AppState> for InboxAccess<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // API keys have no dots; a JWT has two.
        if let Some(token) = crate::auth::bearer(&parts.headers).filter(|t| t.contains('.')) {
            let claims = crate::stream::checked_token(state, token).await?;
            let Some(recipient) = claims.recipient else {
                return Err(ApiError::Forbidden(
                    "a stream token opens the stream only: an inbox needs a recipient token or a key"
                        .into(),
                ));
            };
            state
                .rate_limiter
                .check_request(&parts.extensions, claims.sub)?;
            return Ok(InboxAccess {
                tenant_id: claims.sub,
                as_recipient: Some(recipient),
                _scope: PhantomData,
            });
        }
        let tenant = Authorized::<S>::from_request_parts(parts, state).await?;
        Ok(InboxAccess {
            tenant_id: tenant.id,
            as_recipient: None,
            _scope: PhantomData,
        })
    }
}

impl<S> InboxAccess<S> {
    /// The tenant these credentials act for.
    pub(crate) fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// The profile at `id` (its id or external_id), if these credentials may act on it.
    pub(crate) async fn recipient(&self, state: &AppState, id: &str) -> Result<Uuid, ApiError> {
        let found = recipients::find(&state.db, self.tenant_id, id)
            .await
            .map_err(ApiError::unless_found("recipient"))?;
        match self.as_recipient {
            Some(allowed) if allowed != found.id => Err(ApiError::Forbidden(
                "this recipient token is for another recipient".into(),
            )),
            _ => Ok(found.id),
        }
    }
}

/// An in-app message in the inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxItemView {
    /// The item: pass it to `mark`. Also the newest-first order of the inbox.
    pub id: Uuid,
    pub notification_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub seen_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    /// What it says, rendered; `null` once retention purged it.
    pub content: Option<InAppContent>,
}

/// How many items the inbox holds (archived ones left out), unread and unseen.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxCounts {
    pub total: u64,
    pub unread: u64,
    pub unseen: u64,
}

impl From<inbox::Counts> for InboxCounts {
    fn from(c: inbox::Counts) -> Self {
        InboxCounts {
            total: c.total,
            unread: c.unread,
            unseen: c.unseen,
        }
    }
}

/// A page of the inbox, with its counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPage {
    pub data: Vec<InboxItemView>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<String>,
    pub counts: InboxCounts,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// `true`: only items not read yet.
    #[param(value_type = Option<bool>, nullable = false)]
    pub unread: Option<String>,
    /// `true`: the archived items instead of the others.
    #[param(value_type = Option<bool>, nullable = false)]
    pub archived: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<String>, nullable = false)]
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(value_type = Option<u64>, nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

fn flag(name: &str, value: Option<&str>, errors: &mut Vec<FieldError>) -> bool {
    match value {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push(FieldError::new(name, "must be `true` or `false`"));
            false
        }
    }
}

/// A recipient's inbox, newest first.
///
/// With the tenant's key, or with a recipient token for this recipient (the recipient's own
/// app, in a browser).
#[utoipa::path(
    get, path = "/v1/recipients/{id}/inbox", tag = "recipients",
    params(("id" = String, Path, description = "The profile's id, or else its external_id"), InboxQuery),
    responses(
        (status = 200, description = "A page of the inbox", body = InboxPage),
        (status = 404, description = "No such profile for this tenant", body = Problem),
        (status = 422, description = "Invalid parameter, naming each", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    access: InboxAccess<CanRead>,
    PathParams(id): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<InboxPage>, ApiError> {
    let query: InboxQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let unread = flag("unread", query.unread.as_deref(), &mut errors);
    let archived = flag("archived", query.archived.as_deref(), &mut errors);
    let (limit, before) =
        crate::paging::parse(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let recipient = access.recipient(&state, &id).await?;
    let rows = inbox::list(
        &state.db,
        access.tenant_id,
        recipient,
        &Listing {
            unread,
            archived,
            before,
            limit: limit + 1,
        },
    )
    .await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |(item, _)| item.id);
    let counts = inbox::counts(&state.db, access.tenant_id, recipient).await?;
    Ok(Json(InboxPage {
        data: rows
            .into_iter()
            .map(|(item, n)| InboxItemView {
                id: item.id,
                notification_id: item.notification_id,
                created_at: item.created_at,
                seen_at: item.seen_at,
                read_at: item.read_at,
                archived_at: item.archived_at,
                content: n
                    .rendered
                    .and_then(|r| serde_json::from_value::<InAppContent>(r).ok()),
            })
            .collect(),
        next_cursor,
        counts: counts.into(),
    }))
}

/// What to mark, and as what.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkInbox {
    /// Item ids; absent: every item of the inbox.
    pub items: Option<Vec<Uuid>>,
    /// `seen` (the badge goes down), `read` (also seen; the notification becomes `read`),
    /// `unread`, `archived` or `unarchived`.
    #[serde(rename = "as")]
    #[schema(rename = "as", pattern = "^(seen|read|unread|archived|unarchived)$")]
    pub mark: String,
}

/// What marking did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Marked {
    /// Notifications that became `read` by this.
    pub read_now: usize,
    pub counts: InboxCounts,
}

/// Mark items of a recipient's inbox (some, or all) seen, read, unread, archived or
/// unarchived.
///
/// Reading one makes its notification `read` (its timeline says `inbox`), the end of an
/// in-app delivery; the event stream and the event log tell it like any status.
#[utoipa::path(
    post, path = "/v1/recipients/{id}/inbox/mark", tag = "recipients",
    params(("id" = String, Path, description = "The profile's id, or else its external_id")),
    request_body = MarkInbox,
    responses(
        (status = 200, description = "Marked", body = Marked),
        (status = 404, description = "No such profile for this tenant", body = Problem),
        (status = 422, description = "Invalid fields, naming each", body = Problem),
    ),
    security(("api_key" = ["send"]))
)]
pub async fn mark(
    State(state): State<AppState>,
    access: InboxAccess<CanSend>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<MarkInbox>,
) -> Result<Json<Marked>, ApiError> {
    let mut errors = Vec::new();
    let mark = match body.mark.as_str() {
        "seen" => Some(Mark::Seen),
        "read" => Some(Mark::Read),
        "unread" => Some(Mark::Unread),
        "archived" => Some(Mark::Archived),
        "unarchived" => Some(Mark::Unarchived),
        _ => {
            errors.push(FieldError::new(
                "as",
                "must be seen, read, unread, archived or unarchived",
            ));
            None
        }
    };
    if body
        .items
        .as_ref()
        .is_some_and(|i| i.is_empty() || i.len() > 1000)
    {
        errors.push(FieldError::new(
            "items",
            "give 1 to 1000 item ids, or leave it out to mark every item",
        ));
    }
    let (Some(mark), true) = (mark, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let recipient = access.recipient(&state, &id).await?;
    let now = Utc::now();
    let read_now = inbox::mark(
        &state.db,
        access.tenant_id,
        recipient,
        body.items.as_deref(),
        mark,
        now,
    )
    .await?;
    for notification in &read_now {
        let recorded = pombo_store::events::record(
            &state.db,
            *notification,
            NewEvent {
                occurred_at: Some(now),
                ..NewEvent::new(NotificationStatus::Read, "inbox", "read")
            },
        )
        .await?;
        if recorded.moved {
            state
                .dispatcher
                .signal_delivery(
                    *notification,
                    pombo_contract::delivery::DeliveryUpdate {
                        status: recorded.status,
                        occurred_at: now,
                        source: "inbox".into(),
                    },
                )
                .await;
        }
    }
    let counts = inbox::counts(&state.db, access.tenant_id, recipient).await?;
    Ok(Json(Marked {
        read_now: read_now.len(),
        counts: counts.into(),
    }))
}

/// A recipient token.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientToken {
    /// `Authorization: Bearer <token>` on this recipient's inbox routes, or `token=` on the
    /// event stream (which then carries this recipient's notifications only).
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecipientToken {
    /// Seconds it stays valid: 1 to `stream.token_max_secs` (3600 by default); default 900.
    pub expires_in: Option<u64>,
}

/// A short-lived token for one recipient's own app: it reads and marks that recipient's
/// inbox and follows the stream of its notifications, and nothing else.
///
/// Made by the tenant's backend (with its key) for a signed-in user, whose browser must
/// never hold an API key.
#[utoipa::path(
    post, path = "/v1/recipients/{id}/tokens", tag = "recipients",
    params(("id" = String, Path, description = "The profile's id, or else its external_id")),
    request_body = CreateRecipientToken,
    responses(
        (status = 201, description = "The token", body = RecipientToken),
        (status = 404, description = "No such profile for this tenant", body = Problem),
        (status = 422, description = "Invalid fields, naming each", body = Problem),
    ),
    security(("api_key" = ["send"]))
)]
pub async fn create_token(
    State(state): State<AppState>,
    tenant: Authorized<CanSend>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<CreateRecipientToken>,
) -> Result<Response, ApiError> {
    let secs = state
        .streams
        .tokens
        .lifetime(body.expires_in)
        .map_err(|e| ApiError::Validation(vec![e]))?;
    let found = recipients::find(&state.db, tenant.id, &id)
        .await
        .map_err(ApiError::unless_found("recipient"))?;
    let (token, expires) = state
        .streams
        .tokens
        .mint_for_recipient(tenant.id, found.id, secs);
    Ok((
        StatusCode::CREATED,
        Json(RecipientToken {
            token,
            expires_at: DateTime::from_timestamp(expires as i64, 0).unwrap_or_default(),
        }),
    )
        .into_response())
}
