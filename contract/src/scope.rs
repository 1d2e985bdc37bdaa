//! What an API key may do. A key carries a set of scopes; every route needs exactly one
//! (the table is in `pombo_api::auth`, the one place that assigns them). Tenant keys hold
//! some of `send`, `read`, `manage`, `operate`; `admin` belongs to the server's
//! administrators' keys, which manage tenants and keys and nothing inside a tenant.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Send notifications and batches, upload files, preview templates, reply in
    /// conversations.
    Send,
    /// Read notifications, batches, events, files, templates, recipients, providers,
    /// routing rules and the audit log.
    Read,
    /// Change provider accounts, templates, recipients, routing rules and the tenant's keys.
    Manage,
    /// Redrive, cancel, and report a notification's status; for a signed-in operator, also
    /// reply in, close and reopen a conversation (a key does that with `send`).
    Operate,
    /// Create and disable tenants, issue and revoke any tenant's keys.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Send,
        Scope::Read,
        Scope::Manage,
        Scope::Operate,
        Scope::Admin,
    ];
    /// Everything a tenant's key may hold (what the development key and keys made before
    /// scopes existed have).
    pub const TENANT: [Scope; 4] = [Scope::Send, Scope::Read, Scope::Manage, Scope::Operate];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Read => "read",
            Scope::Manage => "manage",
            Scope::Operate => "operate",
            Scope::Admin => "admin",
        }
    }

    /// Parses a comma-separated list (`send,read`), as stored and as `pombo-admin` takes
    /// it; sorted, without duplicates.
    pub fn parse_list(list: &str) -> Result<Vec<Scope>, UnknownScope> {
        let mut scopes = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Scope>, _>>()?;
        scopes.sort();
        scopes.dedup();
        Ok(scopes)
    }

    /// The stored form of a set of scopes: `send,read`.
    pub fn join(scopes: &[Scope]) -> String {
        let mut sorted = scopes.to_vec();
        sorted.sort();
        sorted.dedup();
        sorted
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}`; scopes are send, read, manage, operate and admin")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_sorted_and_deduplicated() {
        let scopes = Scope::parse_list("read, send,read").unwrap();
        assert_eq!(scopes, vec![Scope::Send, Scope::Read]);
        assert_eq!(Scope::join(&scopes), "send,read");
        assert_eq!(Scope::parse_list("").unwrap(), vec![]);
        assert!(Scope::parse_list("send,root").is_err());
    }
}
