//! A gateway account's instance (an Evolution API instance, a WAHA session: one WhatsApp
//! number), managed on its gateway: created, paired by QR code, watched, deleted. The
//! account (`/v1/providers/{id}`) holds its settings; its webhook is pointed at Pombo with
//! `PUT /v1/providers/{id}/callbacks`.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use pombo_providers::gateway::{Connection, Instance, InstanceOp, Pairing};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
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

/// An instance: what its gateway answers now, and what its webhook last said.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceView {
    #[serde(flatten)]
    pub instance: Instance,
    /// The newest state the gateway's webhook reported (`connection.update`,
    /// `qrcode.updated`, `session.status`), if it reported any: it can differ from the
    /// live answer for the moment an event takes to arrive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported: Option<ReportedState>,
}

/// What a gateway's webhook last said of its instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportedState {
    pub connection: Connection,
    /// The gateway's own word (`open`, `qrcode`, `SCAN_QR_CODE`, …).
    pub gateway_state: String,
    /// When, by the gateway's clock.
    pub at: DateTime<Utc>,
}

/// The account's instance, as its gateway reports it now, and as its webhook last said.
#[utoipa::path(
    get, path = "/v1/providers/{id}/instance", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The instance and its connection", body = InstanceView),
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
) -> Result<Json<InstanceView>, ApiError> {
    let account = tenant_account(&state, tenant.id, id).await?;
    let instance = on_gateway(&state, &account, InstanceOp::Read)
        .await?
        .ok_or_else(|| no_instances(&account))?;
    let reported = pombo_store::instance_states::get(&state.db, &id.to_string())
        .await?
        .and_then(|row| {
            Some(ReportedState {
                connection: row.connection.parse().ok()?,
                gateway_state: row.gateway_state,
                at: row.changed_at,
            })
        });
    Ok(Json(InstanceView { instance, reported }))
}

/// One event of a gateway's webhook catalogue, and what Pombo does with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayEventView {
    /// Its name, as the gateway's webhook configuration spells it.
    pub name: &'static str,
    /// What it carries.
    pub meaning: &'static str,
    /// Whether Pombo reads it (`PUT …/callbacks` subscribes to those).
    pub understood: bool,
    /// What Pombo does with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pombo: Option<&'static str>,
}

/// The event catalogue of a gateway type.
///
/// Every event an Evolution instance's or a WAHA session's webhook can send, and which of
/// them Pombo reads (a webhook pointed at Pombo may send the others: they are answered 200
/// and nothing is kept).
#[utoipa::path(
    get, path = "/v1/gateways/{type}/events", tag = "providers",
    params(("type" = String, Path, description = "`evolution` or `waha`")),
    responses(
        (status = 200, description = "The catalogue", body = Vec<GatewayEventView>),
        (status = 404, description = "Not a gateway type", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn events(
    _tenant: Authorized<CanRead>,
    PathParams(kind): PathParams<String>,
) -> Result<Json<Vec<GatewayEventView>>, ApiError> {
    let catalogue = pombo_providers::gateway::catalogue(&kind).ok_or_else(|| {
        ApiError::NotFound(format!(
            "`{kind}` is not a gateway type: `evolution` and `waha` are"
        ))
    })?;
    Ok(Json(
        catalogue
            .iter()
            .map(|e| GatewayEventView {
                name: e.name,
                meaning: e.meaning,
                understood: e.pombo.is_some(),
                pombo: e.pombo,
            })
            .collect(),
    ))
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
