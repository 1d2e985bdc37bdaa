//! What an operator signs in with, and how each is checked: an argon2id password, a TOTP
//! code (RFC 6238: SHA-1, 6 digits, 30 s, the step before and after accepted for clock
//! drift, each step at most once) or a single-use recovery code.
//!
//! argon2id uses the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation);
//! the parameters travel in the stored PHC string, so raising them later keeps old hashes
//! readable. Recovery codes are random (60 bits each) and stored as SHA-256, like API keys.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

/// The issuer shown by authenticator apps.
pub const ISSUER: &str = "Pombo";
const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// Accepted steps around now: one each way for clocks that drift.
const SKEW_STEPS: i64 = 1;
pub const RECOVERY_CODES: usize = 10;
/// Passwords shorter than this are refused when set.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longer ones too: argon2 hashes any length, but an attacker's megabyte password should
/// not cost more than anyone else's.
pub const MAX_PASSWORD_BYTES: usize = 1024;

pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// `false` for a wrong password or a malformed hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash no password matches, verified when the email is unknown so that an unknown
/// email takes as long to refuse as a wrong password (no account discovery by timing).
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&generate_password()).expect("hashing a random password"))
}

pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// A random 24-character password (about 142 bits).
pub fn generate_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

/// A new 160-bit TOTP secret (RFC 4226's recommended length).
pub fn generate_totp_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rng().fill(&mut secret[..]);
    secret
}

/// The secret as authenticator apps take it when typed: base32.
pub fn totp_secret_base32(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// The `otpauth://` URI an authenticator app takes (as a QR code or pasted).
pub fn otpauth_uri(secret: &[u8], email: &str) -> String {
    let label: String =
        url::form_urlencoded::byte_serialize(format!("{ISSUER}:{email}").as_bytes())
            .collect::<String>()
            .replace('+', "%20");
    format!(
        "otpauth://totp/{label}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        totp_secret_base32(secret)
    )
}

fn totp(secret: &[u8]) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECS, secret.to_vec())
}

/// The code for `unix_secs`: what an authenticator app shows then.
pub fn totp_code(secret: &[u8], unix_secs: u64) -> String {
    totp(secret).generate(unix_secs)
}

/// The time step whose code `code` is, among the steps accepted at `unix_secs`; `None` when
/// it matches none. The caller still has to make sure the step was not used before.
pub fn totp_step(secret: &[u8], code: &str, unix_secs: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret);
    let now_step = (unix_secs / STEP_SECS) as i64;
    // Every candidate is computed and compared in constant time: which one matched does
    // not show in the timing.
    let mut matched = None;
    for step in now_step - SKEW_STEPS..=now_step + SKEW_STEPS {
        if step < 0 {
            continue;
        }
        let expected = totp.generate(step as u64 * STEP_SECS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            matched = Some(step);
        }
    }
    matched
}

/// Ten new recovery codes, `xxxxx-xxxxx-xx` style groups of lower-case letters and digits.
pub fn generate_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let raw: String = (0..12)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..])
        })
        .collect()
}

/// SHA-256 of a recovery code as typed: case, spaces and dashes do not matter.
pub fn hash_recovery_code(code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

/// Whether `code` is shaped like a recovery code rather than a TOTP code.
pub fn looks_like_recovery_code(code: &str) -> bool {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 12
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert!(!verify_password("anything", decoy_hash()));
    }

    /// RFC 6238 appendix B, SHA-1, 8 digits truncated to our 6 (same HOTP value, mod 10^6).
    #[test]
    fn codes_match_the_rfc_test_vectors() {
        let secret = b"12345678901234567890";
        assert_eq!(totp_code(secret, 59), "287082");
        assert_eq!(totp_code(secret, 1111111109), "081804");
        assert_eq!(totp_code(secret, 1234567890), "005924");
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let secret = generate_totp_secret();
        let now = 1_800_000_015;
        let step = (now / 30) as i64;
        for (offset, accepted) in [
            (-60i64, false),
            (-30, true),
            (0, true),
            (30, true),
            (60, false),
        ] {
            let code = totp_code(&secret, (now as i64 + offset) as u64);
            assert_eq!(
                totp_step(&secret, &code, now),
                accepted.then_some(step + offset / 30),
                "offset {offset}"
            );
        }
        assert_eq!(totp_step(&secret, "12345", now), None);
        assert_eq!(totp_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_as_typed_loosely() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let code = &codes[0];
        assert!(looks_like_recovery_code(code));
        assert!(!looks_like_recovery_code("123456"));
        assert_eq!(
            hash_recovery_code(code),
            hash_recovery_code(&format!(" {} ", code.to_uppercase().replace('-', " ")))
        );
    }

    #[test]
    fn the_uri_names_the_issuer_and_the_account() {
        let uri = otpauth_uri(b"12345678901234567890", "ops@example.com");
        assert!(
            uri.starts_with("otpauth://totp/Pombo%3Aops%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Pombo"),
            "{uri}"
        );
    }
}
