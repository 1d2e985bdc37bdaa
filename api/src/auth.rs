//! Who may call what: the API key of a request, its tenant, and the one scope each route
//! needs. A handler declares its scope in its signature, `tenant: Authorized<CanRead>`;
//! [`Tenant`] itself is not an extractor, so a tenant route cannot be written without
//! naming a scope. The OpenAPI document repeats it (`security(("api_key" = ["read"]))`) and
//! the integration test `keys::every_route_refuses_keys_without_its_scope` holds each route
//! to what its document says.
//!
//! | Scope     | Routes |
//! |-----------|--------|
//! | `send`    | `POST /v1/notifications`, `POST /v1/notifications/batch`, `POST /v1/files`, `POST /v1/templates/{id}/render`; replying in, closing/reopening and reading a conversation (`POST /v1/conversations/{id}/messages`, `PATCH /v1/conversations/{id}`, `POST /v1/conversations/{id}/read`); an operator's session replies and closes/reopens with `operate` instead ([`CanAnswer`]) |
//! | `read`    | every `GET` under `/v1/notifications`, `/v1/batches`, `/v1/conversations`, `/v1/files`, `/v1/templates`, `/v1/recipients`, `/v1/providers`, `/v1/routing-rules`, `/v1/webhook-endpoints` (but its secret), `/v1/hub`, `GET /v1/analytics`, `GET /v1/events/{id}/attempts`, and `GET /v1/audit-log` |
//! | `manage`  | `POST`/`PATCH`/`PUT`/`DELETE` of `/v1/providers`, `/v1/templates`, `/v1/recipients`, `/v1/routing-rules`, `/v1/webhook-endpoints` (and its secret: `GET …/secret`, `POST …/secret/rotate`), `/v1/hub/platforms`; the tenant's own keys at `/v1/keys` |
//! | `operate` | `POST /v1/notifications/{id}/retry`, `POST /v1/notifications/retry`, `POST /v1/notifications/{id}/cancel`, `PATCH /v1/notifications/{id}/status`; repairing webhook deliveries (`POST /v1/webhook-endpoints/{id}/recover`, `POST /v1/events/{id}/resend`, `POST /v1/webhook-endpoints/{id}/test`); for an operator's session also `POST /v1/conversations/{id}/messages` and `PATCH /v1/conversations/{id}` |
//! | `admin`   | `/v1/tenants` and `/v1/tenants/{id}/keys` (administrators' keys, which belong to the reserved system tenant and hold no other scope) |
//!
//! A key lacking the scope gets 403 naming it; an unknown key 401, a revoked or expired
//! one 401 saying so, a disabled tenant's key 403. Keys are checked against the database on
//! every request, so revocation takes effect at once.
//!
//! Without an `Authorization` header, a signed-in operator's session cookie
//! (`operators::session`) authenticates instead: for the tenant named in `X-Pombo-Tenant`,
//! which the operator must be granted, with [`OPERATOR_SCOPES`] only, and with the
//! session's CSRF token on every request that is not a read. A route needs the same scope
//! from a session as from a key, except answering a conversation ([`CanAnswer`]: replying,
//! closing, reopening), which a key does with `send` and an operator with `operate`.

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

/// What an operator's session may do: watch (`read`), repair deliveries and answer
/// conversations (`operate`). Every operator holds both for each tenant it is granted: a
/// grant has no role yet, so there is no read-only operator; the admin page reads these
/// (`GET /v1/operator/session`, each tenant's `scopes`) to offer only what they allow.
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
    /// What an API key must hold (the route's OpenAPI `security`).
    const SCOPE: Scope;
    /// What an operator's session must hold for the same route: the same scope, unless the
    /// route says otherwise ([`CanAnswer`]).
    const OPERATOR_SCOPE: Scope = Self::SCOPE;
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

/// Answering people who wrote in: replying in a conversation, closing and reopening it. A key
/// needs `send` for it, as for any message it sends; an operator's session needs `operate`.
///
/// Why `operate`: an operator never holds `send` (it does not start notifications of its
/// own), but answering a conversation is handling the tenant's traffic the way redriving
/// and cancelling are, and it is what the admin page is for. So the operators who may act on
/// deliveries may answer, and a session without `operate` (a read-only one) gets the same 403
/// as a key without `send`. Nothing else changes: a key holding `operate` but not `send`
/// still cannot reply, and a session still cannot send a notification.
#[derive(Debug, Clone, Copy)]
pub struct CanAnswer;

impl RequiredScope for CanAnswer {
    const SCOPE: Scope = Scope::Send;
    const OPERATOR_SCOPE: Scope = Scope::Operate;
}

/// The scope `tenant`'s credentials must hold for `S`: an operator's session is held to
/// `S::OPERATOR_SCOPE`, a key to `S::SCOPE`.
pub fn needed_scope<S: RequiredScope>(tenant: &Tenant) -> Scope {
    if tenant.operator.is_some() {
        S::OPERATOR_SCOPE
    } else {
        S::SCOPE
    }
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
        let needed = needed_scope::<S>(&tenant);
        if !tenant.scopes.contains(&needed) {
            return Err(ApiError::MissingScope(needed));
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

/// The credential of `Authorization: Bearer <credential>`, if any.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
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
    let key = bearer(&parts.headers).ok_or(ApiError::Unauthorized)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(operator: bool, scopes: &[Scope]) -> Tenant {
        Tenant {
            id: Uuid::nil(),
            name: "dev".into(),
            key_id: (!operator).then(Uuid::nil),
            operator: operator.then(|| Operator {
                id: Uuid::nil(),
                email: "ops@example.com".into(),
                password_hash: String::new(),
                totp_secret_sealed: String::new(),
                totp_last_step: None,
                created_at: chrono::Utc::now(),
                disabled_at: None,
            }),
            scopes: scopes.to_vec(),
        }
    }

    fn allowed<S: RequiredScope>(tenant: &Tenant) -> bool {
        tenant.scopes.contains(&needed_scope::<S>(tenant))
    }

    #[test]
    fn operators_answer_conversations_with_operate_and_keys_still_need_send() {
        // A signed-in operator: as it is today, and a read-only one.
        assert!(allowed::<CanAnswer>(&tenant(true, &OPERATOR_SCOPES)));
        assert!(!allowed::<CanAnswer>(&tenant(true, &[Scope::Read])));
        // Sending stays out of an operator's reach.
        assert!(!allowed::<CanSend>(&tenant(true, &OPERATOR_SCOPES)));
        // Keys are held to `send`, whatever else they hold.
        assert!(allowed::<CanAnswer>(&tenant(false, &[Scope::Send])));
        let all_but_send: Vec<Scope> = Scope::ALL
            .into_iter()
            .filter(|s| *s != Scope::Send)
            .collect();
        assert!(!allowed::<CanAnswer>(&tenant(false, &all_but_send)));
        // Every other route asks the same of both.
        assert_eq!(
            needed_scope::<CanOperate>(&tenant(true, &[])),
            needed_scope::<CanOperate>(&tenant(false, &[]))
        );
    }
}
