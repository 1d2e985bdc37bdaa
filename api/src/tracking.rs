//! Email engagement: the open pixel and the tracked links of an email that asked for them
//! (`tracking` on the notification or its template). Each records the first open or click
//! on the notification (`opened_at`, `clicked_at`, `notification.opened|clicked` in the event
//! log), a timeline entry (source `tracking`; a click's `code` is the link's position, not
//! anything about the person), and moves the notification to `read`. A click is
//! redirected to the link at that position in the notification's own stored content, so a
//! tracked link cannot send anyone anywhere else; the token is signed
//! (`pombo_store::signed_links`).

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use pombo_contract::NotificationStatus;
use pombo_store::{
    StoreError,
    events::NewEvent,
    notifications::{self, Engagement},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    error::{ApiError, Problem},
    extract::PathParams,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open))
        .routes(routes!(click))
}

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn unknown() -> ApiError {
    ApiError::NotFound("no such tracking link".into())
}

async fn engaged(
    state: &AppState,
    id: Uuid,
    engagement: Engagement,
    position: Option<usize>,
) -> Result<(), ApiError> {
    notifications::record_engagement(&state.db, id, engagement).await?;
    let word = match engagement {
        Engagement::Opened => "opened",
        Engagement::Clicked => "clicked",
    };
    state
        .dispatcher
        .record_and_signal(
            &state.db,
            id,
            NewEvent {
                code: position.map(|p| p.to_string()),
                ..NewEvent::new(NotificationStatus::Read, "tracking", word)
            },
        )
        .await?;
    Ok(())
}

/// An email's open pixel: records that it was opened, answers a transparent GIF.
#[utoipa::path(
    get, path = "/v1/t/{token}/open.gif", tag = "notifications",
    params(("token" = String, Path, description = "From the email")),
    responses(
        (status = 200, description = "A 1×1 transparent GIF", body = Vec<u8>, content_type = "image/gif"),
        (status = 404, description = "No such link", body = Problem),
    ),
)]
pub async fn open(
    State(state): State<AppState>,
    PathParams(token): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = pombo_store::signed_links::verify_tracking(&token).ok_or_else(unknown)?;
    engaged(&state, id, Engagement::Opened, None).await?;
    let mut response = (StatusCode::OK, PIXEL).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, max-age=0"),
    );
    Ok(response)
}

/// A tracked link of an email: records the click (by the link's position) and redirects
/// to the link as the email was written.
#[utoipa::path(
    get, path = "/v1/t/{token}/click/{position}", tag = "notifications",
    params(
        ("token" = String, Path, description = "From the email"),
        ("position" = u32, Path, description = "The link's position in the email, from 0"),
    ),
    responses(
        (status = 302, description = "To the link"),
        (status = 404, description = "No such link, or its message is no longer kept", body = Problem),
    ),
)]
pub async fn click(
    State(state): State<AppState>,
    PathParams((token, position)): PathParams<(String, u32)>,
) -> Result<Response, ApiError> {
    let id = pombo_store::signed_links::verify_tracking(&token).ok_or_else(unknown)?;
    let n = match notifications::get(&state.db, id).await {
        Ok(n) => n,
        Err(StoreError::NotFound) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    let target = n
        .rendered
        .as_ref()
        .and_then(|r| r.get("html"))
        .and_then(|h| h.as_str())
        .and_then(|html| pombo_contract::tracking::link_at(html, position as usize))
        .ok_or_else(|| {
            ApiError::NotFound("no such link in this message, or it is no longer kept".into())
        })?;
    let location = HeaderValue::from_str(&target).map_err(|_| unknown())?;
    engaged(&state, id, Engagement::Clicked, Some(position as usize)).await?;
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
