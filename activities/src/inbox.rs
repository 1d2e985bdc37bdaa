//! The in-app channel's delivery. Pombo is its own provider here: a notification for
//! `in_app` is sent by adding it to its recipient's inbox (`pombo_store::inbox`), which is
//! also its delivery, so it is recorded `delivered` at once; it becomes `read` when the
//! recipient's app marks it read (`api/src/recipients/inbox.rs`). The workflow sees one
//! more provider account, `inbox`, and needs nothing of its own.

use pombo_contract::activities::ProviderRef;
use pombo_providers::{Accepted, DeliveryError};
use pombo_store::{
    Db,
    events::{self, NewEvent},
    notifications::Notification,
};

/// The one account of the channel: the inbox itself.
pub const ACCOUNT: &str = "inbox";

pub fn account() -> ProviderRef {
    ProviderRef {
        account_id: None,
        name: ACCOUNT.to_owned(),
        kind: ACCOUNT.to_owned(),
        rate_limited: false,
    }
}

/// Stores `n` in its recipient's inbox (once, however often it is retried). Its provider
/// message id is the inbox item's id.
pub async fn deliver(db: &Db, n: &Notification) -> Result<Accepted, DeliveryError> {
    let Some(recipient_id) = n.recipient_id else {
        // The API resolves every in-app `to` to a profile; a row without one is not ours.
        return Err(DeliveryError::permanent(
            "an in-app notification needs a recipient profile",
        ));
    };
    let item = pombo_store::inbox::deliver(db, n.tenant_id, recipient_id, n.id)
        .await
        .map_err(|e| DeliveryError::retryable(format!("storing in the inbox: {e}")))?;
    Ok(Accepted {
        provider_message_id: Some(item.id.to_string()),
    })
}

/// Once recorded `sent`: stored in the inbox is delivered. Returns the status after (what
/// the workflow is told, so that it does not wait for, or fall back for want of, a delivery
/// report that has come already).
pub async fn record_delivered(
    db: &Db,
    n: &Notification,
) -> Result<pombo_contract::NotificationStatus, pombo_store::StoreError> {
    events::record(
        db,
        n.id,
        NewEvent::new(
            pombo_contract::NotificationStatus::Delivered,
            "inbox",
            "stored",
        ),
    )
    .await
    .map(|recorded| recorded.status)
}
