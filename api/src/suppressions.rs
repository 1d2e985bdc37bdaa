//! The tenant's suppression list (`/v1/suppressions`): addresses that bounced for good,
//! complained, were refused by a provider, or unsubscribed without a profile. Sends to them
//! end `skipped` with reason `suppressed`. Operators review it; lifting an entry lets the
//! address be sent to again. Entries come from delivery reports; one can also be added by
//! hand (an address known to be dead).

use axum::{
    Json,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_contract::{Channel, recipient};
use pombo_store::suppressions::{self, Suppression};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::{Authorized, CanManage, CanOperate, CanRead},
    error::{ApiError, FieldError, Problem},
    extract::{JsonBody, PathParams},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(lift))
}

/// An address that is not sent to on a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionView {
    pub id: Uuid,
    pub channel: Channel,
    pub address: String,
    /// `hard_bounce`, `complaint`, `refused`, `unsubscribed` or `manual`.
    pub reason: String,
    /// The provider's words, when a report gave them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The notification whose report put it here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<Suppression> for SuppressionView {
    fn from(s: Suppression) -> Self {
        SuppressionView {
            id: s.id,
            channel: s.channel,
            address: s.address,
            reason: s.reason,
            detail: s.detail,
            notification_id: s.notification_id,
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionPage {
    pub data: Vec<SuppressionView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    channel: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// The suppression list, newest first.
#[utoipa::path(
    get, path = "/v1/suppressions", tag = "recipients",
    params(
        ("channel" = Option<Channel>, Query, description = "Only this channel's"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<Uuid>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of suppressed addresses", body = SuppressionPage),
        (status = 422, description = "Invalid parameters", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SuppressionPage>, ApiError> {
    let query: ListQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let channel = match query.channel.as_deref().map(str::parse::<Channel>) {
        None => None,
        Some(Ok(channel)) => Some(channel),
        Some(Err(e)) => {
            errors.push(FieldError::new("channel", e));
            None
        }
    };
    let (limit, before) =
        crate::paging::parse(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows = suppressions::list(&state.db, tenant.id, channel, before, limit + 1).await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |s| s.id);
    Ok(Json(SuppressionPage {
        data: rows.into_iter().map(SuppressionView::from).collect(),
        next_cursor,
    }))
}

/// An address to suppress by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSuppression {
    pub channel: Channel,
    /// In the channel's format (an email address, an E.164 number…).
    pub address: String,
    /// Why, for whoever reads the list.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Suppress an address (reason `manual`); an address already on the list stays as it is.
#[utoipa::path(
    post, path = "/v1/suppressions", tag = "recipients",
    request_body = AddSuppression,
    responses(
        (status = 201, description = "Added"),
        (status = 200, description = "Already on the list"),
        (status = 422, description = "Invalid fields", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn add(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    JsonBody(body): JsonBody<AddSuppression>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    if body.channel == Channel::InApp {
        errors.push(FieldError::new(
            "channel",
            "an in-app inbox has no address to suppress: change the recipient's preferences",
        ));
    } else if let Err(e) = recipient::validate(body.channel, &body.address, &state.config.outbound)
    {
        errors.push(FieldError::new("address", e.0));
    }
    if body
        .detail
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        errors.push(FieldError::new("detail", "at most 500 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let added = suppressions::add(
        &state.db,
        tenant.id,
        body.channel,
        &body.address,
        "manual",
        body.detail,
        None,
    )
    .await?;
    Ok(if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
    .into_response())
}

/// Lift a suppression: the address may be sent to again.
#[utoipa::path(
    delete, path = "/v1/suppressions/{id}", tag = "recipients",
    params(("id" = Uuid, Path, description = "The entry's id")),
    responses(
        (status = 204, description = "Lifted"),
        (status = 404, description = "No such entry for this tenant", body = Problem),
    ),
    security(("api_key" = ["operate"]))
)]
pub async fn lift(
    State(state): State<AppState>,
    tenant: Authorized<CanOperate>,
    PathParams(id): PathParams<Uuid>,
) -> Result<StatusCode, ApiError> {
    suppressions::remove(&state.db, tenant.id, id)
        .await
        .map_err(ApiError::unless_found("suppression"))?;
    Ok(StatusCode::NO_CONTENT)
}
