//! A gateway account's instance (an Evolution API instance, a WAHA session: one WhatsApp
//! number), managed on its gateway: created, paired by QR code, watched, deleted. The
//! account (`/v1/providers/{id}`) holds its settings; its webhook is pointed at Pombo with
//! `PUT /v1/providers/{id}/callbacks`.

use axum::{Json, extract::State, http::StatusCode};
use pombo_providers::gateway::{Instance, InstanceOp, Pairing};
use serde_json::json;
use uuid::Uuid;

use super::{Account, record, tenant_account, tenant_client};
use crate::{
    auth::{Authorized, CanManage, CanRead},
    error::{ApiError, Problem},
    extract::PathParams,
    state::AppState,
};

fn no_instances(account: &Account) -> ApiError {
    ApiError::Conflict(format!(
        "`{}` has no instances: only gateways (`evolution`, `waha`) do",
        account.settings.kind()
    ))
}

/// Runs `op` on the account's instance at its gateway.
async fn on_gateway(
    state: &AppState,
    account: &Account,
    op: InstanceOp,
) -> Result<Option<Instance>, ApiError> {
    let client = tenant_client(state, account)?;
    if !client.has_instances() {
        return Err(no_instances(account));
    }
    client
        .instance(op)
        .await
        .map_err(|e| ApiError::Provider(e.to_string()))
}

/// The account's instance, as its gateway reports it now.
#[utoipa::path(
    get, path = "/v1/providers/{id}/instance", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The instance and its connection", body = Instance),
        (status = 404, description = "No such account for this tenant", body = Problem),
        (status = 409, description = "The provider has no instances", body = Problem),
        (status = 424, description = "The gateway refused, or could not be reached", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<Instance>, ApiError> {
    let account = tenant_account(&state, tenant.id, id).await?;
    let instance = on_gateway(&state, &account, InstanceOp::Read).await?;
    instance.map(Json).ok_or_else(|| no_instances(&account))
}

/// Create the account's instance on its gateway.
///
/// Evolution `POST /instance/create` (a WhatsApp Web instance) or WAHA `POST /api/sessions`
/// (started), named as the account's `instance` or `session`. It then waits for its QR
/// code to be scanned (`GET …/instance/qr`). Creating one that exists is harmless.
#[utoipa::path(
    post, path = "/v1/providers/{id}/instance", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 201, description = "The instance, waiting to be paired", body = Instance),
        (status = 404, description = "No such account for this tenant", body = Problem),
        (status = 409, description = "The provider has no instances", body = Problem),
        (status = 422, description = "The account's settings cannot work, naming the setting", body = Problem),
        (status = 424, description = "The gateway refused, or could not be reached", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn create(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<Uuid>,
) -> Result<(StatusCode, Json<Instance>), ApiError> {
    let account = tenant_account(&state, tenant.id, id).await?;
    let instance = on_gateway(&state, &account, InstanceOp::Create)
        .await?
        .ok_or_else(|| no_instances(&account))?;
    let details = json!({"name": account.name, "type": account.settings.kind()});
    record(&state, &tenant, "provider.instance_created", id, details).await?;
    Ok((StatusCode::CREATED, Json(instance)))
}

/// Log the account's instance out and delete it from its gateway.
///
/// The account stays (its sent messages and conversations keep their account); create the
/// instance again to pair another phone.
#[utoipa::path(
    delete, path = "/v1/providers/{id}/instance", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "Logged out and deleted"),
        (status = 404, description = "No such account for this tenant", body = Problem),
        (status = 409, description = "The provider has no instances", body = Problem),
        (status = 424, description = "The gateway refused, or could not be reached", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn remove(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<Uuid>,
) -> Result<StatusCode, ApiError> {
    let account = tenant_account(&state, tenant.id, id).await?;
    on_gateway(&state, &account, InstanceOp::Delete).await?;
    let details = json!({"name": account.name, "type": account.settings.kind()});
    record(&state, &tenant, "provider.instance_deleted", id, details).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The QR code that pairs the instance: scan it in WhatsApp (Linked devices).
///
/// Gateways renew it every 20 to 60 seconds: ask again for a fresh one. An instance that is
/// paired already has none (409).
#[utoipa::path(
    get, path = "/v1/providers/{id}/instance/qr", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The QR code (its text, and its image when the gateway draws it)", body = Pairing),
        (status = 404, description = "No such account for this tenant", body = Problem),
        (status = 409, description = "The provider has no instances, or the instance is paired already", body = Problem),
        (status = 424, description = "The gateway refused, or could not be reached", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn pairing(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<Pairing>, ApiError> {
    let account = tenant_account(&state, tenant.id, id).await?;
    let client = tenant_client(&state, &account)?;
    let pairing = client
        .pairing()
        .await
        .map_err(|e| ApiError::Provider(e.to_string()))?
        .ok_or_else(|| no_instances(&account))?;
    if pairing.qr.is_none() && pairing.image.is_none() && pairing.pairing_code.is_none() {
        return Err(ApiError::Conflict(
            "the instance has no QR code: it is paired already (or still starting: ask again)"
                .into(),
        ));
    }
    Ok(Json(pairing))
}
