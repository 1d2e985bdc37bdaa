//! Pointing a provider's callbacks at Pombo. Where the provider has an API for it
//! (Telegram's `setWebhook`, Evolution's `webhook/set`, WAHA's session webhooks), Pombo sets
//! the account's callback URL there itself, with the secret its callbacks are checked with,
//! instead of the tenant copying both into a console; reads back what the provider has; and
//! stops them (Telegram's `deleteWebhook`, Evolution's webhook disabled, Pombo's WAHA
//! webhook taken out of the session's).

use serde::Serialize;
use utoipa::ToSchema;

use crate::{DeliveryError, SetupError};

/// What to do with the provider's callbacks.
#[derive(Debug, Clone, Copy)]
pub enum CallbackSetup<'a> {
    /// Point them at `url`, Pombo's callback route for this account (without a secret:
    /// the provider adds the one its callbacks are checked with, as it carries it).
    Point { url: &'a str },
    /// Read where they point now.
    Read,
    /// Stop them coming to `url` (Pombo's callback route for this account); other
    /// webhooks the provider has stay.
    Remove { url: &'a str },
}

/// Where a provider sends an account's callbacks, as the provider says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Callbacks {
    /// The URL, any secret in it masked; `None` when nowhere.
    pub url: Option<String>,
    /// The events sent there, in the provider's names (empty: the provider's default).
    pub events: Vec<String>,
    /// What else the provider says about it (updates waiting, its last error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackSetupError {
    /// The account lacks what the provider's callbacks would be checked with.
    #[error("{0}")]
    Setting(SetupError),
    /// The provider refused, or could not be reached.
    #[error("{0}")]
    Provider(#[from] DeliveryError),
}

/// The strings of a JSON array (a webhook's event names), none when it is not one.
pub fn strings(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .map(|all| {
            all.iter()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `url` with the value of its query parameter `name` masked, for showing.
pub fn mask_query(url: &str, name: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.query_pairs().any(|(k, _)| k == name) => {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == name {
                        pombo_contract::providers::MASK.to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            parsed.query_pairs_mut().clear().extend_pairs(pairs);
            parsed.into()
        }
        _ => url.to_owned(),
    }
}
