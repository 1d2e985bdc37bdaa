//! Where each gateway instance stands, as its webhook last said: the callback route keeps
//! the newest `connection.update` / `session.status` per account ([`record`]), and the
//! instance's view shows it ([`get`]) beside what the gateway answers live. An event older
//! than the one kept (webhooks arrive out of order when retried) changes nothing.

use chrono::{DateTime, Utc};
use sea_orm::TransactionSession;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, TransactionTrait};
use uuid::Uuid;

use crate::{StoreError, entities::instance_state};

pub use instance_state::Model as InstanceState;

/// Keeps what the gateway said of `account_key`'s instance at `changed_at`, unless a newer
/// event is kept already. Returns whether it was kept.
pub async fn record<C: TransactionTrait>(
    db: &C,
    account_key: &str,
    tenant_id: Option<Uuid>,
    connection: &str,
    gateway_state: &str,
    changed_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let tx = crate::begin_write(db).await?;
    let now = Utc::now();
    let kept = match instance_state::Entity::find_by_id(account_key.to_owned())
        .one(&tx)
        .await?
    {
        Some(row) if row.changed_at > changed_at => false,
        Some(row) => {
            let mut active: instance_state::ActiveModel = row.into();
            active.connection = Set(connection.to_owned());
            active.gateway_state = Set(gateway_state.to_owned());
            active.changed_at = Set(changed_at);
            active.updated_at = Set(now);
            active.update(&tx).await?;
            true
        }
        None => {
            instance_state::ActiveModel {
                account_key: Set(account_key.to_owned()),
                tenant_id: Set(tenant_id),
                connection: Set(connection.to_owned()),
                gateway_state: Set(gateway_state.to_owned()),
                changed_at: Set(changed_at),
                updated_at: Set(now),
            }
            .insert(&tx)
            .await?;
            true
        }
    };
    tx.commit().await?;
    Ok(kept)
}

/// What the webhook last said of `account_key`'s instance, if it said anything.
pub async fn get(
    db: &impl ConnectionTrait,
    account_key: &str,
) -> Result<Option<InstanceState>, StoreError> {
    Ok(instance_state::Entity::find_by_id(account_key.to_owned())
        .one(db)
        .await?)
}
