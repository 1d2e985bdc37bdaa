//! Links Pombo puts in messages and serves without an account, signed with the installed
//! keyring's lookup key so that nobody can make one for someone else's message: the
//! one-click unsubscribe link (RFC 8058) names its notification and category; the open
//! pixel and tracked links of an email name their notification. A link signed under a
//! key that rotated out still works while that key is configured.
//!
//! `<notification id>~<what>~<signature>`: every part is URL-safe as is.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use crate::sealed;

const UNSUBSCRIBE: &str = "pombo-unsubscribe-link";
const TRACKING: &str = "pombo-tracking-link";
/// The `what` of tracking links (their notification is all they name).
const TRACKED: &str = "t";

fn payload(notification_id: Uuid, what: &str) -> String {
    format!("{}~{what}", notification_id.simple())
}

fn sign(label: &str, notification_id: Uuid, what: &str) -> Option<String> {
    let keyring = sealed::installed()?;
    let payload = payload(notification_id, what);
    let mac = keyring.digest(label, &[payload.as_bytes()]);
    Some(format!("{payload}~{}", URL_SAFE_NO_PAD.encode(mac)))
}

fn verify(label: &str, token: &str) -> Option<(Uuid, String)> {
    let keyring = sealed::installed()?;
    let mut parts = token.splitn(3, '~');
    let (id, what, mac) = (parts.next()?, parts.next()?, parts.next()?);
    let notification_id = Uuid::try_parse(id).ok()?;
    if !pombo_contract::preferences::valid_category(what) {
        return None;
    }
    let given = URL_SAFE_NO_PAD.decode(mac).ok()?;
    let payload = payload(notification_id, what);
    let valid = keyring
        .digests(label, &[payload.as_bytes()])
        .iter()
        .any(|expected| same(expected.as_bytes(), &given));
    valid.then(|| (notification_id, what.to_owned()))
}

/// The token of an unsubscribe link for this notification and category; `None` without a
/// keyring (nothing to sign with: no link is offered).
pub fn unsubscribe_token(notification_id: Uuid, category: &str) -> Option<String> {
    sign(UNSUBSCRIBE, notification_id, category)
}

/// The notification and category an unsubscribe token names, if its signature holds.
pub fn verify_unsubscribe(token: &str) -> Option<(Uuid, String)> {
    verify(UNSUBSCRIBE, token)
}

/// The token of an email's open pixel and tracked links.
pub fn tracking_token(notification_id: Uuid) -> Option<String> {
    sign(TRACKING, notification_id, TRACKED)
}

/// The notification a tracking token names, if its signature holds.
pub fn verify_tracking(token: &str) -> Option<Uuid> {
    verify(TRACKING, token)
        .filter(|(_, what)| what == TRACKED)
        .map(|(id, _)| id)
}

/// Equal bytes, compared in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
