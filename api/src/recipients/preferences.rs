//! What a recipient chose (`/v1/recipients/{id}/preferences`) and what every recipient of
//! the tenant gets unless they choose otherwise (`/v1/preferences`). The document is
//! [`Preferences`]; the rule that reads it at send time is
//! `pombo_contract::preferences::decide`. A recipient token (the person in the tenant's own
//! app) may read and change its own preferences, as it reads its own inbox.

use axum::{Json, extract::State};
use pombo_contract::preferences::Preferences;
use pombo_store::{StoreError, preferences};

use super::inbox::InboxAccess;
use crate::{
    auth::{Authorized, CanManage, CanRead},
    error::{ApiError, FieldError, Problem},
    extract::{JsonBody, PathParams},
    state::AppState,
};

/// Every problem of a document, each naming its field.
fn checked(document: Preferences, tenant_defaults: bool) -> Result<Preferences, ApiError> {
    let problems = document.problems(tenant_defaults);
    if problems.is_empty() {
        Ok(document)
    } else {
        Err(ApiError::Validation(
            problems
                .into_iter()
                .map(|(field, reason)| FieldError::new(field, reason))
                .collect(),
        ))
    }
}

/// A recipient's preferences: what they chose (the tenant's defaults apply to the rest).
#[utoipa::path(
    get, path = "/v1/recipients/{id}/preferences", tag = "recipients",
    params(("id" = String, Path, description = "The profile's id, or else its external_id")),
    responses(
        (status = 200, description = "The recipient's choices", body = Preferences),
        (status = 404, description = "No such profile for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    access: InboxAccess<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Preferences>, ApiError> {
    let recipient = access.recipient(&state, &id).await?;
    let found = preferences::of_recipient(&state.db, access.tenant_id(), recipient)
        .await
        .map_err(ApiError::unless_found("recipient"))?;
    Ok(Json(found))
}

/// Replace a recipient's preferences. They are read when each notification is about to
/// go, so one already waiting (quiet hours, a scheduled send) follows the new choice.
#[utoipa::path(
    put, path = "/v1/recipients/{id}/preferences", tag = "recipients",
    params(("id" = String, Path, description = "The profile's id, or else its external_id")),
    request_body = Preferences,
    responses(
        (status = 200, description = "Stored", body = Preferences),
        (status = 404, description = "No such profile for this tenant", body = Problem),
        (status = 422, description = "Invalid fields, e.g. `categories.promo.quiet_hours.start`", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn replace(
    State(state): State<AppState>,
    access: InboxAccess<CanManage>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Preferences>,
) -> Result<Json<Preferences>, ApiError> {
    let recipient = access.recipient(&state, &id).await?;
    let document = checked(body, false)?;
    preferences::set_for_recipient(&state.db, access.tenant_id(), recipient, &document)
        .await
        .map_err(ApiError::unless_found("recipient"))?;
    Ok(Json(document))
}

/// The tenant's defaults: every recipient's preferences where they chose nothing.
#[utoipa::path(
    get, path = "/v1/preferences", tag = "recipients",
    responses((status = 200, description = "The defaults", body = Preferences)),
    security(("api_key" = ["read"]))
)]
pub async fn read_defaults(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
) -> Result<Json<Preferences>, ApiError> {
    Ok(Json(preferences::defaults(&state.db, tenant.id).await?))
}

/// Replace the tenant's defaults (e.g. quiet hours for `promo`, a daily cap on
/// `newsletter`).
#[utoipa::path(
    put, path = "/v1/preferences", tag = "recipients",
    request_body = Preferences,
    responses(
        (status = 200, description = "Stored", body = Preferences),
        (status = 422, description = "Invalid fields", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn replace_defaults(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    JsonBody(body): JsonBody<Preferences>,
) -> Result<Json<Preferences>, ApiError> {
    let document = checked(body, true)?;
    match preferences::set_defaults(&state.db, tenant.id, &document).await {
        Ok(()) => Ok(Json(document)),
        Err(StoreError::NotFound) => Err(ApiError::NotFound("tenant".into())),
        Err(e) => Err(e.into()),
    }
}
