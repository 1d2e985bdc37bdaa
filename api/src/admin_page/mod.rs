//! The operators' admin page, `GET /admin`: one self-contained page (HTML, CSS and plain
//! JavaScript embedded in the binary, no framework, no CDN) over the JSON API. The operator
//! signs in (password and TOTP code, `crate::operators`) and the page calls the API with the
//! session's cookie, for one of the operator's tenants at a time; it lists notifications (failed ones first: Pombo's dead-letter view), shows one with
//! its attempts and timeline, retries or cancels it, redrives many after a dry run, shows
//! the audit log and the provider accounts, and the conversations: their messages (and the
//! files people sent, through `GET /v1/files/{id}`), a reply box, and close/reopen. Replying
//! and closing need `operate` (`auth::CanAnswer`); the page reads the session's scopes for
//! the chosen tenant and, without it, shows the conversation read-only, saying why. The
//! *Live events* tab follows the tenant's event stream (`crate::stream`, Server-Sent
//! Events) with a short-lived stream token it mints with the session, since an
//! `EventSource` cannot send the tenant header; it reconnects by itself from the last cursor.
//!
//! Its tabs: *Notifications*, *Bulk redrive*, *Audit log*, *Provider accounts*,
//! *Conversations*, *Live events* and *Webhooks*: the tenant's webhook endpoints with their
//! state and health (delivered/failed/pending, failures in a row, last error, paused until),
//! and an endpoint's details and delivery attempts (the receiver's answer as text, filtered
//! by outcome, page by page). Its Send test event, Recover and Resend (per failed attempt)
//! need `operate`, which an operator's session holds, and refresh the attempts until the
//! deliveries they made are settled; Enable/Disable and Rotate secret need `manage`, which a
//! session does not hold, so they are disabled with a note saying so.
//!
//! The page, its script and its style are separate responses so that the Content Security
//! Policy needs no inline allowance: everything comes from this origin, and the script only
//! talks to it.

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::state::AppState;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// Same-origin everything; no inline script or style, no plugins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self'; \
     script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/", get(index))
        .route("/admin/app.js", get(script))
        .route("/admin/app.css", get(style))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Always revalidate, so a new binary's page is used at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn index() -> Response {
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

async fn script() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_its_script_and_style_from_this_origin_only() {
        assert!(INDEX_HTML.contains(r#"<script src="/admin/app.js" defer></script>"#));
        assert!(INDEX_HTML.contains(r#"<link rel="stylesheet" href="/admin/app.css">"#));
        // Nothing inline that the policy would block.
        assert!(!INDEX_HTML.contains("style=\""));
        assert!(!INDEX_HTML.contains("<style"));
        // No inline event handlers (` onclick=` and the like).
        for (at, _) in INDEX_HTML.match_indices(" on") {
            let name: String = INDEX_HTML[at + 3..]
                .chars()
                .take_while(char::is_ascii_lowercase)
                .collect();
            let after = &INDEX_HTML[at + 3 + name.len()..];
            assert!(
                name.is_empty() || !after.starts_with('='),
                "inline handler `on{name}=`"
            );
        }
        assert_eq!(INDEX_HTML.matches("<script").count(), 1);
    }

    #[test]
    fn the_script_never_puts_data_into_html() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!APP_JS.contains(sink), "app.js uses {sink}");
        }
    }

    /// `node --check` on the script. Node.js is a requirement of `make test` (maildev runs
    /// on it), so a missing `node` fails here rather than passing unchecked.
    #[test]
    fn the_script_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/admin_page/app.js");
        let node = std::env::var_os("POMBO_TEST_NODE").unwrap_or_else(|| "node".into());
        let out = std::process::Command::new(&node)
            .args(["--check", path])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {node:?} ({e}): install Node.js (README, Requirements) or \
                     point POMBO_TEST_NODE at it"
                )
            });
        assert!(
            out.status.success(),
            "node --check app.js failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
