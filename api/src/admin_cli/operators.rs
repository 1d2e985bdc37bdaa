//! `pombo-admin operator …`: the people who sign in to `/admin`. Creating one (or resetting
//! its password or MFA) prints the new credentials once, on stdout as `name<TAB>value` lines
//! for scripts: `password`, `totp_secret` (base32, to type into an authenticator app),
//! `otpauth_uri` (the same as a link or QR code) and one `recovery_code` line per code.
//! Grants and state changes go to the audit log of each tenant concerned.

use anyhow::{Context, bail};
use pombo_config::Config;
use pombo_store::{
    audit,
    operators::{self, NewOperator, Operator},
    sealed::Keyring,
};
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::{ACTOR, Output, USAGE, find_tenant};
use crate::operators::credentials;

pub(super) async fn run(
    config: &Config,
    db: &DatabaseConnection,
    args: &[&str],
) -> anyhow::Result<Output> {
    let keyring =
        Keyring::from_config(&config.encryption).context("loading the encryption keys")?;
    match args {
        ["create", email, "--tenant", tenants] => {
            create(db, keyring.as_ref(), email, tenants).await
        }
        ["list"] => list(db).await,
        ["grant", email, tenant] => grant(db, email, tenant, true).await,
        ["revoke", email, tenant] => grant(db, email, tenant, false).await,
        ["disable", email] => set_disabled(db, email, true).await,
        ["enable", email] => set_disabled(db, email, false).await,
        ["reset-password", email] => reset_password(db, email).await,
        ["reset-mfa", email] => reset_mfa(db, keyring.as_ref(), email).await,
        _ => bail!("unknown command `operator {}`\n{USAGE}", args.join(" ")),
    }
}

fn check_email(email: &str) -> anyhow::Result<()> {
    let (local, domain) = email.split_once('@').context("the email needs an `@`")?;
    if local.is_empty()
        || domain.is_empty()
        || email.len() > 254
        || email.contains(char::is_whitespace)
    {
        bail!("`{email}` is not an email address");
    }
    Ok(())
}

async fn find(db: &DatabaseConnection, email: &str) -> anyhow::Result<Operator> {
    operators::by_email(db, email)
        .await?
        .with_context(|| format!("no operator `{email}`"))
}

/// The second factor, new: a TOTP secret and recovery codes, printed once.
fn new_second_factor(email: &str) -> (Vec<u8>, Vec<String>, String) {
    let secret = credentials::generate_totp_secret();
    let codes = credentials::generate_recovery_codes();
    let mut out = format!(
        "totp_secret\t{}\notpauth_uri\t{}\n",
        credentials::totp_secret_base32(&secret),
        credentials::otpauth_uri(&secret, email)
    );
    for code in &codes {
        out.push_str(&format!("recovery_code\t{code}\n"));
    }
    (secret, codes, out)
}

async fn create(
    db: &DatabaseConnection,
    keyring: Option<&Keyring>,
    email: &str,
    tenant_list: &str,
) -> anyhow::Result<Output> {
    let email = operators::normalise_email(email);
    check_email(&email)?;
    let mut tenants = Vec::new();
    for which in tenant_list
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        tenants.push(find_tenant(db, which).await?);
    }
    if tenants.is_empty() {
        bail!("grant the operator at least one tenant with --tenant");
    }
    let password = credentials::generate_password();
    let (secret, codes, second_factor) = new_second_factor(&email);
    let created = operators::create(
        db,
        keyring,
        NewOperator {
            email: &email,
            password_hash: credentials::hash_password(&password)
                .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?,
            totp_secret: &secret,
            recovery_code_hashes: codes
                .iter()
                .map(|c| credentials::hash_recovery_code(c))
                .collect(),
            tenants: tenants.iter().map(|t| t.id).collect(),
        },
    )
    .await?;
    for tenant in &tenants {
        audit_one(db, tenant.id, &created, "operator.granted").await?;
    }
    let names: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
    Ok(Output {
        stdout: format!(
            "id\t{}\nemail\t{email}\npassword\t{password}\n{second_factor}",
            created.id
        ),
        stderr: format!(
            "operator {email} for {}: the password, TOTP secret and recovery codes are shown this once\n",
            names.join(", ")
        ),
    })
}

async fn list(db: &DatabaseConnection) -> anyhow::Result<Output> {
    let mut out = String::from("ID\tEMAIL\tTENANTS\tCREATED\tDISABLED\n");
    for o in operators::list(db).await? {
        let tenants: Vec<String> = operators::granted_tenants(db, o.id)
            .await?
            .into_iter()
            .map(|t| t.name)
            .collect();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            o.id,
            o.email,
            tenants.join(","),
            o.created_at.to_rfc3339(),
            o.disabled_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "-".into()),
        ));
    }
    Ok(Output::out(out))
}

async fn grant(
    db: &DatabaseConnection,
    email: &str,
    tenant: &str,
    granted: bool,
) -> anyhow::Result<Output> {
    let operator = find(db, email).await?;
    let tenant = find_tenant(db, tenant).await?;
    if granted {
        operators::grant(db, operator.id, tenant.id).await?;
    } else {
        operators::revoke_grant(db, operator.id, tenant.id).await?;
    }
    let action = if granted {
        "operator.granted"
    } else {
        "operator.revoked"
    };
    audit_one(db, tenant.id, &operator, action).await?;
    Ok(Output::out(format!(
        "{}\t{}\t{action}\n",
        operator.email, tenant.name
    )))
}

async fn audit_one(
    db: &DatabaseConnection,
    tenant_id: uuid::Uuid,
    operator: &Operator,
    action: &str,
) -> anyhow::Result<()> {
    audit::record(
        db,
        tenant_id,
        ACTOR,
        None,
        action,
        Some(operator.id.to_string()),
        json!({"email": operator.email}),
    )
    .await?;
    Ok(())
}

/// Audit entries about an operator go to each tenant it is granted.
async fn audit_all(
    db: &DatabaseConnection,
    operator: &Operator,
    action: &str,
) -> anyhow::Result<()> {
    for tenant in operators::granted_tenants(db, operator.id).await? {
        audit_one(db, tenant.id, operator, action).await?;
    }
    Ok(())
}

async fn set_disabled(
    db: &DatabaseConnection,
    email: &str,
    disabled: bool,
) -> anyhow::Result<Output> {
    let operator = find(db, email).await?;
    operators::set_disabled(db, operator.id, disabled).await?;
    let action = if disabled {
        "operator.disabled"
    } else {
        "operator.enabled"
    };
    audit_all(db, &operator, action).await?;
    Ok(Output::out(format!("{}\t{action}\n", operator.email)))
}

async fn reset_password(db: &DatabaseConnection, email: &str) -> anyhow::Result<Output> {
    let operator = find(db, email).await?;
    let password = credentials::generate_password();
    let hash = credentials::hash_password(&password)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    operators::set_password(db, operator.id, hash).await?;
    audit_all(db, &operator, "operator.password_reset").await?;
    Ok(Output {
        stdout: format!("password\t{password}\n"),
        stderr: format!(
            "new password for {}: its sessions have ended\n",
            operator.email
        ),
    })
}

async fn reset_mfa(
    db: &DatabaseConnection,
    keyring: Option<&Keyring>,
    email: &str,
) -> anyhow::Result<Output> {
    let operator = find(db, email).await?;
    let (secret, codes, second_factor) = new_second_factor(&operator.email);
    operators::set_totp_secret(db, keyring, operator.id, &secret).await?;
    operators::replace_recovery_codes(
        db,
        operator.id,
        codes
            .iter()
            .map(|c| credentials::hash_recovery_code(c))
            .collect(),
    )
    .await?;
    audit_all(db, &operator, "operator.mfa_reset").await?;
    Ok(Output {
        stdout: second_factor,
        stderr: format!(
            "new TOTP secret and recovery codes for {}: its sessions have ended\n",
            operator.email
        ),
    })
}
