//! Which provider accounts deliver a notification, and ready clients for them.
//!
//! A tenant's own enabled accounts for the channel come first, in their priority order; a
//! tenant with none uses the server-wide accounts of the configuration (`[[providers]]`,
//! then `[smtp]` for email). Accounts that cannot reach the recipient (an APNs account
//! and an FCM token) are left out. The workflow tries them in order: failover.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use pombo_contract::{
    Channel, Config,
    activities::ProviderRef,
    providers::{ProviderSettings, SmtpSettings},
    recipient::RecipientRules,
};
use pombo_store::{Db, StoreError, provider_accounts, sealed::Keyring};
use uuid::Uuid;

use crate::channels::{Provider, SetupError};

struct ServerAccount {
    name: String,
    settings: ProviderSettings,
    client: Arc<Provider>,
}

/// A tenant account's client, with the account's `updated_at` when it was built.
type CachedClient = (DateTime<Utc>, Arc<Provider>);

pub struct Providers {
    db: Db,
    keyring: Option<Keyring>,
    http: reqwest::Client,
    rules: RecipientRules,
    server: Vec<ServerAccount>,
    /// Clients of tenant accounts, rebuilt when the account changes.
    tenant: Mutex<HashMap<Uuid, CachedClient>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("provider account `{0}` does not exist any more")]
    Gone(String),
    #[error("provider account `{name}` cannot work: {reason}")]
    Setup { name: String, reason: String },
    #[error(transparent)]
    Store(StoreError),
}

impl Providers {
    pub fn new(config: &Config, db: Db, keyring: Option<Keyring>) -> Result<Self, SetupError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .connect_timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("pombo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SetupError(format!("HTTP client: {e}")))?;
        let rules = config.webhooks.recipient_rules();
        let mut accounts: Vec<(String, ProviderSettings)> = config
            .providers
            .iter()
            .map(|p| (p.name.clone(), p.settings.clone()))
            .collect();
        if config.smtp.enabled {
            let s = &config.smtp;
            accounts.push((
                "smtp".into(),
                ProviderSettings::Smtp(SmtpSettings {
                    host: s.host.clone(),
                    port: s.port,
                    tls: s.tls,
                    username: s.username.clone(),
                    password: s.password.clone(),
                    from: s.from.clone(),
                }),
            ));
        }
        let server = accounts
            .into_iter()
            .map(|(name, settings)| {
                let client = Provider::new(&settings, &http, rules)
                    .map_err(|e| SetupError(format!("providers `{name}`: {e}")))?;
                Ok(ServerAccount {
                    name,
                    settings,
                    client: Arc::new(client),
                })
            })
            .collect::<Result<_, SetupError>>()?;
        Ok(Providers {
            db,
            keyring,
            http,
            rules,
            server,
            tenant: Mutex::new(HashMap::new()),
        })
    }

    /// The accounts to try for a notification of `tenant_id` on `channel` to `to`.
    pub async fn route(
        &self,
        tenant_id: Uuid,
        channel: Channel,
        to: &str,
    ) -> Result<Vec<ProviderRef>, StoreError> {
        let own =
            provider_accounts::for_channel(&self.db, self.keyring.as_ref(), tenant_id, channel)
                .await?;
        if !own.is_empty() {
            return Ok(own
                .into_iter()
                .filter(|a| a.settings.can_reach(to))
                .map(|a| ProviderRef {
                    account_id: Some(a.id),
                    kind: a.settings.kind().to_owned(),
                    name: a.name,
                })
                .collect());
        }
        Ok(self
            .server
            .iter()
            .filter(|a| a.settings.channel() == channel && a.settings.can_reach(to))
            .map(|a| ProviderRef {
                account_id: None,
                name: a.name.clone(),
                kind: a.settings.kind().to_owned(),
            })
            .collect())
    }

    /// A client for `account`, built once and reused until the account changes.
    pub async fn resolve(&self, account: &ProviderRef) -> Result<Arc<Provider>, ResolveError> {
        let Some(id) = account.account_id else {
            return self
                .server
                .iter()
                .find(|a| a.name == account.name)
                .map(|a| a.client.clone())
                .ok_or_else(|| ResolveError::Gone(account.name.clone()));
        };
        let changed = match provider_accounts::updated_at(&self.db, id).await {
            Ok(at) => at,
            Err(StoreError::NotFound) => return Err(ResolveError::Gone(account.name.clone())),
            Err(e) => return Err(ResolveError::Store(e)),
        };
        if let Some((at, client)) = self.tenant.lock().expect("cache lock").get(&id)
            && *at == changed
        {
            return Ok(client.clone());
        }
        let row = self.load(id).await?;
        let client = Provider::new(&row.settings, &self.http, self.rules).map_err(|e| {
            ResolveError::Setup {
                name: row.name.clone(),
                reason: e.0,
            }
        })?;
        let client = Arc::new(client);
        self.tenant
            .lock()
            .expect("cache lock")
            .insert(id, (row.updated_at, client.clone()));
        Ok(client)
    }

    async fn load(&self, id: Uuid) -> Result<provider_accounts::Account, ResolveError> {
        match provider_accounts::get_by_id(&self.db, self.keyring.as_ref(), id).await {
            Ok(account) => Ok(account),
            Err(StoreError::NotFound) => Err(ResolveError::Gone(id.to_string())),
            Err(e) => Err(ResolveError::Store(e)),
        }
    }
}
