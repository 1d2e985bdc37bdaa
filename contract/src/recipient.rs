//! Validation of `to` per channel, shared by the API (to reject bad input with a reason)
//! and the providers (which can trust what reaches them).

use crate::Channel;

/// Why a recipient was refused, phrased for the API caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRecipient(pub String);

/// The longest address SMTP allows (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

pub fn validate(channel: Channel, to: &str) -> Result<(), InvalidRecipient> {
    let to_trimmed = to.trim();
    if to_trimmed.is_empty() {
        return Err(InvalidRecipient("must not be empty".into()));
    }
    if to_trimmed != to {
        return Err(InvalidRecipient(
            "must not have leading or trailing spaces".into(),
        ));
    }
    match channel {
        Channel::Email => validate_email(to),
        // Each remaining channel gets its own rule with its providers; until then they are
        // refused earlier, as not enabled.
        _ => Ok(()),
    }
}

fn validate_email(to: &str) -> Result<(), InvalidRecipient> {
    if to.len() > MAX_EMAIL_LEN {
        return Err(InvalidRecipient(format!(
            "an email address has at most {MAX_EMAIL_LEN} characters"
        )));
    }
    // A bare address only: display names ("Ann <ann@x>") are for the sender side.
    let parsed: email_address::EmailAddress = to
        .parse()
        .map_err(|e| InvalidRecipient(format!("not a valid email address: {e}")))?;
    if parsed.email() != to {
        return Err(InvalidRecipient(
            "give a bare email address, without a display name".into(),
        ));
    }
    // `a@b` is a valid RFC address but undeliverable on the public internet; local test
    // servers use `localhost`, so allow that one name explicitly.
    let domain = parsed.domain();
    if !domain.contains('.') && domain != "localhost" {
        return Err(InvalidRecipient(format!(
            "the domain `{domain}` has no dot: not a deliverable address"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "ana@example.com",
            "a.b+tag@sub.example.co.uk",
            "dev@localhost",
        ] {
            assert_eq!(validate(Channel::Email, ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed_addresses_with_a_reason() {
        for bad in [
            "",
            "plain",
            "no-at.example.com",
            "two@@example.com",
            "Ana <ana@example.com>",
            " ana@example.com",
            "ana@intranet",
        ] {
            let err = validate(Channel::Email, bad).unwrap_err();
            assert!(!err.0.is_empty(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(validate(Channel::Email, &long).is_err());
    }
}
