//! Short-lived stream tokens: what a tenant's backend hands a browser so that it can open the
//! event stream without holding an API key. A token is a JWT (HS256) naming the tenant, the
//! filters it allows and its expiry (at most `stream.token_max_secs`), signed with
//! `stream.token_key`, or with a key derived from the current encryption key, so that every
//! API process of a deployment accepts the tokens of the others without another setting.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pombo_config::Config;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::session::Filter;

/// Who a token is for, in its `aud` claim: a token of another kind is never a stream token.
const AUDIENCE: &str = "pombo-stream";

/// What a stream token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The tenant.
    pub sub: Uuid,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
    /// The filters a connection with this token may use (narrower is allowed).
    pub filter: Filter,
    /// A recipient token (`POST /v1/recipients/{id}/tokens`): it acts as this recipient
    /// profile, on its inbox and on the stream of its notifications, and on nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Uuid>,
}

/// Signs and checks stream tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Longest life of a token, in seconds.
    pub max_secs: u64,
}

/// Why a token was refused; never says more than that to the caller.
#[derive(Debug, thiserror::Error)]
pub enum TokenRefused {
    #[error("the stream token has expired: ask your backend for a new one")]
    Expired,
    #[error("not a valid stream token")]
    Invalid,
}

impl TokenKeys {
    pub fn from_config(config: &Config) -> TokenKeys {
        let secret: Vec<u8> = match (&config.stream.token_key, current_encryption_key(config)) {
            (Some(key), _) => base64::engine::general_purpose::STANDARD
                .decode(key.expose().trim())
                .unwrap_or_else(|_| key.expose().as_bytes().to_vec()),
            (None, Some(encryption_key)) => {
                // A key of its own, so that a token never reveals anything of the
                // encryption key and the two cannot be confused.
                let mut mac = Hmac::<Sha256>::new_from_slice(&encryption_key)
                    .expect("HMAC takes any key length");
                mac.update(b"pombo stream tokens v1");
                mac.finalize().into_bytes().to_vec()
            }
            (None, None) => {
                tracing::warn!(
                    "neither stream.token_key nor an encryption key is configured: stream tokens \
                     are signed with a random key and work only on this API process"
                );
                rand::random::<[u8; 32]>().to_vec()
            }
        };
        TokenKeys {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            max_secs: config.stream.token_max_secs,
        }
    }

    /// The life a token request asks for (`expires_in`; 900 s when absent), if allowed.
    pub fn lifetime(&self, expires_in: Option<u64>) -> Result<u64, crate::error::FieldError> {
        let secs = expires_in.unwrap_or(900.min(self.max_secs));
        if secs == 0 || secs > self.max_secs {
            return Err(crate::error::FieldError::new(
                "expires_in",
                format!("must be 1 to {} seconds", self.max_secs),
            ));
        }
        Ok(secs)
    }

    /// A token for `tenant`, allowing `filter`, valid for `secs`.
    pub fn mint(&self, tenant: Uuid, filter: Filter, secs: u64) -> (String, u64) {
        self.mint_claims(tenant, filter, None, secs)
    }

    /// A token acting as recipient profile `recipient` of `tenant`: its inbox, and the stream
    /// of its notifications only.
    pub fn mint_for_recipient(&self, tenant: Uuid, recipient: Uuid, secs: u64) -> (String, u64) {
        let filter = Filter {
            recipient: Some(recipient),
            ..Filter::default()
        };
        self.mint_claims(tenant, filter, Some(recipient), secs)
    }

    fn mint_claims(
        &self,
        tenant: Uuid,
        filter: Filter,
        recipient: Option<Uuid>,
        secs: u64,
    ) -> (String, u64) {
        let now = now();
        let claims = Claims {
            sub: tenant,
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + secs,
            filter,
            recipient,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing does not fail");
        (token, claims.exp)
    }

    /// The claims of a token this deployment signed and that has not expired.
    pub fn check(&self, token: &str) -> Result<Claims, TokenRefused> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenRefused::Expired,
                _ => TokenRefused::Invalid,
            })
    }
}

fn current_encryption_key(config: &Config) -> Option<Vec<u8>> {
    let key = config.encryption.keys.get(&config.encryption.current_key)?;
    base64::engine::general_purpose::STANDARD
        .decode(key.expose().trim())
        .ok()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(token_key: &str) -> TokenKeys {
        let mut config = Config::default();
        config.stream.token_key = Some(pombo_contract::config::Secret::new(token_key));
        TokenKeys::from_config(&config)
    }

    #[test]
    fn a_token_is_accepted_by_its_signer_only_and_not_once_expired() {
        let ours = keys("b3VyIHNlY3JldCBvdXIgc2VjcmV0IG91ciBzZWNyZXQgMzI=");
        let theirs = keys("dGhlaXIgc2VjcmV0IHRoZWlyIHNlY3JldCB0aGVpciAzMg==");
        let tenant = Uuid::now_v7();
        let (token, _) = ours.mint(tenant, Filter::default(), 60);
        assert_eq!(ours.check(&token).unwrap().sub, tenant);
        assert!(matches!(theirs.check(&token), Err(TokenRefused::Invalid)));
        let (expired, _) = ours.mint(tenant, Filter::default(), 0);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(matches!(ours.check(&expired), Err(TokenRefused::Expired)));
        // Same key, but not a stream token.
        let other = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": tenant, "aud": "elsewhere", "exp": now() + 60, "filter": {}}),
            &EncodingKey::from_secret(b"our secret our secret our secret 32"),
        )
        .unwrap();
        assert!(matches!(ours.check(&other), Err(TokenRefused::Invalid)));
    }
}
