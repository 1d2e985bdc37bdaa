//! Tenants and API keys. Administrators (keys with the `admin` scope, which belong to the
//! reserved system tenant and can do nothing inside a tenant) create and disable tenants
//! and issue and revoke their keys at `/v1/tenants`; a tenant's key with `manage` lists,
//! issues and revokes its own tenant's keys at `/v1/keys`, granting at most the scopes it
//! holds. A new key is shown once, in the 201 response; lists show its prefix, never the
//! key or its hash. Administrators' keys themselves are made with `pombo-admin key create
//! --admin` only: whoever holds the database bootstraps the first one. Every change lands in
//! the audit log of the tenant concerned, with the acting key's id.

use crate::extract::PathParams;
use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_contract::Scope;
use pombo_store::{
    audit,
    entities::{api_key, tenant},
    tenants::{self, NewKey},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::{Authorized, CanManage, IsAdmin, Tenant},
    error::{ApiError, Problem},
    extract::JsonBody,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(update_tenant))
        .routes(routes!(list_tenant_keys, create_tenant_key))
        .routes(routes!(revoke_tenant_key))
        .routes(routes!(list_own_keys, create_own_key))
        .routes(routes!(revoke_own_key))
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// A disabled tenant's keys are refused (403).
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
    /// Its share of the starts within a priority (`PATCH` to change).
    pub weight: i32,
}

impl From<tenant::Model> for TenantView {
    fn from(t: tenant::Model) -> Self {
        TenantView {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            disabled: t.disabled_at.is_some(),
            disabled_at: t.disabled_at,
            weight: t.weight,
        }
    }
}

/// An API key as lists show it: never the key nor its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The key's first characters, to recognize it (empty for keys made before prefixes
    /// were kept).
    pub prefix: String,
    pub label: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    /// The key that issued this one (absent when made by `pombo-admin` or configuration).
    pub created_by_key_id: Option<Uuid>,
    /// To the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl KeyView {
    pub fn new(k: api_key::Model) -> Result<Self, ApiError> {
        let scopes = tenants::scopes_of(&k)?;
        Ok(KeyView {
            id: k.id,
            tenant_id: k.tenant_id,
            prefix: k.prefix,
            label: k.label,
            scopes,
            created_at: k.created_at,
            created_by_key_id: k.created_by_key_id,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        })
    }
}

/// A key just issued: the only response that holds the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key, shown this once: send it as `Authorization: Bearer <key>`.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Unique; 1 to 100 characters, not starting with `_` (reserved).
    #[schema(min_length = 1)]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// Disable (its keys are refused at once) or enable again; absent keeps it.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Its share of the starts within a priority when backlogs meet, 1 to 100 (default 1):
    /// a weight-2 tenant gets two turns to every one of a weight-1 tenant.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub weight: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// At least one of `send`, `read`, `manage`, `operate`.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// Refused from this time on; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
    /// What the key is for, for whoever reads the list.
    #[serde(default)]
    pub label: String,
}

/// Create a tenant.
#[utoipa::path(
    post, path = "/v1/tenants", tag = "admin",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Created", body = TenantView),
        (status = 409, description = "The name is taken", body = Problem),
        (status = 422, description = "Invalid name", body = Problem),
    ),
    security(("api_key" = ["admin"]))
)]
pub async fn create_tenant(
    State(state): State<AppState>,
    admin: Authorized<IsAdmin>,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<Response, ApiError> {
    let name = body.name.trim();
    crate::admin_cli::check_tenant_name(name).map_err(|e| ApiError::field("name", e))?;
    if tenants::by_name(&state.db, name).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "a tenant named `{name}` exists"
        )));
    }
    let created = tenants::create(&state.db, name).await?;
    record(
        &state,
        &admin,
        created.id,
        "tenant.created",
        created.id,
        json!({"name": name}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(TenantView::from(created))).into_response())
}

/// Every tenant.
#[utoipa::path(
    get, path = "/v1/tenants", tag = "admin",
    responses(
        (status = 200, description = "The tenants, oldest first", body = TenantList),
    ),
    security(("api_key" = ["admin"]))
)]
pub async fn list_tenants(
    State(state): State<AppState>,
    _admin: Authorized<IsAdmin>,
) -> Result<Json<TenantList>, ApiError> {
    let all = tenants::list(&state.db).await?;
    Ok(Json(TenantList {
        data: all.into_iter().map(TenantView::from).collect(),
    }))
}

/// `GET /v1/tenants`, in the `data` of every list of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    pub data: Vec<TenantView>,
}

/// A tenant's keys, in the `data` of every list of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub data: Vec<KeyView>,
}

/// Disable or enable a tenant, or change its weight.
#[utoipa::path(
    patch, path = "/v1/tenants/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Tenant id")),
    request_body = UpdateTenant,
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        (status = 404, description = "No such tenant", body = Problem),
    ),
    security(("api_key" = ["admin"]))
)]
pub async fn update_tenant(
    State(state): State<AppState>,
    admin: Authorized<IsAdmin>,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<UpdateTenant>,
) -> Result<Json<TenantView>, ApiError> {
    let current = tenant_of(&state, id).await?;
    let weight = match body.weight {
        None => None,
        Some(w) => match i32::try_from(w) {
            Ok(w) if (1..=tenants::MAX_WEIGHT).contains(&w) => Some(w),
            _ => {
                return Err(ApiError::field(
                    "weight",
                    format!("a whole number from 1 to {}", tenants::MAX_WEIGHT),
                ));
            }
        },
    };
    let mut updated = current.clone();
    if let Some(disabled) = body.disabled {
        updated = tenants::set_disabled(&state.db, current.id, disabled).await?;
        if current.disabled_at.is_some() != disabled {
            let action = if disabled {
                "tenant.disabled"
            } else {
                "tenant.enabled"
            };
            record(&state, &admin, id, action, id, json!({})).await?;
        }
    }
    if let Some(weight) = weight.filter(|w| *w != current.weight) {
        updated = tenants::set_weight(&state.db, current.id, weight).await?;
        let change = json!({"from": current.weight, "to": weight});
        record(&state, &admin, id, "tenant.weight_changed", id, change).await?;
    }
    Ok(Json(updated.into()))
}

/// A tenant's keys.
#[utoipa::path(
    get, path = "/v1/tenants/{id}/keys", tag = "admin",
    params(("id" = Uuid, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The keys, oldest first, revoked ones included", body = KeyList),
        (status = 404, description = "No such tenant", body = Problem),
    ),
    security(("api_key" = ["admin"]))
)]
pub async fn list_tenant_keys(
    State(state): State<AppState>,
    _admin: Authorized<IsAdmin>,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<KeyList>, ApiError> {
    let tenant = tenant_of(&state, id).await?;
    list_keys(&state, tenant.id).await
}

/// Issue a key for a tenant.
#[utoipa::path(
    post, path = "/v1/tenants/{id}/keys", tag = "admin",
    params(("id" = Uuid, Path, description = "Tenant id")),
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, shown this once", body = CreatedKey),
        (status = 404, description = "No such tenant", body = Problem),
        (status = 422, description = "Invalid scopes or expiry", body = Problem),
    ),
    security(("api_key" = ["admin"]))
)]
pub async fn create_tenant_key(
    State(state): State<AppState>,
    admin: Authorized<IsAdmin>,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<CreateKey>,
) -> Result<Response, ApiError> {
    let tenant = tenant_of(&state, id).await?;
    issue(&state, &admin, tenant.id, body).await
}

/// Revoke a tenant's key: refused from the next request on.
#[utoipa::path(
    delete, path = "/v1/tenants/{id}/keys/{key_id}", tag = "admin",
    params(
        ("id" = Uuid, Path, description = "Tenant id"),
        ("key_id" = Uuid, Path, description = "Key id"),
    ),
    responses(
        (status = 200, description = "The key, revoked", body = KeyView),
        (status = 404, description = "No such key for this tenant", body = Problem),
    ),
    security(("api_key" = ["admin"]))
)]
pub async fn revoke_tenant_key(
    State(state): State<AppState>,
    admin: Authorized<IsAdmin>,
    PathParams((id, key_id)): PathParams<(Uuid, Uuid)>,
) -> Result<Json<KeyView>, ApiError> {
    let tenant = tenant_of(&state, id).await?;
    revoke(&state, &admin, tenant.id, key_id).await
}

/// This tenant's keys.
#[utoipa::path(
    get, path = "/v1/keys", tag = "keys",
    responses(
        (status = 200, description = "The keys, oldest first, revoked ones included", body = KeyList),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn list_own_keys(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
) -> Result<Json<KeyList>, ApiError> {
    list_keys(&state, tenant.id).await
}

/// Issue a key for this tenant, with at most the scopes of the key that asks.
#[utoipa::path(
    post, path = "/v1/keys", tag = "keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, shown this once", body = CreatedKey),
        (status = 403, description = "The key lacks the `manage` scope, or a scope it would grant", body = Problem),
        (status = 422, description = "Invalid scopes or expiry", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn create_own_key(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    JsonBody(body): JsonBody<CreateKey>,
) -> Result<Response, ApiError> {
    if let Some(beyond) = body.scopes.iter().find(|s| !tenant.scopes.contains(*s)) {
        return Err(ApiError::Forbidden(format!(
            "a key can grant only scopes it holds itself; this one lacks `{beyond}`"
        )));
    }
    issue(&state, &tenant, tenant.id, body).await
}

/// Revoke one of this tenant's keys (the key that asks included).
#[utoipa::path(
    delete, path = "/v1/keys/{key_id}", tag = "keys",
    params(("key_id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key, revoked", body = KeyView),
        (status = 404, description = "No such key for this tenant", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn revoke_own_key(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(key_id): PathParams<Uuid>,
) -> Result<Json<KeyView>, ApiError> {
    revoke(&state, &tenant, tenant.id, key_id).await
}

/// A tenant an administrator may act on: any but the system tenant.
async fn tenant_of(state: &AppState, id: Uuid) -> Result<tenant::Model, ApiError> {
    match tenants::get(&state.db, id).await {
        Ok(t) if t.name != tenants::SYSTEM_TENANT => Ok(t),
        Ok(_) | Err(pombo_store::StoreError::NotFound) => {
            Err(ApiError::NotFound("no such tenant".into()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn list_keys(state: &AppState, tenant_id: Uuid) -> Result<Json<KeyList>, ApiError> {
    let keys = tenants::list_keys(&state.db, tenant_id).await?;
    let data = keys
        .into_iter()
        .map(KeyView::new)
        .collect::<Result<_, _>>()?;
    Ok(Json(KeyList { data }))
}

/// Checks a key request: tenant scopes only (administrators' keys come from `pombo-admin`),
/// at least one, an expiry in the future.
pub fn check_key_request(body: &CreateKey) -> Result<(), ApiError> {
    if body.scopes.is_empty() {
        return Err(ApiError::field(
            "scopes",
            "name at least one of send, read, manage, operate",
        ));
    }
    if body.scopes.contains(&Scope::Admin) {
        return Err(ApiError::field(
            "scopes",
            "`admin` keys are made with `pombo-admin key create --admin`",
        ));
    }
    if body.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    if body.label.chars().count() > 200 {
        return Err(ApiError::field("label", "must be at most 200 characters"));
    }
    Ok(())
}

async fn issue(
    state: &AppState,
    actor: &Tenant,
    tenant_id: Uuid,
    body: CreateKey,
) -> Result<Response, ApiError> {
    check_key_request(&body)?;
    let (key, row) = tenants::issue_key(
        &state.db,
        NewKey {
            tenant_id,
            scopes: body.scopes,
            label: body.label,
            expires_at: body.expires_at,
            created_by_key_id: actor.key_id,
        },
    )
    .await?;
    let info = KeyView::new(row)?;
    record(
        state,
        actor,
        tenant_id,
        "key.created",
        info.id,
        json!({
            "prefix": info.prefix,
            "label": info.label,
            "scopes": info.scopes,
            "expires_at": info.expires_at,
        }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, info })).into_response())
}

async fn revoke(
    state: &AppState,
    actor: &Tenant,
    tenant_id: Uuid,
    key_id: Uuid,
) -> Result<Json<KeyView>, ApiError> {
    let before = tenants::get_key(&state.db, key_id)
        .await
        .ok()
        .filter(|k| k.tenant_id == tenant_id)
        .ok_or_else(|| ApiError::NotFound("no such key for this tenant".into()))?;
    let revoked = tenants::revoke_key(&state.db, Some(tenant_id), key_id).await?;
    if before.revoked_at.is_none() {
        record(
            state,
            actor,
            tenant_id,
            "key.revoked",
            key_id,
            json!({"prefix": revoked.prefix}),
        )
        .await?;
    }
    KeyView::new(revoked).map(Json)
}

async fn record(
    state: &AppState,
    actor: &Tenant,
    tenant_id: Uuid,
    action: &str,
    target: Uuid,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    audit::record(
        &state.db,
        tenant_id,
        &actor.actor(),
        actor.key_id,
        action,
        Some(target.to_string()),
        details,
    )
    .await?;
    Ok(())
}
