//! Validation of `to` per channel, shared by the API (to reject bad input with a reason)
//! and the providers (which can trust what reaches them).

use crate::{Channel, outbound::OutboundPolicy};

/// Why a recipient was refused, phrased for the API caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRecipient(pub String);

/// The longest address SMTP allows (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

pub fn validate(
    channel: Channel,
    to: &str,
    outbound: &OutboundPolicy,
) -> Result<(), InvalidRecipient> {
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
        Channel::Sms | Channel::Whatsapp => validate_phone(to),
        Channel::Push => push_target(to).map(|_| ()),
        Channel::Telegram => validate_telegram_chat(to),
        Channel::Instagram => validate_instagram_id(to),
        Channel::Webhook => validate_webhook_url(to, outbound),
        // A recipient profile's id or `external_id`: which one exists is the API's to check.
        Channel::InApp if to.chars().count() > 255 || to.chars().any(char::is_control) => Err(
            InvalidRecipient("a recipient's id or external_id: at most 255 characters".into()),
        ),
        Channel::InApp => Ok(()),
    }
}

/// Phone numbers in E.164 (`+5511987654321`): valid for their country's numbering plan.
fn validate_phone(to: &str) -> Result<(), InvalidRecipient> {
    if !to.starts_with('+') {
        return Err(InvalidRecipient(
            "give the number in E.164 format, with `+` and the country code (+5511987654321)"
                .into(),
        ));
    }
    let number = phonenumber::parse(None, to)
        .map_err(|e| InvalidRecipient(format!("not a phone number: {e}")))?;
    let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
    if e164 != to {
        return Err(InvalidRecipient(format!(
            "give the number in E.164 format, without spaces or punctuation: {e164}"
        )));
    }
    if !phonenumber::is_valid(&number) {
        return Err(InvalidRecipient(
            "not a valid number in its country's numbering plan".into(),
        ));
    }
    Ok(())
}

/// The push service a device token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushTarget {
    /// An FCM registration token (Android, web, or iOS through Firebase).
    Fcm,
    /// An APNs device token: hexadecimal, 32 bytes today (Apple may lengthen it).
    Apns,
}

pub fn push_target(to: &str) -> Result<PushTarget, InvalidRecipient> {
    let hex = to.chars().all(|c| c.is_ascii_hexdigit());
    if hex && to.len() >= 64 && to.len() <= 200 && to.len().is_multiple_of(2) {
        return Ok(PushTarget::Apns);
    }
    let fcm_chars = to
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'));
    if fcm_chars && (100..=4096).contains(&to.len()) {
        return Ok(PushTarget::Fcm);
    }
    Err(InvalidRecipient(
        "not a device token: expected an FCM registration token (100+ characters of \
         letters, digits, `_`, `-`, `:`) or an APNs device token (64+ hexadecimal digits)"
            .into(),
    ))
}

/// A chat id (a number, negative for groups) or a public `@channelusername`.
fn validate_telegram_chat(to: &str) -> Result<(), InvalidRecipient> {
    let numeric = to.strip_prefix('-').unwrap_or(to);
    if !numeric.is_empty() && numeric.len() <= 20 && numeric.chars().all(|c| c.is_ascii_digit()) {
        return Ok(());
    }
    if let Some(name) = to.strip_prefix('@')
        && (5..=32).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Ok(());
    }
    Err(InvalidRecipient(
        "give a Telegram chat id (digits, `-` for groups) or an `@channelusername`".into(),
    ))
}

/// Instagram-scoped user ids are numeric.
fn validate_instagram_id(to: &str) -> Result<(), InvalidRecipient> {
    if to.len() <= 32 && to.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(InvalidRecipient(
            "give the recipient's Instagram-scoped user id (digits)".into(),
        ))
    }
}

/// A webhook target is a URL a tenant chose: the outbound rule applies (https, public).
fn validate_webhook_url(to: &str, outbound: &OutboundPolicy) -> Result<(), InvalidRecipient> {
    outbound
        .check_url(to)
        .map(|_| ())
        .map_err(|e| InvalidRecipient(format!("webhook URL: {e}")))
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
            assert_eq!(validate(Channel::Email, ok, &RULES), Ok(()), "{ok}");
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
            let err = validate(Channel::Email, bad, &RULES).unwrap_err();
            assert!(!err.0.is_empty(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(validate(Channel::Email, &long, &RULES).is_err());
    }

    const RULES: OutboundPolicy = OutboundPolicy::new(Vec::new());

    #[test]
    fn phone_numbers_must_be_valid_e164() {
        for ok in ["+5511987654321", "+14155552671", "+447911123456"] {
            assert_eq!(validate(Channel::Sms, ok, &RULES), Ok(()), "{ok}");
            assert_eq!(validate(Channel::Whatsapp, ok, &RULES), Ok(()), "{ok}");
        }
        for bad in [
            "11987654321",
            "+55 11 98765-4321",
            "+1",
            "+999123456",
            "+5511",
            "abc",
        ] {
            assert!(validate(Channel::Sms, bad, &RULES).is_err(), "{bad}");
        }
    }

    #[test]
    fn device_tokens_are_recognised_by_shape() {
        let apns = "a".repeat(64);
        assert_eq!(push_target(&apns), Ok(PushTarget::Apns));
        let fcm = format!("dQw4w9WgXcQ:APA91b{}", "x_-".repeat(50));
        assert_eq!(push_target(&fcm), Ok(PushTarget::Fcm));
        for bad in [
            "short",
            "zz".repeat(40).as_str(),
            "with space".repeat(20).as_str(),
        ] {
            assert!(push_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn telegram_and_instagram_ids() {
        for ok in ["123456789", "-1001234567890", "@pombo_news"] {
            assert_eq!(validate(Channel::Telegram, ok, &RULES), Ok(()), "{ok}");
        }
        assert!(validate(Channel::Telegram, "@ab", &RULES).is_err());
        assert!(validate(Channel::Telegram, "pombo", &RULES).is_err());
        assert_eq!(
            validate(Channel::Instagram, "17841400000000", &RULES),
            Ok(())
        );
        assert!(validate(Channel::Instagram, "@ana", &RULES).is_err());
    }

    #[test]
    fn webhook_targets_are_public_https_unless_allowed() {
        assert_eq!(
            validate(Channel::Webhook, "https://hooks.example.com/x", &RULES),
            Ok(())
        );
        for bad in [
            "http://hooks.example.com/x",
            "ftp://example.com",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://localhost:8080/",
            "https://user:pw@example.com/",
            "not a url",
        ] {
            assert!(validate(Channel::Webhook, bad, &RULES).is_err(), "{bad}");
        }
        let local = OutboundPolicy::allowing(&["127.0.0.1:9"]);
        assert_eq!(
            validate(Channel::Webhook, "http://127.0.0.1:9/x", &local),
            Ok(())
        );
        assert!(validate(Channel::Webhook, "http://127.0.0.1:10/x", &local).is_err());
    }
}
