//! One-click unsubscribe (RFC 8058) and the small page behind an email's unsubscribe link:
//! `POST /v1/unsubscribe/{token}` is what a mailbox provider's "Unsubscribe" button sends
//! (body `List-Unsubscribe=One-Click`), and `GET` shows the person a page with the same
//! choice, everything else, and the way back. No account: the token is the credential,
//! signed by Pombo for one notification and its category (`pombo_store::signed_links`).
//!
//! The choice lands on the recipient profile's preferences when the email went to one;
//! an email sent to a bare address puts the address on the tenant's suppression list
//! (reason `unsubscribed`) instead. Either way it is on the notification's timeline.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use pombo_contract::preferences::Preferences;
use pombo_store::{
    StoreError,
    events::{self, NewEvent},
    notifications::{self, Notification},
    preferences, suppressions, tenants,
};
use utoipa::ToSchema;

use crate::{
    error::{ApiError, Problem},
    extract::PathParams,
    state::AppState,
};

/// What the person asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// This email's category (what the one-click POST means).
    Category,
    /// Every category but alerts.
    Everything,
    /// Undo both.
    Resubscribe,
}

/// The form a one-click POST or the page sends.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UnsubscribeForm {
    /// `One-Click`, as mailbox providers send it.
    #[schema(rename = "List-Unsubscribe")]
    list_unsubscribe: Option<String>,
    /// From the page: `category` (default), `everything` or `resubscribe`.
    action: Option<String>,
}

fn choice(body: &[u8]) -> Choice {
    let action = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.into_owned());
    match action.as_deref() {
        Some("everything") => Choice::Everything,
        Some("resubscribe") => Choice::Resubscribe,
        _ => Choice::Category,
    }
}

/// The signed link's notification, with its category. A token that does not verify, or
/// whose notification is gone, is a 404 like any unknown id.
async fn linked(state: &AppState, token: &str) -> Result<(Notification, String), ApiError> {
    let gone = || ApiError::NotFound("no such unsubscribe link".into());
    let (id, category) = pombo_store::signed_links::verify_unsubscribe(token).ok_or_else(gone)?;
    match notifications::get(&state.db, id).await {
        Ok(n) => Ok((n, category)),
        Err(StoreError::NotFound) => Err(gone()),
        Err(e) => Err(e.into()),
    }
}

/// Where the person stands now: unsubscribed from the category, from everything, or not.
async fn standing(
    state: &AppState,
    n: &Notification,
    category: &str,
) -> Result<(bool, bool), ApiError> {
    if let Some(recipient) = n.recipient_id {
        let prefs = preferences::of_recipient(&state.db, n.tenant_id, recipient)
            .await
            .unwrap_or_default();
        let off = prefs
            .categories
            .get(category)
            .is_some_and(|c| c.enabled == Some(false));
        return Ok((off, prefs.unsubscribed == Some(true)));
    }
    let suppressed = n.purged_at.is_none()
        && suppressions::reason_for(&state.db, n.tenant_id, *n.channel, &n.recipient)
            .await?
            .is_some();
    Ok((suppressed, suppressed))
}

/// Applies `choice`; what to tell the person.
async fn apply(
    state: &AppState,
    n: &Notification,
    category: &str,
    choice: Choice,
) -> Result<String, ApiError> {
    let said = match (n.recipient_id, choice) {
        (Some(recipient), choice) => {
            let mut prefs: Preferences =
                preferences::of_recipient(&state.db, n.tenant_id, recipient)
                    .await
                    .map_err(ApiError::unless_found("recipient"))?;
            let entry = prefs.categories.entry(category.to_owned()).or_default();
            let said = match choice {
                Choice::Category => {
                    entry.enabled = Some(false);
                    format!("You will no longer get `{category}` messages.")
                }
                Choice::Everything => {
                    prefs.unsubscribed = Some(true);
                    "You will no longer get messages, except alerts (security codes and the like)."
                        .to_owned()
                }
                Choice::Resubscribe => {
                    entry.enabled = None;
                    prefs.unsubscribed = None;
                    format!("You will get `{category}` messages again.")
                }
            };
            prefs.categories.retain(|_, c| *c != Default::default());
            preferences::set_for_recipient(&state.db, n.tenant_id, recipient, &prefs).await?;
            said
        }
        (None, _) if n.purged_at.is_some() => {
            return Err(ApiError::NotFound(
                "this link has expired: its message is no longer kept".into(),
            ));
        }
        (None, Choice::Resubscribe) => {
            return Err(ApiError::field(
                "action",
                "an address without a profile cannot resubscribe here: ask the sender",
            ));
        }
        (None, _) => {
            suppressions::add(
                &state.db,
                n.tenant_id,
                *n.channel,
                &n.recipient,
                suppressions::reasons::UNSUBSCRIBED,
                Some(format!("from a `{category}` email's link")),
                Some(n.id),
            )
            .await?;
            "You will no longer get messages at this address, except alerts.".to_owned()
        }
    };
    let word = match choice {
        Choice::Category => "unsubscribed",
        Choice::Everything => "unsubscribed_all",
        Choice::Resubscribe => "resubscribed",
    };
    events::insert(
        &state.db,
        n.id,
        &NewEvent {
            reason: Some(format!("category `{category}`")),
            ..NewEvent::new(*n.status, "recipient", word)
        },
    )
    .await?;
    Ok(said)
}

/// The page: what this link is about, where the person stands, and the buttons.
fn page(tenant: &str, category: &str, standing: (bool, bool), note: Option<&str>) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;")
    };
    let (tenant, category) = (escape(tenant), escape(category));
    let (category_off, all_off) = standing;
    let state = match (category_off, all_off) {
        (_, true) => "You are unsubscribed from everything but alerts.".to_owned(),
        (true, false) => format!("You are unsubscribed from <b>{category}</b> messages."),
        (false, false) => format!("You get <b>{category}</b> messages from {tenant}."),
    };
    let note = note
        .map(|n| format!("<p id=\"done\" role=\"status\">{}</p>", escape(n)))
        .unwrap_or_default();
    let button = |action: &str, label: &str| {
        format!(
            "<form method=\"post\"><input type=\"hidden\" name=\"action\" value=\"{action}\">\
             <button id=\"{action}\" type=\"submit\">{label}</button></form>"
        )
    };
    let mut buttons = String::new();
    if !category_off && !all_off {
        buttons += &button("category", &format!("Unsubscribe from {category} messages"));
    }
    if !all_off {
        buttons += &button("everything", "Unsubscribe from everything but alerts");
    }
    if category_off || all_off {
        buttons += &button("resubscribe", "Subscribe again");
    }
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Email preferences: {tenant}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}}\
         form{{display:inline-block;margin:.25rem .5rem .25rem 0}}button{{padding:.5rem 1rem;font-size:1rem}}\
         #done{{background:#eef7ee;padding:.5rem}}</style></head>\
         <body><h1>Email preferences</h1><p>Messages from <b>{tenant}</b>.</p>{note}\
         <p id=\"standing\">{state}</p>{buttons}</body></html>"
    );
    let mut response = (StatusCode::OK, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // No script, no outside resource; the forms post back to this very URL.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

async fn tenant_name(state: &AppState, n: &Notification) -> Result<String, ApiError> {
    Ok(tenants::get(&state.db, n.tenant_id).await?.name)
}

/// The page behind an email's unsubscribe link: unsubscribe from this email's category,
/// from everything but alerts, or subscribe again. No sign-in: the link is signed.
#[utoipa::path(
    get, path = "/v1/unsubscribe/{token}", tag = "recipients",
    params(("token" = String, Path, description = "From the email's List-Unsubscribe link")),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 404, description = "No such link", body = Problem),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    PathParams(token): PathParams<String>,
) -> Result<Response, ApiError> {
    let (n, category) = linked(&state, &token).await?;
    let now = standing(&state, &n, &category).await?;
    Ok(page(&tenant_name(&state, &n).await?, &category, now, None))
}

/// One-click unsubscribe (RFC 8058): a mailbox provider's button posts
/// `List-Unsubscribe=One-Click` here, which unsubscribes from the email's category. The
/// page's buttons post `action=everything` or `action=resubscribe`.
#[utoipa::path(
    post, path = "/v1/unsubscribe/{token}", tag = "recipients",
    params(("token" = String, Path, description = "From the email's List-Unsubscribe link")),
    request_body(content = UnsubscribeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Done; the page, saying so", body = String, content_type = "text/html"),
        (status = 404, description = "No such link, or it expired", body = Problem),
        (status = 422, description = "A choice this link cannot make", body = Problem),
    ),
)]
pub async fn unsubscribe(
    State(state): State<AppState>,
    PathParams(token): PathParams<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (n, category) = linked(&state, &token).await?;
    let said = apply(&state, &n, &category, choice(&body)).await?;
    let now = standing(&state, &n, &category).await?;
    Ok(page(
        &tenant_name(&state, &n).await?,
        &category,
        now,
        Some(&said),
    ))
}
