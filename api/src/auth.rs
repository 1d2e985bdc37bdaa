//! Who may call what: the API key of a request, its tenant, and the one scope each route
//! needs. A handler declares its scope in its signature, `tenant: Authorized<CanRead>`;
//! [`Tenant`] itself is not an extractor, so a tenant route cannot be written without
//! naming a scope. The OpenAPI document repeats it (`security(("api_key" = ["read"]))`) and
//! the integration test `keys::every_route_refuses_keys_without_its_scope` holds each route
//! to what its document says.
//!
//! | Scope     | Routes |
//! |-----------|--------|
//! | `send`    | `POST /v1/notifications`, `POST /v1/notifications/batch`, `POST /v1/files`, `POST /v1/templates/{id}/render`; replying in, closing/reopening and reading a conversation (`POST /v1/conversations/{id}/messages`, `PATCH /v1/conversations/{id}`, `POST /v1/conversations/{id}/read`) |
//! | `read`    | every `GET` under `/v1/notifications`, `/v1/batches`, `/v1/conversations`, `/v1/files`, `/v1/templates`, `/v1/recipients`, `/v1/providers`, `/v1/routing-rules`, and `GET /v1/audit-log` |
//! | `manage`  | `POST`/`PATCH`/`PUT`/`DELETE` of `/v1/providers`, `/v1/templates`, `/v1/recipients`, `/v1/routing-rules`; the tenant's own keys at `/v1/keys` |
//! | `operate` | `POST /v1/notifications/{id}/retry`, `POST /v1/notifications/retry`, `POST /v1/notifications/{id}/cancel`, `PATCH /v1/notifications/{id}/status` |
//! | `admin`   | `/v1/tenants` and `/v1/tenants/{id}/keys` (administrators' keys, which belong to the reserved system tenant and hold no other scope) |
//!
//! A key lacking the scope gets 403 naming it; an unknown key 401, a revoked or expired
//! one 401 saying so, a disabled tenant's key 403. Keys are checked against the database on
//! every request, so revocation takes effect at once.
//!
//! Without an `Authorization` header, a signed-in operator's session cookie
//! (`operators::session`) authenticates instead: for the tenant named in `X-Pombo-Tenant`,
//! which the operator must be granted, with [`OPERATOR_SCOPES`] only, and with the
//! session's CSRF token on every request that is not a read.

use std::{marker::PhantomData, ops::Deref};

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use pombo_contract::Scope;
use pombo_store::operators::Operator;
use pombo_store::tenants::{self, KeyCheck};
use uuid::Uuid;

use crate::{error::ApiError, operators::session, state::AppState};

/// What an operator's session may do: watch (`read`) and repair (`operate`) deliveries.
pub const OPERATOR_SCOPES: [Scope; 2] = [Scope::Read, Scope::Operate];

/// The tenant a request acts for, and who authenticated it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    /// The key that authenticated the request (the audit log records it); `None` for an
    /// operator's session.
    pub key_id: Option<Uuid>,
    /// The signed-in operator acting for this tenant, if that is who it is.
    pub operator: Option<Operator>,
    pub scopes: Vec<Scope>,
}

impl Tenant {
    /// Who the audit log says acted.
    pub fn actor(&self) -> String {
        if let Some(operator) = &self.operator {
            format!("operator:{}", operator.email)
        } else if self.name == tenants::SYSTEM_TENANT {
            "admin".to_owned()
        } else {
            format!("api-key:{}", self.name)
        }
    }
}

/// The scope a route needs, as a type: `Authorized<CanSend>`.
pub trait RequiredScope: Send + Sync + 'static {
    const SCOPE: Scope;
}

macro_rules! scopes {
    ($($(#[$doc:meta])* $marker:ident => $scope:ident,)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $marker;
        impl RequiredScope for $marker {
            const SCOPE: Scope = Scope::$scope;
        }
    )*};
}

scopes! {
    /// `send`: send notifications and batches, upload files, preview templates.
    CanSend => Send,
    /// `read`: read anything of the tenant's.
    CanRead => Read,
    /// `manage`: change provider accounts, templates, recipients, routing rules, keys.
    CanManage => Manage,
    /// `operate`: redrive, cancel, report statuses.
    CanOperate => Operate,
    /// `admin`: tenants and their keys.
    IsAdmin => Admin,
}

/// A request whose key holds scope `S`; dereferences to its [`Tenant`].
#[derive(Debug, Clone)]
pub struct Authorized<S> {
    tenant: Tenant,
    _scope: PhantomData<fn() -> S>,
}

impl<S> Authorized<S> {
    pub fn into_tenant(self) -> Tenant {
        self.tenant
    }
}

impl<S> Deref for Authorized<S> {
    type Target = Tenant;

    fn deref(&self) -> &Tenant {
        &self.tenant
    }
}

impl<S: RequiredScope> FromRequestParts<AppState> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let tenant = authenticate(parts, state).await?;
        if !tenant.scopes.contains(&S::SCOPE) {
            return Err(ApiError::MissingScope(S::SCOPE));
        }
        state
            .rate_limiter
            .check_request(&parts.extensions, tenant.id)?;
        Ok(Authorized {
            tenant,
            _scope: PhantomData,
        })
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Tenant, ApiError> {
    if !parts.headers.contains_key(header::AUTHORIZATION)
        && let Some((signed_in, operator)) = session::current(&parts.headers, state).await?
    {
        session::check_csrf(&parts.method, &parts.headers, &signed_in)?;
        let tenant = session::chosen_tenant(&parts.headers, state, &operator).await?;
        return Ok(Tenant {
            id: tenant.id,
            name: tenant.name,
            key_id: None,
            operator: Some(operator),
            scopes: OPERATOR_SCOPES.to_vec(),
        });
    }
    let key = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    match tenants::authenticate(&state.db, key).await? {
        KeyCheck::Valid(valid) => Ok(Tenant {
            id: valid.tenant.id,
            name: valid.tenant.name,
            key_id: Some(valid.key.id),
            operator: None,
            scopes: valid.scopes,
        }),
        KeyCheck::Unknown => Err(ApiError::Unauthorized),
        KeyCheck::Revoked => Err(ApiError::KeyRefused("this API key has been revoked")),
        KeyCheck::Expired => Err(ApiError::KeyRefused("this API key has expired")),
        KeyCheck::TenantDisabled => Err(ApiError::TenantDisabled),
    }
}
