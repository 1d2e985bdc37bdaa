//! The clients through which Pombo connects to targets a tenant set: their provider
//! accounts' endpoints and webhook URLs. Applies [`OutboundPolicy`] where it can't be
//! dodged: at connect time.
//!
//! - Every name is resolved by [`GuardedResolver`], which keeps only the addresses the
//!   policy permits, so a name that resolves (or re-resolves: DNS rebinding) to loopback,
//!   a private network or cloud metadata is never connected to.
//! - IP literals never reach a resolver, so each account's endpoints are checked when its
//!   client is built ([`ProviderSettings::refused_endpoints`]), and a webhook's URL before
//!   each send.
//! - No redirects (a public server could send us to `http://169.254.169.254/…`) and no
//!   proxy from the environment (a proxy resolves names itself, past the resolver).
//!
//! SMTP has no resolver hook in lettre: [`smtp_address`] resolves and filters, and the
//! connection goes to the address it chose.
//!
//! The operator's own accounts (`[[providers]]`, `[smtp]`) are trusted and use the plain
//! client.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use crate::ProviderSettings;
use pombo_contract::outbound::{OutboundPolicy, TargetRefused};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::SetupError;

const TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = concat!("pombo/", env!("CARGO_PKG_VERSION"));

/// Whose settings a client is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The configuration file's: the operator's own endpoints.
    Operator,
    /// A tenant's, through the API: guarded.
    Tenant,
}

/// The HTTP clients providers share (one connection pool each), and the policy.
#[derive(Clone)]
pub struct OutboundClients {
    trusted: reqwest::Client,
    guarded: reqwest::Client,
    policy: Arc<OutboundPolicy>,
}

impl OutboundClients {
    pub fn new(policy: OutboundPolicy) -> Result<Self, SetupError> {
        let policy = Arc::new(policy);
        let build = |builder: reqwest::ClientBuilder| {
            builder
                .timeout(TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                .user_agent(USER_AGENT)
                .build()
                .map_err(|e| SetupError::new(format!("HTTP client: {e}")))
        };
        Ok(OutboundClients {
            trusted: build(reqwest::Client::builder())?,
            guarded: build(guarded_builder(&policy))?,
            policy,
        })
    }

    pub fn policy(&self) -> &Arc<OutboundPolicy> {
        &self.policy
    }

    /// The shared client for endpoints of this trust.
    pub fn http(&self, trust: Trust) -> &reqwest::Client {
        match trust {
            Trust::Operator => &self.trusted,
            Trust::Tenant => &self.guarded,
        }
    }

    /// A builder for a provider that needs a client of its own (APNs: HTTP/2 only),
    /// guarded for a tenant's endpoints.
    pub fn builder(&self, trust: Trust) -> reqwest::ClientBuilder {
        match trust {
            Trust::Operator => reqwest::Client::builder(),
            Trust::Tenant => guarded_builder(&self.policy),
        }
    }

    /// Checks the endpoints of a tenant's account before a client is built for them.
    pub fn check(&self, settings: &ProviderSettings, trust: Trust) -> Result<(), SetupError> {
        if trust == Trust::Operator {
            return Ok(());
        }
        match settings.refused_endpoints(&self.policy).first() {
            None => Ok(()),
            Some((field, refused)) => Err(SetupError::at(field, format!("`{field}`: {refused}"))),
        }
    }
}

/// A client builder that only ever connects where `policy` permits.
pub fn guarded_builder(policy: &Arc<OutboundPolicy>) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: policy.clone(),
        }))
}

/// A target refused at connect time, carried through reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub TargetRefused);

/// The refusal behind a failed request, if the guard refused it.
pub fn refusal(e: &reqwest::Error) -> Option<&TargetRefused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(Refused(refused)) = err.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = err.source();
    }
    None
}

/// The system resolver, keeping only the addresses the policy permits: the check runs on
/// the very addresses we connect to.
struct GuardedResolver {
    policy: Arc<OutboundPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let policy = self.policy.clone();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept: Vec<SocketAddr> = resolved
                .filter(|a| permitted_for_name(&policy, &host, a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(Box::new(Refused(TargetRefused::ResolvesToNonPublic(host)))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The resolver sees no port: an exception's name keeps its private addresses, its port
/// having been checked against the URL when the client was built or the webhook sent.
fn permitted_for_name(policy: &OutboundPolicy, host: &str, ip: IpAddr) -> bool {
    pombo_contract::outbound::is_public_ip(ip) || policy.is_allowed_name(host)
}

/// The address to open an SMTP connection to for a tenant's `host:port`: the first that
/// the policy permits among those the name resolves to.
pub async fn smtp_address(
    policy: &OutboundPolicy,
    host: &str,
    port: u16,
) -> Result<IpAddr, SmtpAddressError> {
    policy
        .check_host(host, port)
        .map_err(SmtpAddressError::Refused)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let resolved = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| SmtpAddressError::Lookup(e.to_string()))?;
    let mut any = false;
    for address in resolved {
        any = true;
        if policy.permits(host, port, address.ip()) {
            return Ok(address.ip());
        }
    }
    if any {
        Err(SmtpAddressError::Refused(
            TargetRefused::ResolvesToNonPublic(host.to_owned()),
        ))
    } else {
        Err(SmtpAddressError::Lookup(format!("`{host}` has no address")))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpAddressError {
    /// The policy refuses it: no retry can help.
    #[error("{0}")]
    Refused(TargetRefused),
    /// The name did not resolve: perhaps for a while only.
    #[error("cannot resolve the SMTP host: {0}")]
    Lookup(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_of_loopback_addresses_are_refused_unless_allowed() {
        let resolver = GuardedResolver {
            policy: Arc::new(OutboundPolicy::default()),
        };
        let err = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is refused");
        assert!(err.downcast_ref::<Refused>().is_some(), "{err}");

        let allowed = GuardedResolver {
            policy: Arc::new(OutboundPolicy::allowing(&["localhost:4010"])),
        };
        assert!(allowed.resolve("localhost".parse().unwrap()).await.is_ok());
    }

    #[tokio::test]
    async fn smtp_hosts_resolve_only_to_permitted_addresses() {
        let policy = OutboundPolicy::allowing(&["localhost:1025"]);
        assert!(smtp_address(&policy, "localhost", 1025).await.is_ok());
        assert!(matches!(
            smtp_address(&policy, "localhost", 25).await,
            Err(SmtpAddressError::Refused(_))
        ));
        assert!(matches!(
            smtp_address(&policy, "127.0.0.1", 25).await,
            Err(SmtpAddressError::Refused(TargetRefused::NonPublicAddress(
                _
            )))
        ));
    }
}
