//! The chat hub's two schedules (`[hub]`): `hub.ping_schedule_id` pings every platform
//! every `ping_every_secs`, `hub.import_users_schedule_id` imports every platform's users
//! every `import_users_every_secs` (see [`crate::schedules`]); 0 deletes one.

use std::time::Duration;

use pombo_contract::{
    Priority,
    config::{HubConfig, TemporalConfig},
    hub::HubCheck,
    workflow::task_queue,
};
use pombo_workflows::HubCheckWorkflow;
use temporalio_client::{Client, schedules::ScheduleAction};

use crate::schedules::ScheduleChange;

/// Makes both schedules match `hub`: what was done to each (ping, import).
pub async fn ensure_schedules(
    client: &Client,
    temporal: &TemporalConfig,
    hub: &HubConfig,
) -> anyhow::Result<(ScheduleChange, ScheduleChange)> {
    let schedule = |id: &str, check: HubCheck, every_secs: u64, note: &'static str| {
        let id = id.to_owned();
        let queue = task_queue(&temporal.task_queue, Priority::Low);
        async move {
            let action =
                || ScheduleAction::start_workflow(HubCheckWorkflow::run, check, queue.clone(), &id);
            let every = (every_secs > 0).then(|| Duration::from_secs(every_secs));
            crate::schedules::ensure(client, &id, every, action, note).await
        }
    };
    let ping = schedule(
        &hub.ping_schedule_id,
        HubCheck::Ping,
        hub.ping_every_secs,
        "chat hub: ping every platform (pombo-worker)",
    )
    .await?;
    let import = schedule(
        &hub.import_users_schedule_id,
        HubCheck::ImportUsers,
        hub.import_users_every_secs,
        "chat hub: import every platform's users (pombo-worker)",
    )
    .await?;
    Ok((ping, import))
}
