//! An operator's session as the API sees it: the cookie that carries it, the CSRF token
//! that must come with every state-changing request, and the tenant a request acts for.
//!
//! The cookie is `__Host-pombo_session`: `HttpOnly` (no script reads it), `Secure` (never
//! sent in clear; browsers treat `http://localhost` and `127.0.0.1` as secure for this, so
//! development works too), `SameSite=Strict` (no other site's page can make the browser send
//! it) and `Path=/` with no `Domain` (the `__Host-` prefix makes browsers enforce both). The
//! CSRF token is a second, per-session secret the page holds in memory and sends as
//! `X-CSRF-Token`; a request that changes anything without it is refused even if the cookie
//! came along. An operator granted several tenants acts for one per request, named in
//! `X-Pombo-Tenant` (its name or id).

use axum::http::{HeaderMap, HeaderValue, Method, header};
use chrono::Utc;
use pombo_store::{
    entities::tenant,
    operators::{self, Operator, SESSION_LIFETIME, Session},
    tenants::secret_digest,
};
use subtle::ConstantTimeEq;

use crate::{error::ApiError, state::AppState};

pub const COOKIE: &str = "__Host-pombo_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const TENANT_HEADER: &str = "x-pombo-tenant";
/// Sent by the admin page on requests it makes by itself (renewing the live view's stream
/// token): they do not count as the operator's activity, so a page left open still idles out.
pub const BACKGROUND_HEADER: &str = "x-pombo-background";

pub fn set_cookie(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        SESSION_LIFETIME.num_seconds()
    ))
    .expect("a base64url token is a valid header value")
}

pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
    ))
    .expect("a valid header value")
}

/// The session token in the request's cookies, if any.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The live session the request's cookie names; `None` without a cookie, and a 401 for a
/// cookie whose session ended.
pub async fn current(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<(Session, Operator)>, ApiError> {
    let Some(token) = token(headers) else {
        return Ok(None);
    };
    let activity = !headers.contains_key(BACKGROUND_HEADER);
    match operators::live_session(&state.db, &secret_digest(token), Utc::now(), activity).await? {
        Some(found) => Ok(Some(found)),
        None => Err(ApiError::NoSession),
    }
}

/// Refuses a request that can change something unless it carries the session's CSRF token.
pub fn check_csrf(method: &Method, headers: &HeaderMap, session: &Session) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let sent = headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.ct_eq(session.csrf_token.as_bytes())) {
        return Err(ApiError::Csrf);
    }
    Ok(())
}

/// The granted tenant the request names in `X-Pombo-Tenant`.
pub async fn chosen_tenant(
    headers: &HeaderMap,
    state: &AppState,
    operator: &Operator,
) -> Result<tenant::Model, ApiError> {
    let granted = operators::granted_tenants(&state.db, operator.id).await?;
    let Some(wanted) = headers.get(TENANT_HEADER).and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::Forbidden(
            "an operator acts for one tenant at a time: name it (its name or id) in `X-Pombo-Tenant`"
                .into(),
        ));
    };
    let wanted = wanted.trim();
    granted
        .into_iter()
        .find(|t| t.name == wanted || t.id.to_string() == wanted)
        .ok_or_else(|| {
            ApiError::Forbidden(format!(
                "this operator is not granted the tenant `{wanted}` (or it is disabled)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-pombo_session=tok; b=2"),
        );
        assert_eq!(token(&headers), Some("tok"));
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("pombo_session=tok"),
        );
        assert_eq!(token(&headers), None, "only the __Host- cookie counts");
    }

    #[test]
    fn the_cookie_is_http_only_secure_and_strict() {
        let cookie = set_cookie("tok");
        let cookie = cookie.to_str().unwrap();
        for part in [
            "__Host-pombo_session=tok",
            "Path=/",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
        ] {
            assert!(cookie.contains(part), "{part} in {cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
    }
}
