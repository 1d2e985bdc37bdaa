//! Encryption at rest: AES-256-GCM with keys from the configuration.
//!
//! A sealed value is `v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The key id travels
//! with the value, so a key is rotated by adding a new one and making it current: values
//! sealed with older keys stay readable until they are re-sealed. Each value is bound to
//! its row (associated data), so a sealed value copied into another row does not open.

use std::collections::HashMap;

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, AeadCore, OsRng, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use pombo_contract::config::EncryptionConfig;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("encryption.keys: key `{0}` is not base64 of 32 bytes")]
    BadKey(String),
    #[error("encryption.current_key `{0}` is not among encryption.keys")]
    NoCurrentKey(String),
    #[error("sealed with key `{0}`, which is not configured any more")]
    UnknownKey(String),
    #[error("sealed data is malformed or was tampered with")]
    Corrupt,
}

#[derive(Clone)]
pub struct Keyring {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keyring(current: {}, {} keys)",
            self.current,
            self.keys.len()
        )
    }
}

impl Keyring {
    /// The configured keys, or `None` when none is configured (features that store
    /// secrets then refuse with a clear error rather than storing them in clear).
    pub fn from_config(config: &EncryptionConfig) -> Result<Option<Keyring>, SealError> {
        if config.keys.is_empty() {
            return Ok(None);
        }
        let mut keys = HashMap::new();
        for (id, secret) in &config.keys {
            let bytes = STANDARD
                .decode(secret.expose().trim())
                .map_err(|_| SealError::BadKey(id.clone()))?;
            let cipher =
                Aes256Gcm::new_from_slice(&bytes).map_err(|_| SealError::BadKey(id.clone()))?;
            keys.insert(id.clone(), cipher);
        }
        if !keys.contains_key(&config.current_key) {
            return Err(SealError::NoCurrentKey(config.current_key.clone()));
        }
        Ok(Some(Keyring {
            current: config.current_key.clone(),
            keys,
        }))
    }

    /// A fresh random key (`openssl rand -base64 32` does the same), as base64.
    pub fn generate_key() -> String {
        STANDARD.encode(Aes256Gcm::generate_key(&mut OsRng))
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Seals `plaintext`, bound to `context` (e.g. the row's table and id).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> String {
        let cipher = &self.keys[&self.current];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("AES-GCM encryption cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("v1:{}:{}", self.current, STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some("v1"), Some(key_id), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Corrupt);
        };
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_owned()))?;
        let bytes = STANDARD.decode(data).map_err(|_| SealError::Corrupt)?;
        if bytes.len() < 12 {
            return Err(SealError::Corrupt);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SealError::Corrupt)?;
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| SealError::Corrupt)
    }

    /// The id of the key that sealed `sealed`, if it is well-formed.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        sealed.strip_prefix("v1:")?.split(':').next()
    }
}

/// The keyring that seals personal data in notification rows (recipient, content, data,
/// rendered content, fallback). Process-wide, installed once at start-up by the API and
/// the worker, so every query that reads or writes a notification seals and opens it
/// without each caller passing keys around. Without a keyring, rows are written in
/// clear and a warning says so at start-up.
static PERSONAL_DATA: std::sync::RwLock<Option<Keyring>> = std::sync::RwLock::new(None);

/// Installs the keyring for personal data (replacing an earlier one, which must hold the
/// same keys if rows sealed with it are still to be read).
pub fn install(keyring: Option<Keyring>) {
    *PERSONAL_DATA.write().expect("keyring lock") = keyring;
}

pub(crate) fn installed() -> Option<Keyring> {
    PERSONAL_DATA.read().expect("keyring lock").clone()
}

fn context(id: uuid::Uuid, column: &str) -> Vec<u8> {
    format!("notifications:{id}:{column}").into_bytes()
}

pub(crate) fn seal_text(id: uuid::Uuid, column: &str, text: String) -> String {
    match installed() {
        Some(k) => k.seal(text.as_bytes(), &context(id, column)),
        None => text,
    }
}

pub(crate) fn open_text(id: uuid::Uuid, column: &str, text: String) -> Result<String, SealError> {
    if Keyring::key_id_of(&text).is_none() {
        return Ok(text);
    }
    let keyring = installed().ok_or_else(|| {
        SealError::UnknownKey(Keyring::key_id_of(&text).unwrap_or_default().to_owned())
    })?;
    let bytes = keyring.open(&text, &context(id, column))?;
    String::from_utf8(bytes).map_err(|_| SealError::Corrupt)
}

/// A JSON column holds the sealed JSON text as a JSON string.
pub(crate) fn seal_json(
    id: uuid::Uuid,
    column: &str,
    value: serde_json::Value,
) -> serde_json::Value {
    match installed() {
        Some(k) => {
            serde_json::Value::String(k.seal(value.to_string().as_bytes(), &context(id, column)))
        }
        None => value,
    }
}

pub(crate) fn open_json(
    id: uuid::Uuid,
    column: &str,
    value: serde_json::Value,
) -> Result<serde_json::Value, SealError> {
    match value {
        serde_json::Value::String(s) if Keyring::key_id_of(&s).is_some() => {
            let text = open_text(id, column, s)?;
            serde_json::from_str(&text).map_err(|_| SealError::Corrupt)
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use pombo_contract::config::Secret;

    use super::*;

    fn ring(current: &str, ids: &[&str]) -> Keyring {
        let mut config = EncryptionConfig {
            current_key: current.into(),
            ..Default::default()
        };
        for id in ids {
            config
                .keys
                .insert((*id).into(), Secret::new(Keyring::generate_key()));
        }
        Keyring::from_config(&config).unwrap().unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let k = ring("a", &["a"]);
        let sealed = k.seal(b"hunter2", b"row-1");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(Keyring::key_id_of(&sealed), Some("a"));
        assert_eq!(k.open(&sealed, b"row-1").unwrap(), b"hunter2");
        assert_eq!(k.open(&sealed, b"row-2"), Err(SealError::Corrupt));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(k.open(&tampered, b"row-1"), Err(SealError::Corrupt));
        // Same plaintext, fresh nonce: equal secrets do not show up as equal ciphertexts.
        assert_ne!(k.seal(b"hunter2", b"row-1"), sealed);
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let mut config = EncryptionConfig {
            current_key: "old".into(),
            ..Default::default()
        };
        config
            .keys
            .insert("old".into(), Secret::new(Keyring::generate_key()));
        let old = Keyring::from_config(&config).unwrap().unwrap();
        let sealed = old.seal(b"x", b"c");
        config
            .keys
            .insert("new".into(), Secret::new(Keyring::generate_key()));
        config.current_key = "new".into();
        let rotated = Keyring::from_config(&config).unwrap().unwrap();
        assert_eq!(rotated.open(&sealed, b"c").unwrap(), b"x");
        assert_eq!(Keyring::key_id_of(&rotated.seal(b"x", b"c")), Some("new"));
        config.keys.remove("old");
        let without_old = Keyring::from_config(&config).unwrap().unwrap();
        assert_eq!(
            without_old.open(&sealed, b"c"),
            Err(SealError::UnknownKey("old".into()))
        );
    }

    #[test]
    fn bad_keys_are_refused_at_start() {
        let mut config = EncryptionConfig {
            current_key: "a".into(),
            ..Default::default()
        };
        config.keys.insert("a".into(), Secret::new("c2hvcnQ="));
        assert_eq!(
            Keyring::from_config(&config).unwrap_err(),
            SealError::BadKey("a".into())
        );
        assert!(
            Keyring::from_config(&EncryptionConfig::default())
                .unwrap()
                .is_none()
        );
    }
}
