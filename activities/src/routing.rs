//! Which provider accounts deliver a notification, and ready clients for them.
//!
//! A tenant's own enabled accounts for the channel come first, in their priority order; a
//! tenant with none uses the server-wide accounts of the configuration (`[[providers]]`,
//! then `[smtp]` for email). Accounts that cannot reach the recipient (an APNs account
//! and an FCM token) are left out. The workflow tries them in order: failover.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use pombo_config::Config;
use pombo_contract::{Channel, activities::ProviderRef, providers::SendRateLimit};
use pombo_providers::{ProviderSettings, SmtpSettings};
use pombo_store::{Db, StoreError, provider_accounts, sealed::Keyring, send_slots};
use uuid::Uuid;

use pombo_providers::{
    Client as Provider, SetupError,
    outbound::{OutboundClients, Trust},
};

/// The provider accounts that could deliver one tenant's notifications on one channel.
pub enum Candidates {
    Accounts(Vec<Candidate>),
    /// In-app: Pombo's own inbox, whoever the tenant (`crate::inbox`).
    Inbox,
}

pub struct Candidate {
    reference: ProviderRef,
    settings: ProviderSettings,
}

impl Candidate {
    /// `account_id`: the tenant's account, or `None` for a server-wide one.
    fn new(
        account_id: Option<Uuid>,
        name: String,
        settings: ProviderSettings,
        rate_limit: Option<SendRateLimit>,
    ) -> Self {
        Candidate {
            reference: ProviderRef {
                account_id,
                kind: settings.kind().to_owned(),
                name,
                rate_limited: rate_limit.is_some(),
            },
            settings,
        }
    }
}

impl Candidates {
    /// Those that can reach `to`, in failover order, the `preferred` one (the tenant's, chosen
    /// by a routing rule) first. Only a tenant's own accounts can be preferred.
    pub fn route(&self, to: &str, preferred: Option<Uuid>) -> Vec<ProviderRef> {
        let accounts = match self {
            Candidates::Accounts(accounts) => accounts,
            Candidates::Inbox => return vec![crate::inbox::account()],
        };
        let reachable = accounts.iter().filter(|c| c.settings.can_reach(to));
        let (first, rest): (Vec<_>, Vec<_>) =
            reachable.partition(|c| preferred.is_some() && c.reference.account_id == preferred);
        first
            .into_iter()
            .chain(rest)
            .map(|c| c.reference.clone())
            .collect()
    }
}

struct ServerAccount {
    name: String,
    settings: ProviderSettings,
    rate_limit: Option<SendRateLimit>,
    client: Arc<Provider>,
}

/// A tenant account's client, with the account's `updated_at` when it was built.
type CachedClient = (DateTime<Utc>, Arc<Provider>);

pub struct Providers {
    db: Db,
    keyring: Option<Keyring>,
    clients: OutboundClients,
    server: Vec<ServerAccount>,
    /// Clients of tenant accounts, rebuilt when the account changes.
    tenant: Mutex<HashMap<Uuid, CachedClient>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("provider account `{0}` does not exist any more")]
    Gone(String),
    /// Disabled since the notification was routed to it (its send waited for a slot, a
    /// retry or `send_at`): the next account takes over.
    #[error("provider account `{0}` is disabled")]
    Disabled(String),
    #[error("provider account `{name}` cannot work: {reason}")]
    Setup { name: String, reason: String },
    #[error(transparent)]
    Store(StoreError),
}

impl Providers {
    /// The HTTP clients and outbound rule every tenant-given target goes through.
    pub fn outbound(&self) -> &OutboundClients {
        &self.clients
    }

    pub fn new(config: &Config, db: Db, keyring: Option<Keyring>) -> Result<Self, SetupError> {
        let clients = OutboundClients::new(config.outbound.clone())?;
        let mut accounts: Vec<(String, ProviderSettings, Option<SendRateLimit>)> = config
            .providers
            .iter()
            .map(|p| (p.name.clone(), p.settings.clone(), p.rate_limit))
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
                None,
            ));
        }
        let server = accounts
            .into_iter()
            .map(|(name, settings, rate_limit)| {
                let client = Provider::new(&settings, &clients, Trust::Operator).map_err(|e| {
                    SetupError {
                        field: e.field,
                        message: format!("providers `{name}`: {e}"),
                    }
                })?;
                Ok(ServerAccount {
                    name,
                    settings,
                    rate_limit,
                    client: Arc::new(client),
                })
            })
            .collect::<Result<_, SetupError>>()?;
        Ok(Providers {
            db,
            keyring,
            clients,
            server,
            tenant: Mutex::new(HashMap::new()),
        })
    }

    /// The accounts to try for a notification of `tenant_id` on `channel` to `to`. A
    /// `preferred` account (chosen by a routing rule when the notification was accepted)
    /// goes first when it is one of them (enabled, of the channel, able to reach `to`); the
    /// others keep their order behind it, as failover.
    pub async fn route(
        &self,
        tenant_id: Uuid,
        channel: Channel,
        to: &str,
        preferred: Option<Uuid>,
    ) -> Result<Vec<ProviderRef>, StoreError> {
        Ok(self
            .candidates(tenant_id, channel)
            .await?
            .route(to, preferred))
    }

    /// The accounts of `tenant_id` that could deliver on `channel`, in their order, whoever
    /// the recipient: read once for a whole batch chunk, then [`Candidates::route`] for each
    /// of its recipients.
    pub async fn candidates(
        &self,
        tenant_id: Uuid,
        channel: Channel,
    ) -> Result<Candidates, StoreError> {
        if channel == Channel::InApp {
            return Ok(Candidates::Inbox);
        }
        let own =
            provider_accounts::for_channel(&self.db, self.keyring.as_ref(), tenant_id, channel)
                .await?;
        if !own.is_empty() {
            return Ok(Candidates::Accounts(
                own.into_iter()
                    .map(|a| Candidate::new(Some(a.id), a.name, a.settings, a.rate_limit))
                    .collect(),
            ));
        }
        Ok(Candidates::Accounts(
            self.server
                .iter()
                .filter(|a| a.settings.channel() == channel)
                .map(|a| Candidate::new(None, a.name.clone(), a.settings.clone(), a.rate_limit))
                .collect(),
        ))
    }

    /// Reserves `account`'s next send slot and returns how long to wait for it (zero for an
    /// account without a rate limit, or one whose limit was removed since routing).
    ///
    /// Slots live in the database, not in a Temporal task queue per account with a
    /// worker-side rate limit: tenants add and change accounts at any time, and each such
    /// queue would need its own pollers on every worker. A row per account works for any
    /// number of accounts, across every worker and process sharing the database.
    pub async fn reserve_send_slot(&self, account: &ProviderRef) -> Result<Duration, StoreError> {
        let rate_limit = match account.account_id {
            Some(id) => provider_accounts::rate_limit(&self.db, id).await?,
            None => self
                .server
                .iter()
                .find(|a| a.name == account.name)
                .and_then(|a| a.rate_limit),
        };
        let Some(rate_limit) = rate_limit else {
            return Ok(Duration::ZERO);
        };
        let now = Utc::now();
        let key = send_slots::key(account.account_id, &account.name);
        let slot = send_slots::reserve(&self.db, &key, rate_limit.interval(), now).await?;
        Ok((slot - now).to_std().unwrap_or_default())
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
        let client = Provider::new(&row.settings, &self.clients, Trust::Tenant).map_err(|e| {
            ResolveError::Setup {
                name: row.name.clone(),
                reason: e.message,
            }
        })?;
        let client = Arc::new(client);
        self.tenant
            .lock()
            .expect("cache lock")
            .insert(id, (row.updated_at, client.clone()));
        Ok(client)
    }

    async fn load(
        &self,
        id: Uuid,
    ) -> Result<provider_accounts::Account<ProviderSettings>, ResolveError> {
        match provider_accounts::get_by_id(&self.db, self.keyring.as_ref(), id).await {
            Ok(account) if !account.enabled => Err(ResolveError::Disabled(account.name)),
            Ok(account) => Ok(account),
            Err(StoreError::NotFound) => Err(ResolveError::Gone(id.to_string())),
            Err(e) => Err(ResolveError::Store(e)),
        }
    }
}
