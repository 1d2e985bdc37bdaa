//! Operators, their tenant grants, recovery codes and sessions: the rows behind `/admin`
//! sign-in. What a password or a code is checked against is decided in the API
//! (`pombo_api::operators`); this module only keeps the hashes and the sealed TOTP secret,
//! and answers "which live session is this token".

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{operator, operator_grant, operator_recovery_code, operator_session, tenant},
    sealed::{Aad, Keyring},
};

pub type Operator = operator::Model;
pub type Session = operator_session::Model;

/// A session ends this long after sign-in, however active.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// A session unused this long ends.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// `last_seen_at` is written at most this often per session.
const LAST_SEEN_RESOLUTION: Duration = Duration::seconds(60);

/// Operators belong to no tenant: the secret is bound to the row alone.
fn totp_context(id: Uuid) -> Aad {
    Aad::new(None, format!("operators:{id}:totp_secret"))
}

pub struct NewOperator<'a> {
    pub email: &'a str,
    pub password_hash: String,
    pub totp_secret: &'a [u8],
    /// SHA-256 (hex) of each recovery code.
    pub recovery_code_hashes: Vec<String>,
    pub tenants: Vec<Uuid>,
}

/// Emails are compared lower-cased and trimmed.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub async fn create(
    db: &(impl ConnectionTrait + TransactionTrait),
    keyring: Option<&Keyring>,
    new: NewOperator<'_>,
) -> Result<Operator, StoreError> {
    let keyring = keyring.ok_or(StoreError::NoKeyring)?;
    let email = normalise_email(new.email);
    if by_email(db, &email).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "an operator with email `{email}` exists"
        )));
    }
    let id = Uuid::now_v7();
    let txn = db.begin().await?;
    let created = operator::ActiveModel {
        id: Set(id),
        email: Set(email),
        password_hash: Set(new.password_hash),
        totp_secret_sealed: Set(keyring.seal(new.totp_secret, &totp_context(id))),
        totp_last_step: Set(None),
        created_at: Set(Utc::now()),
        disabled_at: Set(None),
    }
    .insert(&txn)
    .await?;
    replace_recovery_codes(&txn, id, new.recovery_code_hashes).await?;
    for tenant_id in new.tenants {
        grant(&txn, id, tenant_id).await?;
    }
    txn.commit().await?;
    Ok(created)
}

pub async fn by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<Operator>, StoreError> {
    Ok(operator::Entity::find()
        .filter(operator::Column::Email.eq(normalise_email(email)))
        .one(db)
        .await?)
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> Result<Operator, StoreError> {
    operator::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<Operator>, StoreError> {
    Ok(operator::Entity::find()
        .order_by_asc(operator::Column::Email)
        .all(db)
        .await?)
}

/// The operator's TOTP shared secret.
pub fn totp_secret(keyring: Option<&Keyring>, operator: &Operator) -> Result<Vec<u8>, StoreError> {
    let keyring = keyring.ok_or(StoreError::NoKeyring)?;
    Ok(keyring.open(&operator.totp_secret_sealed, &totp_context(operator.id))?)
}

/// Records that the code of time step `step` was accepted; `false` when this step or a later
/// one was accepted already (the code is being replayed). One conditional update, so two
/// sign-ins with one code cannot both pass.
pub async fn accept_totp_step(
    db: &impl ConnectionTrait,
    operator_id: Uuid,
    step: i64,
) -> Result<bool, StoreError> {
    let result = operator::Entity::update_many()
        .col_expr(operator::Column::TotpLastStep, Expr::value(step))
        .filter(operator::Column::Id.eq(operator_id))
        .filter(
            sea_orm::Condition::any()
                .add(operator::Column::TotpLastStep.is_null())
                .add(operator::Column::TotpLastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// A new TOTP secret (and so no accepted step yet): `pombo-admin operator reset-mfa`.
pub async fn set_totp_secret(
    db: &impl ConnectionTrait,
    keyring: Option<&Keyring>,
    id: Uuid,
    secret: &[u8],
) -> Result<(), StoreError> {
    let keyring = keyring.ok_or(StoreError::NoKeyring)?;
    operator::ActiveModel {
        id: Set(id),
        totp_secret_sealed: Set(keyring.seal(secret, &totp_context(id))),
        totp_last_step: Set(None),
        ..Default::default()
    }
    .update(db)
    .await?;
    end_all_sessions(db, id).await
}

pub async fn set_password(
    db: &impl ConnectionTrait,
    id: Uuid,
    password_hash: String,
) -> Result<(), StoreError> {
    operator::ActiveModel {
        id: Set(id),
        password_hash: Set(password_hash),
        ..Default::default()
    }
    .update(db)
    .await?;
    end_all_sessions(db, id).await
}

/// Disabling ends every session at once; enabling lets the operator sign in again.
pub async fn set_disabled(
    db: &impl ConnectionTrait,
    id: Uuid,
    disabled: bool,
) -> Result<Operator, StoreError> {
    let updated = operator::ActiveModel {
        id: Set(id),
        disabled_at: Set(disabled.then(Utc::now)),
        ..Default::default()
    }
    .update(db)
    .await?;
    if disabled {
        end_all_sessions(db, id).await?;
    }
    Ok(updated)
}

pub async fn replace_recovery_codes(
    db: &impl ConnectionTrait,
    operator_id: Uuid,
    code_hashes: Vec<String>,
) -> Result<(), StoreError> {
    operator_recovery_code::Entity::delete_many()
        .filter(operator_recovery_code::Column::OperatorId.eq(operator_id))
        .exec(db)
        .await?;
    for code_hash in code_hashes {
        operator_recovery_code::ActiveModel {
            id: Set(Uuid::now_v7()),
            operator_id: Set(operator_id),
            code_hash: Set(code_hash),
            used_at: Set(None),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Marks the unused recovery code with this hash used; `false` when there is none (unknown
/// or already used). One conditional update, so two sign-ins cannot both spend one code.
pub async fn spend_recovery_code(
    db: &impl ConnectionTrait,
    operator_id: Uuid,
    code_hash: &str,
) -> Result<bool, StoreError> {
    let result = operator_recovery_code::Entity::update_many()
        .col_expr(
            operator_recovery_code::Column::UsedAt,
            Expr::value(Utc::now()),
        )
        .filter(operator_recovery_code::Column::OperatorId.eq(operator_id))
        .filter(operator_recovery_code::Column::CodeHash.eq(code_hash))
        .filter(operator_recovery_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn unused_recovery_codes(
    db: &impl ConnectionTrait,
    operator_id: Uuid,
) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(operator_recovery_code::Entity::find()
        .filter(operator_recovery_code::Column::OperatorId.eq(operator_id))
        .filter(operator_recovery_code::Column::UsedAt.is_null())
        .count(db)
        .await?)
}

pub async fn grant(
    db: &impl ConnectionTrait,
    operator_id: Uuid,
    tenant_id: Uuid,
) -> Result<(), StoreError> {
    let exists = operator_grant::Entity::find_by_id((operator_id, tenant_id))
        .one(db)
        .await?
        .is_some();
    if !exists {
        operator_grant::ActiveModel {
            operator_id: Set(operator_id),
            tenant_id: Set(tenant_id),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

pub async fn revoke_grant(
    db: &impl ConnectionTrait,
    operator_id: Uuid,
    tenant_id: Uuid,
) -> Result<(), StoreError> {
    operator_grant::Entity::delete_by_id((operator_id, tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The tenants an operator is granted, by name; disabled tenants left out.
pub async fn granted_tenants(
    db: &impl ConnectionTrait,
    operator_id: Uuid,
) -> Result<Vec<tenant::Model>, StoreError> {
    let ids: Vec<Uuid> = operator_grant::Entity::find()
        .filter(operator_grant::Column::OperatorId.eq(operator_id))
        .all(db)
        .await?
        .into_iter()
        .map(|g| g.tenant_id)
        .collect();
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(ids))
        .filter(tenant::Column::DisabledAt.is_null())
        .order_by_asc(tenant::Column::Name)
        .all(db)
        .await?)
}

pub async fn start_session(
    db: &impl ConnectionTrait,
    operator_id: Uuid,
    token_hash: String,
    csrf_token: String,
) -> Result<Session, StoreError> {
    let now = Utc::now();
    Ok(operator_session::ActiveModel {
        id: Set(Uuid::now_v7()),
        token_hash: Set(token_hash),
        operator_id: Set(operator_id),
        csrf_token: Set(csrf_token),
        created_at: Set(now),
        expires_at: Set(now + SESSION_LIFETIME),
        last_seen_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// The live session with this token hash and its operator; `None` when there is none, it
/// expired or idled out, or its operator is disabled. Ended sessions are deleted on sight.
/// `activity`: the request is the operator's doing, so it keeps the session from idling
/// out; a page's own background request (renewing a stream token) does not.
pub async fn live_session(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: DateTime<Utc>,
    activity: bool,
) -> Result<Option<(Session, Operator)>, StoreError> {
    let Some(session) = operator_session::Entity::find()
        .filter(operator_session::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if session.expires_at <= now || session.last_seen_at + SESSION_IDLE_TIMEOUT <= now {
        operator_session::Entity::delete_by_id(session.id)
            .exec(db)
            .await?;
        return Ok(None);
    }
    let Some(operator) = operator::Entity::find_by_id(session.operator_id)
        .one(db)
        .await?
        .filter(|o| o.disabled_at.is_none())
    else {
        return Ok(None);
    };
    if activity && session.last_seen_at + LAST_SEEN_RESOLUTION <= now {
        operator_session::Entity::update_many()
            .col_expr(operator_session::Column::LastSeenAt, Expr::value(now))
            .filter(operator_session::Column::Id.eq(session.id))
            .exec(db)
            .await?;
    }
    Ok(Some((session, operator)))
}

pub async fn end_session(db: &impl ConnectionTrait, token_hash: &str) -> Result<(), StoreError> {
    operator_session::Entity::delete_many()
        .filter(operator_session::Column::TokenHash.eq(token_hash))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn end_all_sessions(
    db: &impl ConnectionTrait,
    operator_id: Uuid,
) -> Result<(), StoreError> {
    operator_session::Entity::delete_many()
        .filter(operator_session::Column::OperatorId.eq(operator_id))
        .exec(db)
        .await?;
    Ok(())
}
