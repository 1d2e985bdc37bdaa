//! Bulk sends: `POST /v1/notifications/batch` (one message to up to 10,000 recipients, each
//! with its own data), `GET /v1/batches/{id}` (progress: recipients per status) and
//! `GET /v1/batches/{id}/notifications` (its recipients' notifications).
//!
//! Each recipient becomes an ordinary notification row (so reads, delivery reports, the
//! timeline and redrives work on it), all stored in one transaction with the batch. One
//! workflow per batch sends them in chunks (see `pombo_workflows::batch`), not a workflow
//! per recipient.

pub mod dispatch;
pub mod request;
pub mod view;

use crate::extract::PathParams;
use axum::{
    Json,
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use pombo_contract::NotificationStatus;
use pombo_store::{
    batches::{self, Batch, BatchCreated, NewBatch},
    notifications::{NewNotification, Routing},
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::{Authorized, CanRead, CanSend};
use crate::{
    error::{ApiError, Problem},
    extract::Tenant,
    notifications::view::NotificationView,
    state::AppState,
};
use request::CreateBatch;
use view::{BatchMembersPage, BatchView};

/// A batch body may be far larger than a single notification's: 10,000 recipients with
/// their data. At least this much is accepted, or `api.max_body_bytes` if that is larger.
pub const MIN_BATCH_BODY_BYTES: usize = 16 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(read))
        .routes(routes!(members))
}

/// The JSON body, read up to the batch limit (the router's default limit is a single
/// notification's).
async fn json_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<CreateBatch, ApiError> {
    if !crate::extract::is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let limit = state.config.api.max_body_bytes.max(MIN_BATCH_BODY_BYTES);
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?;
    crate::extract::parse_json(&bytes)
}

/// Accept one message for many recipients.
///
/// Everything is validated first (every problem at once, with paths such as
/// `recipients[17].to`), then the batch and one notification per recipient are stored in
/// one transaction, and one workflow sends them in chunks. A repeated request with the
/// same idempotency key returns the first batch (with `Idempotent-Replayed: true`) and
/// sends nothing more; a recipient whose own key was already used is left out (`skipped`).
#[utoipa::path(
    post, path = "/v1/notifications/batch", tag = "notifications",
    request_body = CreateBatch,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Same as `idempotency_key` in the body")),
    responses(
        (status = 202, description = "Accepted", body = BatchView),
        (status = 503, description = "Rendering ran past its deadline: the server is busy, retry", body = Problem),
        (status = 413, description = "Body too large", body = Problem),
        (status = 415, description = "Not JSON", body = Problem),
        (status = 422, description = "Invalid fields, or an idempotency key reused for another request", body = Problem),
    ),
    security(("api_key" = ["send"]))
)]
pub async fn create(
    State(state): State<AppState>,
    tenant: Authorized<CanSend>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let header_key = crate::extract::idempotency_header(&headers)?;
    let body = json_body(&state, &headers, body).await?;
    let (content, template_used) = match (&body.template, &body.content) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "template",
                "give `content` or `template`, not both",
            ));
        }
        (Some(template), None) => {
            let (content, used) = crate::templates::content_for_notification(
                &state,
                tenant.id,
                template,
                body.channel,
            )
            .await?;
            (Some(content), Some(used))
        }
        (None, content) => (content.clone(), None),
    };
    let valid = body
        .validate(
            &state.renderer,
            header_key,
            content,
            &state.config.delivery,
            &state.config.outbound,
        )
        .await?;
    crate::notifications::attachments::check_content(
        &state,
        tenant.id,
        valid.channel,
        &valid.content,
    )
    .await?;

    let batch_id = Uuid::now_v7();
    let category = pombo_contract::preferences::category_of(
        None,
        template_used.as_ref().and_then(|t| t.category.as_deref()),
        valid.notification_type.map(|t| t.as_str()),
        valid.priority,
    );
    let tracking = template_used
        .as_ref()
        .map(|t| t.tracking)
        .unwrap_or_default();
    let template = template_used.map(|t| (t.id, t.version, t.locale));
    let members = valid.recipients.into_iter().map(|r| NewNotification {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        channel: valid.channel,
        recipient: r.to,
        content: valid.content.clone(),
        data: r.data,
        priority: valid.priority,
        notification_type: valid.notification_type.map(|t| t.as_str().to_owned()),
        idempotency_key: r.idempotency_key,
        request_hash: r.request_hash,
        max_attempts: valid.max_attempts as i32,
        retry_interval_secs: valid.retry_interval_secs as i64,
        fallback: None,
        parent_id: None,
        template: template.clone(),
        routing: Routing::default(),
        send_at: valid.send_at,
        category: Some(category.clone()),
        tracking,
        trace_context: None,
    });
    let new = NewBatch {
        id: batch_id,
        tenant_id: tenant.id,
        channel: valid.channel,
        priority: valid.priority,
        max_attempts: valid.max_attempts as i32,
        retry_interval_secs: valid.retry_interval_secs as i64,
        idempotency_key: valid.idempotency_key,
        request_hash: valid.request_hash.clone(),
        send_at: valid.send_at,
    };
    let (batch, replayed) = match batches::create(&state.db, new, members).await? {
        BatchCreated::New(batch) => (batch, false),
        BatchCreated::Existing(batch) if batch.request_hash == valid.request_hash => (batch, true),
        BatchCreated::Existing(_) => {
            return Err(ApiError::field(
                "idempotency_key",
                "already used for a different batch; use a new key for a new batch",
            ));
        }
    };
    if !replayed {
        metrics::counter!(
            "pombo_notifications_accepted_total",
            "channel" => batch.channel.as_str(),
            "priority" => batch.priority.as_str(),
        )
        .increment(batch.total.max(0) as u64);
    }

    // Stored: that is the promise. If the start fails now, the sweep starts it later.
    if batch.dispatched_at.is_none()
        && let Err(e) = dispatch::dispatch(&state, &batch).await
    {
        tracing::warn!(
            batch_id = %batch.id,
            error = %format!("{e:#}"),
            "batch workflow not started yet; the batch sweep will start it"
        );
    }

    let view = batch_view(&state, batches::get(&state.db, batch.id).await?).await?;
    let mut response = (StatusCode::ACCEPTED, Json(view)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v1/batches/{}", batch.id))
            .expect("uuid paths are valid header values"),
    );
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn batch_view(state: &AppState, batch: Batch) -> Result<BatchView, ApiError> {
    let counts = batches::counts(&state.db, batch.id).await?;
    Ok(BatchView::new(
        batch,
        counts,
        &state.config.temporal.ui_url,
        &state.config.temporal.namespace,
    ))
}

/// The tenant's batch named by a path segment; any other id reads as not found.
async fn owned(state: &AppState, tenant: &Tenant, id: &str) -> Result<Batch, ApiError> {
    let not_found = || ApiError::NotFound(format!("no batch `{id}`"));
    let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
    batches::get_for_tenant(&state.db, tenant.id, uuid)
        .await?
        .ok_or_else(not_found)
}

/// A batch's progress: its status and how many recipients are in each status.
#[utoipa::path(
    get, path = "/v1/batches/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Batch id")),
    responses(
        (status = 200, description = "The batch", body = BatchView),
        (status = 404, description = "No such batch for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<BatchView>, ApiError> {
    let batch = owned(&state, &tenant, &id).await?;
    batch_view(&state, batch).await.map(Json)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    /// Only recipients in this status (`pending`, `sent`, `failed`, …).
    #[param(value_type = Option<NotificationStatus>, nullable = false)]
    pub status: Option<String>,
    /// 1 to 200, default 50.
    #[param(value_type = Option<u64>, nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>, nullable = false)]
    pub cursor: Option<String>,
}

/// The batch's notifications, one per recipient, in the order they were created.
#[utoipa::path(
    get, path = "/v1/batches/{id}/notifications", tag = "notifications",
    params(("id" = String, Path, description = "Batch id"), MembersQuery),
    responses(
        (status = 200, description = "A page of the batch's notifications", body = BatchMembersPage),
        (status = 404, description = "No such batch for this tenant", body = Problem),
        (status = 422, description = "Invalid filter", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn members(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<BatchMembersPage>, ApiError> {
    let batch = owned(&state, &tenant, &id).await?;
    let query: MembersQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let status = query.status.as_deref().and_then(|s| {
        s.parse::<NotificationStatus>()
            .map_err(|e| errors.push(crate::error::FieldError::new("status", e)))
            .ok()
    });
    let (limit, after) =
        crate::paging::parse(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows = batches::list_members(
        &state.db,
        batch.id,
        status.map(|s| s.as_str()),
        after,
        limit + 1,
    )
    .await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |n| n.id);
    let data = rows
        .into_iter()
        .map(|n| {
            NotificationView::new(
                n,
                None,
                &state.config.temporal.ui_url,
                &state.config.temporal.namespace,
            )
        })
        .collect();
    Ok(Json(BatchMembersPage { data, next_cursor }))
}
