//! `pombo-admin`: tenants and keys from the command line, straight against the database
//! (migrated first, as the API does). It is how the first administrator key is made: no API
//! route can create an `admin` key, so whoever can reach the database bootstraps one, and
//! from then on administrators can use the API. Its changes go to the audit log with the
//! actor `pombo-admin` and no key id.
//!
//! ```text
//! pombo-admin tenant create <name>
//! pombo-admin tenant list
//! pombo-admin tenant disable <id|name>      (tenant enable <id|name> undoes it)
//! pombo-admin key create --tenant <id|name> --scope send,read [--expires <RFC 3339>] [--label <text>]
//! pombo-admin key create --admin [--expires <RFC 3339>] [--label <text>]
//! pombo-admin key list --tenant <id|name>   (key list --admin for administrators' keys)
//! pombo-admin key revoke <key id>
//! pombo-admin operator …                    (operators who sign in to /admin: `operators`)
//! ```

mod operators;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use pombo_config::Config;
use pombo_contract::Scope;
use pombo_store::{
    audit,
    entities::tenant,
    tenants::{self, NewKey, SYSTEM_TENANT},
};
use sea_orm::DatabaseConnection;
use serde_json::json;
use uuid::Uuid;

pub const USAGE: &str = "usage:
  pombo-admin tenant create <name>
  pombo-admin tenant list
  pombo-admin tenant disable <id|name>
  pombo-admin tenant enable <id|name>
  pombo-admin key create --tenant <id|name> --scope send,read[,manage,operate] [--expires 2027-01-01T00:00:00Z] [--label <text>]
  pombo-admin key create --admin [--expires <time>] [--label <text>]
  pombo-admin key list --tenant <id|name> | --admin
  pombo-admin key revoke <key id>
  pombo-admin operator create <email> --tenant <id|name>[,<id|name>…]
  pombo-admin operator list
  pombo-admin operator grant <email> <tenant id|name>
  pombo-admin operator revoke <email> <tenant id|name>
  pombo-admin operator disable <email>
  pombo-admin operator enable <email>
  pombo-admin operator reset-password <email>
  pombo-admin operator reset-mfa <email>";

const ACTOR: &str = "pombo-admin";

/// What a command prints: `stdout` is for scripts (the key alone, for `key create`),
/// `stderr` for people.
#[derive(Debug, Default)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    fn out(stdout: String) -> Self {
        Output {
            stdout,
            stderr: String::new(),
        }
    }
}

/// Runs one command (`args` without the program name) against the configured database.
pub async fn run(config: &Config, args: &[String]) -> anyhow::Result<Output> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if matches!(args.first().copied(), None | Some("help" | "--help" | "-h")) {
        return Ok(Output::out(format!("{USAGE}\n")));
    }
    let db = pombo_store::open(&config.database_url)
        .await
        .context("opening the database")?;
    match args.as_slice() {
        ["tenant", "create", name] => tenant_create(&db, name).await,
        ["tenant", "list"] => tenant_list(&db).await,
        ["tenant", "disable", which] => tenant_set_disabled(&db, which, true).await,
        ["tenant", "enable", which] => tenant_set_disabled(&db, which, false).await,
        ["key", "create", rest @ ..] => key_create(&db, rest).await,
        ["key", "list", "--admin"] => {
            key_list(&db, &tenants::ensure(&db, SYSTEM_TENANT).await?).await
        }
        ["key", "list", "--tenant", which] => key_list(&db, &find_tenant(&db, which).await?).await,
        ["key", "revoke", id] => key_revoke(&db, id).await,
        ["operator", rest @ ..] => operators::run(config, &db, rest).await,
        _ => bail!("unknown command `{}`\n{USAGE}", args.join(" ")),
    }
}

/// The rule for tenant names, shared with `POST /v1/tenants`.
pub fn check_tenant_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.chars().count() > 100 {
        return Err("must be 1 to 100 characters");
    }
    if name.starts_with('_') {
        return Err("names starting with `_` are reserved");
    }
    Ok(())
}

async fn tenant_create(db: &DatabaseConnection, name: &str) -> anyhow::Result<Output> {
    let name = name.trim();
    check_tenant_name(name).map_err(|e| anyhow::anyhow!("tenant name {e}"))?;
    if tenants::by_name(db, name).await?.is_some() {
        bail!("a tenant named `{name}` exists");
    }
    let created = tenants::create(db, name).await?;
    let id = created.id;
    audit::record(
        db,
        id,
        ACTOR,
        None,
        "tenant.created",
        Some(id.to_string()),
        json!({"name": name}),
    )
    .await?;
    Ok(Output::out(format!("{id}\t{name}\n")))
}

async fn tenant_list(db: &DatabaseConnection) -> anyhow::Result<Output> {
    let mut out = String::from("ID\tNAME\tCREATED\tDISABLED\n");
    for t in tenants::list(db).await? {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            t.id,
            t.name,
            t.created_at.to_rfc3339(),
            t.disabled_at
                .map(|at| at.to_rfc3339())
                .unwrap_or_else(|| "-".into())
        ));
    }
    Ok(Output::out(out))
}

async fn tenant_set_disabled(
    db: &DatabaseConnection,
    which: &str,
    disabled: bool,
) -> anyhow::Result<Output> {
    let t = find_tenant(db, which).await?;
    if t.disabled_at.is_some() != disabled {
        tenants::set_disabled(db, t.id, disabled).await?;
        let action = if disabled {
            "tenant.disabled"
        } else {
            "tenant.enabled"
        };
        audit::record(
            db,
            t.id,
            ACTOR,
            None,
            action,
            Some(t.id.to_string()),
            json!({}),
        )
        .await?;
    }
    let state = if disabled { "disabled" } else { "enabled" };
    Ok(Output::out(format!("{}\t{}\t{state}\n", t.id, t.name)))
}

async fn key_create(db: &DatabaseConnection, rest: &[&str]) -> anyhow::Result<Output> {
    let mut tenant_arg = None;
    let mut scopes_arg = None;
    let mut expires_at: Option<DateTime<Utc>> = None;
    let mut label = String::new();
    let mut admin = false;
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .copied()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match *flag {
            "--admin" => admin = true,
            "--tenant" => tenant_arg = Some(value()?),
            "--scope" | "--scopes" => scopes_arg = Some(value()?),
            "--label" => label = value()?.to_owned(),
            "--expires" => {
                let text = value()?;
                expires_at = Some(
                    DateTime::parse_from_rfc3339(text)
                        .with_context(|| format!("--expires `{text}` is not an RFC 3339 time"))?
                        .with_timezone(&Utc),
                );
            }
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
    }
    if expires_at.is_some_and(|at| at <= Utc::now()) {
        bail!("--expires must be in the future");
    }
    let (owner, scopes) = match (admin, tenant_arg) {
        (true, Some(_)) => bail!("--admin keys belong to no tenant: leave out --tenant"),
        (true, None) => {
            if scopes_arg.is_some() {
                bail!("--admin keys hold the `admin` scope only: leave out --scope");
            }
            (
                tenants::ensure(db, SYSTEM_TENANT).await?,
                vec![Scope::Admin],
            )
        }
        (false, None) => bail!("name the key's tenant with --tenant, or make an --admin key"),
        (false, Some(which)) => {
            let scopes = Scope::parse_list(
                scopes_arg.context("name the key's scopes with --scope send,read,…")?,
            )?;
            if scopes.is_empty() {
                bail!("--scope needs at least one of send, read, manage, operate");
            }
            if scopes.contains(&Scope::Admin) {
                bail!("`admin` is not a tenant scope: use `key create --admin`");
            }
            (find_tenant(db, which).await?, scopes)
        }
    };
    let (key, row) = tenants::issue_key(
        db,
        NewKey {
            tenant_id: owner.id,
            scopes: scopes.clone(),
            label: label.clone(),
            expires_at,
            created_by_key_id: None,
        },
    )
    .await?;
    audit::record(
        db,
        owner.id,
        ACTOR,
        None,
        "key.created",
        Some(row.id.to_string()),
        json!({"prefix": row.prefix, "label": label, "scopes": scopes, "expires_at": expires_at}),
    )
    .await?;
    Ok(Output {
        stdout: format!("{key}\n"),
        stderr: format!(
            "key {} for tenant {} with scopes {}: shown this once, store it now\n",
            row.id, owner.name, row.scopes
        ),
    })
}

async fn key_list(db: &DatabaseConnection, owner: &tenant::Model) -> anyhow::Result<Output> {
    let mut out = String::from("ID\tPREFIX\tLABEL\tSCOPES\tCREATED\tLAST USED\tEXPIRES\tREVOKED\n");
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
    for k in tenants::list_keys(db, owner.id).await? {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            k.id,
            k.prefix,
            k.label,
            k.scopes,
            k.created_at.to_rfc3339(),
            time(k.last_used_at),
            time(k.expires_at),
            time(k.revoked_at),
        ));
    }
    Ok(Output::out(out))
}

async fn key_revoke(db: &DatabaseConnection, id: &str) -> anyhow::Result<Output> {
    let id: Uuid = id
        .parse()
        .with_context(|| format!("`{id}` is not a key id"))?;
    let before = tenants::get_key(db, id).await.context("no such key")?;
    let key = tenants::revoke_key(db, None, id).await?;
    if before.revoked_at.is_none() {
        audit::record(
            db,
            key.tenant_id,
            ACTOR,
            None,
            "key.revoked",
            Some(id.to_string()),
            json!({"prefix": key.prefix}),
        )
        .await?;
    }
    Ok(Output::out(format!("{id}\trevoked\n")))
}

/// A tenant by id or name; never the system tenant (its keys are `--admin`).
async fn find_tenant(db: &DatabaseConnection, which: &str) -> anyhow::Result<tenant::Model> {
    let found = match which.parse::<Uuid>() {
        Ok(id) => tenants::get(db, id).await.ok(),
        Err(_) => tenants::by_name(db, which).await?,
    };
    found
        .filter(|t| t.name != SYSTEM_TENANT)
        .with_context(|| format!("no tenant `{which}`"))
}
