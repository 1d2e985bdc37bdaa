//! The retention activities, implementing the definitions of `pombo_contract::retention`:
//! one batch of purged notifications, one batch of deleted files per call. Both are
//! idempotent: a retried call finds the rows of the earlier one already purged.

use std::sync::Arc;

use pombo_contract::retention::{self as defs, PurgeInput, PurgeOutput};
use pombo_store::{Db, files, objects::ObjectStore, retention};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

#[derive(Clone)]
pub struct RetentionActivities {
    db: Db,
    /// Where uploaded files are; without it, files are left alone.
    objects: Option<Arc<ObjectStore>>,
    /// `retention.event_days`: how long the event log keeps events (0: forever).
    event_days: u32,
}

impl RetentionActivities {
    pub fn new(db: Db, objects: Option<Arc<ObjectStore>>, event_days: u32) -> Self {
        RetentionActivities {
            db,
            objects,
            event_days,
        }
    }
}

#[activities]
impl RetentionActivities {
    #[activity(definition = defs::PurgeNotifications)]
    pub async fn purge_notifications(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PurgeInput,
    ) -> Result<PurgeOutput, ActivityError> {
        let purged =
            retention::purge_personal_data(&self.db, input.older_than, input.limit).await?;
        if purged < input.limit {
            // The last batch of the run: also drop reports parked for messages never
            // recorded, which hold the provider's view of the recipient.
            let parked = retention::purge_parked_callbacks(&self.db, input.older_than).await?;
            if parked > 0 {
                tracing::info!(parked, "retention deleted stale parked callbacks");
            }
            // And conversations' messages past the same period.
            let messages = retention::purge_conversations(&self.db, input.older_than).await?;
            if messages > 0 {
                tracing::info!(messages, "retention deleted old conversation messages");
            }
            // And the chat hub's messages and settled forwards.
            let hub = pombo_store::hub::messages::purge(&self.db, input.older_than).await?;
            if hub > 0 {
                tracing::info!(messages = hub, "retention deleted old chat hub messages");
            }
            // And the event log, by its own period (from now: it is not personal data).
            if self.event_days > 0 {
                let cutoff =
                    chrono::Utc::now() - chrono::Duration::days(i64::from(self.event_days));
                let events = pombo_store::event_log::purge(&self.db, cutoff).await?;
                if events > 0 {
                    tracing::info!(events, "retention deleted old events");
                }
                let webhooks = pombo_store::webhooks::deliveries::purge(&self.db, cutoff).await?;
                if webhooks > 0 {
                    tracing::info!(
                        webhooks,
                        "retention deleted old webhook deliveries and attempts"
                    );
                }
            }
        }
        Ok(PurgeOutput { purged })
    }

    #[activity(definition = defs::PurgeFiles)]
    pub async fn purge_files(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PurgeInput,
    ) -> Result<PurgeOutput, ActivityError> {
        let Some(objects) = &self.objects else {
            tracing::warn!("retention: no usable object storage; uploaded files are kept");
            return Ok(PurgeOutput { purged: 0 });
        };
        let expired = files::expired(&self.db, input.older_than, input.limit).await?;
        for file in &expired {
            // Object first: a crash in between leaves a row that the next run deletes again
            // (deleting a missing object succeeds), never an object nobody points at.
            objects.delete(&file.object_key).await?;
            files::mark_purged(&self.db, file.id).await?;
        }
        Ok(PurgeOutput {
            purged: expired.len() as u64,
        })
    }
}
