//! Operators sign in to the admin page: email, password and a TOTP code (or a recovery
//! code), then a server-side session in a cookie. With that session the page calls the same
//! JSON API as keys do, for one granted tenant at a time, with the scopes operators need to
//! watch and repair deliveries (`read`, `operate`) and nothing else: an operator cannot send
//! notifications, change provider accounts or issue keys. `operate` also lets it answer the
//! tenant's conversations (reply, close, reopen: `auth::CanAnswer`). The session names each
//! tenant's scopes, so the page offers only what they allow.
//!
//! | Route | |
//! |-------|-|
//! | `POST /v1/operator/session`   | sign in; sets the cookie, answers the CSRF token and the granted tenants |
//! | `GET /v1/operator/session`    | who is signed in (the page asks on load) |
//! | `DELETE /v1/operator/session` | sign out (CSRF token required) |
//!
//! Operators are made with `pombo-admin operator create` (see `admin_cli`), which prints the
//! password, the TOTP secret and the recovery codes once. Every wrong email, password or code
//! gets the same 401, after the same argon2 work; failures are throttled per email and per
//! client address (`throttle`).

pub mod credentials;
pub mod session;
pub mod throttle;

use std::{
    net::{IpAddr, SocketAddr},
    time::Instant,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use axum::{
    Json,
    extract::{ConnectInfo, State},
    http::{Extensions, HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_contract::Scope;
use pombo_store::{
    operators::{self, Operator, Session},
    tenants,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::{ApiError, Problem},
    extract::JsonBody,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_in, read_session, sign_out))
}

/// Email, password and the code from the authenticator app (or a recovery code).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    /// The 6-digit TOTP code, or one of the recovery codes (`xxxx-xxxx-xxxx`), each usable once.
    pub code: String,
}

/// The signed-in operator.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub operator: OperatorView,
    /// The tenants this operator may act for: name one in `X-Pombo-Tenant` on each request.
    pub tenants: Vec<GrantedTenant>,
    /// Send it back as `X-CSRF-Token` on every request that changes something.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    /// Recovery codes not used yet: sign-in with one spends it.
    pub recovery_codes_left: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorView {
    pub id: Uuid,
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantedTenant {
    pub id: Uuid,
    pub name: String,
    /// What this operator may do for the tenant: `read`, and `operate` to repair deliveries
    /// and answer conversations.
    pub scopes: Vec<Scope>,
}

async fn view(
    state: &AppState,
    session: &Session,
    operator: &Operator,
) -> Result<SessionView, ApiError> {
    let tenants = operators::granted_tenants(&state.db, operator.id)
        .await?
        .into_iter()
        .map(|t| GrantedTenant {
            id: t.id,
            name: t.name,
            scopes: crate::auth::OPERATOR_SCOPES.to_vec(),
        })
        .collect();
    Ok(SessionView {
        operator: OperatorView {
            id: operator.id,
            email: operator.email.clone(),
        },
        tenants,
        csrf_token: session.csrf_token.clone(),
        expires_at: session.expires_at,
        recovery_codes_left: operators::unused_recovery_codes(&state.db, operator.id).await?,
    })
}

/// Signs an operator in.
#[utoipa::path(
    post, path = "/v1/operator/session", tag = "operators",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in: the `__Host-pombo_session` cookie is set", body = SessionView),
        (status = 400, description = "Malformed JSON (`detail` says where)", body = Problem),
        (status = 401, description = "Wrong email, password or code (which one is not said)", body = Problem),
        (status = 413, description = "Body larger than the limit (`detail` says it)", body = Problem),
        (status = 415, description = "Not JSON: send `Content-Type: application/json`", body = Problem),
        (status = 422, description = "A field missing or of the wrong type: `errors` names it", body = Problem),
        (status = 429, description = "Too many failed sign-ins for this email or address", body = Problem,
         headers(("Retry-After" = u64, description = "Seconds until a sign-in is allowed again"))),
    ),
)]
pub async fn sign_in(
    State(state): State<AppState>,
    extensions: Extensions,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<Response, ApiError> {
    let email = operators::normalise_email(&body.email);
    // The connection's peer (absent when the router is served without connect info).
    let address: Option<IpAddr> = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let throttle = &state.sign_in_throttle;
    throttle.admit(&email, address, Instant::now())?;
    match check_credentials(&state, &email, body.password, &body.code).await? {
        Some(operator) => {
            throttle.succeeded(&email);
            let token = tenants::random_secret();
            let session = operators::start_session(
                &state.db,
                operator.id,
                tenants::secret_digest(&token),
                tenants::random_secret(),
            )
            .await?;
            tracing::info!(operator = %operator.email, "operator signed in");
            let view = view(&state, &session, &operator).await?;
            let mut response = Json(view).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session::set_cookie(&token));
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, "no-store".parse().expect("valid"));
            Ok(response)
        }
        None => {
            throttle.failed(&email, address, Instant::now());
            tracing::warn!(operator = %email, ?address, "operator sign-in refused");
            Err(ApiError::SignInFailed)
        }
    }
}

/// The operator whose email, password and code all match; `None` otherwise. The password is
/// always hashed (against a decoy for an unknown email), off the async runtime: argon2 is
/// meant to be slow.
async fn check_credentials(
    state: &AppState,
    email: &str,
    password: String,
    code: &str,
) -> Result<Option<Operator>, ApiError> {
    let operator = operators::by_email(&state.db, email).await?;
    let hash = operator
        .as_ref()
        .map(|o| o.password_hash.clone())
        .unwrap_or_else(|| credentials::decoy_hash().to_owned());
    let password_ok =
        tokio::task::spawn_blocking(move || credentials::verify_password(&password, &hash))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
    let Some(operator) = operator.filter(|o| password_ok && o.disabled_at.is_none()) else {
        return Ok(None);
    };
    let code_ok = if credentials::looks_like_recovery_code(code) {
        operators::spend_recovery_code(
            &state.db,
            operator.id,
            &credentials::hash_recovery_code(code),
        )
        .await?
    } else {
        let secret = operators::totp_secret(state.keyring.as_deref(), &operator)?;
        let now = Utc::now().timestamp().max(0) as u64;
        match credentials::totp_step(&secret, code, now) {
            Some(step) => operators::accept_totp_step(&state.db, operator.id, step).await?,
            None => false,
        }
    };
    Ok(code_ok.then_some(operator))
}

/// The signed-in operator, the tenants it may act for and the session's CSRF token.
#[utoipa::path(
    get, path = "/v1/operator/session", tag = "operators",
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 401, description = "Not signed in, or the session ended", body = Problem),
    ),
)]
pub async fn read_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SessionView>, ApiError> {
    let (session, operator) = session::current(&headers, &state)
        .await?
        .ok_or(ApiError::NoSession)?;
    Ok(Json(view(&state, &session, &operator).await?))
}

/// Signs out: the session ends on the server, and the cookie is cleared.
#[utoipa::path(
    delete, path = "/v1/operator/session", tag = "operators",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in, or the session ended", body = Problem),
        (status = 403, description = "The CSRF token is missing or wrong", body = Problem),
    ),
)]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (session, operator) = session::current(&headers, &state)
        .await?
        .ok_or(ApiError::NoSession)?;
    session::check_csrf(&Method::DELETE, &headers, &session)?;
    operators::end_session(&state.db, &session.token_hash).await?;
    tracing::info!(operator = %operator.email, "operator signed out");
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session::clear_cookie())],
    )
        .into_response())
}
