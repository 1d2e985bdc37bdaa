//! Encryption at rest: AES-256-GCM with keys from the configuration, and keyed digests for
//! the sealed values that must still be found by equality.
//!
//! A sealed value is `v2:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The key id travels
//! with the value, so a key is rotated by adding a new one and making it current: values
//! sealed with older keys stay readable until they are re-sealed. Each value is bound
//! (associated data, [`Aad`]) to its row and column and to the tenant that owns the row, so
//! a sealed value copied into another row, or a row moved to another tenant, does not open.
//! Values written before the tenant was bound (`v1:`) are still read, bound to the row
//! only, and are rewritten as `v2:` by the next write or by `pombo-worker reseal`.
//!
//! A lookup digest ([`Keyring::digest`]) is an HMAC-SHA256 under a key derived from an
//! encryption key, `h1:<key id>:<hex>`: unlike a plain hash, someone who reads the database
//! without the keys cannot test guesses against it (an e-mail address or a customer number
//! is easy to guess).

use std::collections::HashMap;

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, AeadCore, OsRng, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use pombo_contract::config::EncryptionConfig;
use sha2::Sha256;
use uuid::Uuid;

/// What a sealed value is bound to: its place (`table:id:column`) and its tenant (`None`
/// for rows that belong to no tenant, such as server-wide accounts and operators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad {
    tenant: Option<Uuid>,
    place: String,
}

impl Aad {
    pub fn new(tenant: Option<Uuid>, place: String) -> Aad {
        Aad { tenant, place }
    }

    /// `v1:` values: the place only.
    fn v1(&self) -> Vec<u8> {
        self.place.as_bytes().to_vec()
    }

    fn v2(&self) -> Vec<u8> {
        let tenant = self.tenant.map(|t| t.to_string()).unwrap_or_default();
        format!("{}\0tenant:{tenant}", self.place).into_bytes()
    }
}

/// The format sealed values are written in (see the module's header).
pub const FORMAT: &str = "v2";

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
    /// Per key id, the HMAC key of lookup digests, derived from the encryption key.
    digest_keys: HashMap<String, [u8; 32]>,
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
        let mut digest_keys = HashMap::new();
        for (id, secret) in &config.keys {
            let bytes = STANDARD
                .decode(secret.expose().trim())
                .map_err(|_| SealError::BadKey(id.clone()))?;
            let cipher =
                Aes256Gcm::new_from_slice(&bytes).map_err(|_| SealError::BadKey(id.clone()))?;
            keys.insert(id.clone(), cipher);
            // A separate key for digests (never the cipher's own), derived as HKDF-Expand
            // with one block would: HMAC(key, label).
            let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(&bytes)
                .map_err(|_| SealError::BadKey(id.clone()))?;
            derive.update(b"pombo lookup digest v1\x01");
            digest_keys.insert(id.clone(), derive.finalize().into_bytes().into());
        }
        if !keys.contains_key(&config.current_key) {
            return Err(SealError::NoCurrentKey(config.current_key.clone()));
        }
        Ok(Some(Keyring {
            current: config.current_key.clone(),
            keys,
            digest_keys,
        }))
    }

    /// A fresh random key (`openssl rand -base64 32` does the same), as base64.
    pub fn generate_key() -> String {
        STANDARD.encode(Aes256Gcm::generate_key(&mut OsRng))
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// The prefix of values sealed in the current format with the current key: rows
    /// without it are the ones `reseal` rewrites.
    pub fn current_prefix(&self) -> String {
        format!("{FORMAT}:{}:", self.current)
    }

    /// Seals `plaintext`, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad) -> String {
        let context = aad.v2();
        let cipher = &self.keys[&self.current];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &context,
                },
            )
            .expect("AES-GCM encryption cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{FORMAT}:{}:{}", self.current, STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str, aad: &Aad) -> Result<Vec<u8>, SealError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(format), Some(key_id), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Corrupt);
        };
        let context = match format {
            "v1" => aad.v1(),
            "v2" => aad.v2(),
            _ => return Err(SealError::Corrupt),
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
                    aad: &context,
                },
            )
            .map_err(|_| SealError::Corrupt)
    }

    /// The id of the key that sealed `sealed`, if it is well-formed.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        sealed
            .strip_prefix("v2:")
            .or_else(|| sealed.strip_prefix("v1:"))?
            .split(':')
            .next()
    }

    /// The lookup digest of `parts` under `key_id`'s digest key, `h1:<key id>:<hex>`;
    /// `label` keeps digests of different things apart.
    fn digest_with(&self, key_id: &str, label: &str, parts: &[&[u8]]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.digest_keys[key_id])
            .expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        for part in parts {
            // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        format!("h1:{key_id}:{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// The digest to write: under the current key.
    pub fn digest(&self, label: &str, parts: &[&[u8]]) -> String {
        self.digest_with(&self.current, label, parts)
    }

    /// Every digest a stored value may have been written with: the current key's first,
    /// then every other configured key's (rows not yet re-sealed after a rotation).
    pub fn digests(&self, label: &str, parts: &[&[u8]]) -> Vec<String> {
        let mut all = vec![self.digest(label, parts)];
        let mut others: Vec<&String> = self.keys.keys().filter(|k| **k != self.current).collect();
        others.sort();
        all.extend(
            others
                .into_iter()
                .map(|k| self.digest_with(k, label, parts)),
        );
        all
    }
}

/// Every lookup digest a row about `address` on `channel` of a tenant may hold: under each
/// configured key (current first, the one to write), then the unkeyed SHA-256 written
/// without a keyring. `label` keeps digests of different tables apart.
pub fn address_digests(
    label: &str,
    tenant_id: Uuid,
    channel: pombo_contract::Channel,
    address: &str,
) -> Vec<String> {
    let parts: [&[u8]; 3] = [
        tenant_id.as_bytes(),
        channel.as_str().as_bytes(),
        address.as_bytes(),
    ];
    let mut all = match installed() {
        Some(keyring) => keyring.digests(label, &parts),
        None => Vec::new(),
    };
    let mut hash = <Sha256 as sha2::Digest>::new();
    for part in parts {
        sha2::Digest::update(&mut hash, (part.len() as u64).to_be_bytes());
        sha2::Digest::update(&mut hash, part);
    }
    all.push(hex::encode(sha2::Digest::finalize(hash)));
    all
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

/// A notification's personal data: which row and column, owned by which tenant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub tenant: Uuid,
    pub id: Uuid,
}

fn context(place: Place, column: &str) -> Aad {
    Aad::new(
        Some(place.tenant),
        format!("notifications:{}:{column}", place.id),
    )
}

pub(crate) fn seal_text(place: Place, column: &str, text: String) -> String {
    seal_text_at(&context(place, column), text)
}

pub(crate) fn open_text(place: Place, column: &str, text: String) -> Result<String, SealError> {
    open_text_at(&context(place, column), text)
}

/// Personal data bound to `aad`, sealed with the installed keyring; in clear without one
/// (start-up warns).
pub(crate) fn seal_text_at(aad: &Aad, text: String) -> String {
    match installed() {
        Some(k) => k.seal(text.as_bytes(), aad),
        None => text,
    }
}

/// [`seal_text_at`]'s value opened; a value in clear (written without a keyring) as is.
pub(crate) fn open_text_at(aad: &Aad, text: String) -> Result<String, SealError> {
    if Keyring::key_id_of(&text).is_none() {
        return Ok(text);
    }
    let keyring = installed().ok_or_else(|| {
        SealError::UnknownKey(Keyring::key_id_of(&text).unwrap_or_default().to_owned())
    })?;
    let bytes = keyring.open(&text, aad)?;
    String::from_utf8(bytes).map_err(|_| SealError::Corrupt)
}

/// A JSON column holds the sealed JSON text as a JSON string.
pub(crate) fn seal_json(place: Place, column: &str, value: serde_json::Value) -> serde_json::Value {
    match installed() {
        Some(k) => {
            serde_json::Value::String(k.seal(value.to_string().as_bytes(), &context(place, column)))
        }
        None => value,
    }
}

pub(crate) fn open_json(
    place: Place,
    column: &str,
    value: serde_json::Value,
) -> Result<serde_json::Value, SealError> {
    match value {
        serde_json::Value::String(s) if Keyring::key_id_of(&s).is_some() => {
            let text = open_text(place, column, s)?;
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

    fn aad(tenant: u128, place: &str) -> Aad {
        Aad::new(Some(Uuid::from_u128(tenant)), place.into())
    }

    #[test]
    fn sealed_values_open_only_with_their_key_row_and_tenant() {
        let k = ring("a", &["a"]);
        let sealed = k.seal(b"hunter2", &aad(1, "row-1"));
        assert!(sealed.starts_with("v2:a:"), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(Keyring::key_id_of(&sealed), Some("a"));
        assert_eq!(k.open(&sealed, &aad(1, "row-1")).unwrap(), b"hunter2");
        assert_eq!(k.open(&sealed, &aad(1, "row-2")), Err(SealError::Corrupt));
        // The same row moved to another tenant does not open.
        assert_eq!(k.open(&sealed, &aad(2, "row-1")), Err(SealError::Corrupt));
        assert_eq!(
            k.open(&sealed, &Aad::new(None, "row-1".into())),
            Err(SealError::Corrupt)
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(k.open(&tampered, &aad(1, "row-1")), Err(SealError::Corrupt));
        // Same plaintext, fresh nonce: equal secrets do not show up as equal ciphertexts.
        assert_ne!(k.seal(b"hunter2", &aad(1, "row-1")), sealed);
    }

    /// A `v1:` value (sealed before tenants were bound: the place alone) still opens.
    #[test]
    fn values_sealed_before_the_tenant_was_bound_still_open() {
        let k = ring("a", &["a"]);
        let legacy = {
            let cipher = &k.keys["a"];
            let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
            let sealed = cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: b"old",
                        aad: b"row-1",
                    },
                )
                .unwrap();
            let mut out = nonce.to_vec();
            out.extend_from_slice(&sealed);
            format!("v1:a:{}", STANDARD.encode(out))
        };
        assert_eq!(Keyring::key_id_of(&legacy), Some("a"));
        assert_eq!(k.open(&legacy, &aad(1, "row-1")).unwrap(), b"old");
        assert!(
            !legacy.starts_with(&k.current_prefix()),
            "reseal picks it up"
        );
        assert_eq!(k.open(&legacy, &aad(1, "row-2")), Err(SealError::Corrupt));
    }

    #[test]
    fn digests_are_keyed_and_found_under_every_configured_key() {
        let old = ring("a", &["a"]);
        let digest = old.digest("email", &[b"tenant", b"ana@example.com"]);
        assert!(digest.starts_with("h1:a:"), "{digest}");
        // Without the key it is not the plain hash of the value, nor any other key's.
        assert_ne!(
            digest,
            ring("a", &["a"]).digest("email", &[b"tenant", b"ana@example.com"])
        );
        assert_ne!(
            digest,
            old.digest("email", &[b"tenan", b"tana@example.com"])
        );
        assert_ne!(
            digest,
            old.digest("phone", &[b"tenant", b"ana@example.com"])
        );
        let both = Keyring {
            current: "b".into(),
            keys: {
                let mut keys = old.keys.clone();
                keys.insert("b".into(), ring("b", &["b"]).keys["b"].clone());
                keys
            },
            digest_keys: {
                let mut keys = old.digest_keys.clone();
                keys.insert("b".into(), [7; 32]);
                keys
            },
        };
        let all = both.digests("email", &[b"tenant", b"ana@example.com"]);
        assert!(all[0].starts_with("h1:b:"), "{all:?}");
        assert_eq!(all[1], digest);
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
        let sealed = old.seal(b"x", &aad(1, "c"));
        config
            .keys
            .insert("new".into(), Secret::new(Keyring::generate_key()));
        config.current_key = "new".into();
        let rotated = Keyring::from_config(&config).unwrap().unwrap();
        assert_eq!(rotated.open(&sealed, &aad(1, "c")).unwrap(), b"x");
        assert_eq!(
            Keyring::key_id_of(&rotated.seal(b"x", &aad(1, "c"))),
            Some("new")
        );
        config.keys.remove("old");
        let without_old = Keyring::from_config(&config).unwrap().unwrap();
        assert_eq!(
            without_old.open(&sealed, &aad(1, "c")),
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
