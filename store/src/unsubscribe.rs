//! One-click unsubscribe links (RFC 8058): the `List-Unsubscribe` URL of an email names its
//! notification and category, signed with the installed keyring's lookup key, so that the
//! person can unsubscribe without an account and nobody can make a link for someone else.
//! A link signed under a key that rotated out still works while that key is configured.
//!
//! `<notification id>~<category>~<signature>`: every part is URL-safe as is.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use crate::sealed;

const LABEL: &str = "pombo-unsubscribe-link";

fn payload(notification_id: Uuid, category: &str) -> String {
    format!("{}~{category}", notification_id.simple())
}

/// The token of a link for this notification and category; `None` without a keyring
/// (nothing to sign with: no link is offered).
pub fn token(notification_id: Uuid, category: &str) -> Option<String> {
    let keyring = sealed::installed()?;
    let payload = payload(notification_id, category);
    let mac = keyring.digest(LABEL, &[payload.as_bytes()]);
    Some(format!("{payload}~{}", URL_SAFE_NO_PAD.encode(mac)))
}

/// The notification and category a token names, if its signature holds under one of the
/// configured keys.
pub fn verify(token: &str) -> Option<(Uuid, String)> {
    let keyring = sealed::installed()?;
    let mut parts = token.splitn(3, '~');
    let (id, category, mac) = (parts.next()?, parts.next()?, parts.next()?);
    let notification_id = Uuid::try_parse(id).ok()?;
    if !pombo_contract::preferences::valid_category(category) {
        return None;
    }
    let given = URL_SAFE_NO_PAD.decode(mac).ok()?;
    let payload = payload(notification_id, category);
    let valid = keyring
        .digests(LABEL, &[payload.as_bytes()])
        .iter()
        .any(|expected| same(expected.as_bytes(), &given));
    valid.then(|| (notification_id, category.to_owned()))
}

/// Equal bytes, compared in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
