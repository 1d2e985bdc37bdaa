//! Pombo's schema, as sea-orm migrations applied by the API and the worker at start-up.

pub use sea_orm_migration::prelude::*;

mod m0001_notifications;
mod m0002_provider_accounts;
mod m0003_delivery_events;
mod m0004_audit_log;
mod m0005_templates;
mod m0006_files;
mod m0007_fallback;
mod m0008_recipients_routing;
mod m0009_retention;
mod m0010_send_at_rate_limits;
mod m0011_batches;
mod m0012_start_claims;
mod m0013_callback_accounts;
mod m0014_keys_scopes;
mod m0015_operators;
mod m0016_conversations;
mod m0017_inbound_media;
mod m0018_message_changes;
mod m0019_instance_states;
mod m0020_event_log;
mod m0021_event_log_order;
mod m0022_batch_completed_event;
mod m0023_inbox;
mod m0024_instance_events;
mod m0025_webhooks;
mod m0026_hub;
mod m0027_preferences;
mod m0028_email_tracking;
mod m0029_tenant_weight;
mod m0030_webhook_indexes;
mod m0031_notification_trace_context;
mod m0032_analytics_rollups;
mod statements;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_notifications::Migration),
            Box::new(m0002_provider_accounts::Migration),
            Box::new(m0003_delivery_events::Migration),
            Box::new(m0004_audit_log::Migration),
            Box::new(m0005_templates::Migration),
            Box::new(m0006_files::Migration),
            Box::new(m0007_fallback::Migration),
            Box::new(m0008_recipients_routing::Migration),
            Box::new(m0009_retention::Migration),
            Box::new(m0010_send_at_rate_limits::Migration),
            Box::new(m0011_batches::Migration),
            Box::new(m0012_start_claims::Migration),
            Box::new(m0013_callback_accounts::Migration),
            Box::new(m0014_keys_scopes::Migration),
            Box::new(m0015_operators::Migration),
            Box::new(m0016_conversations::Migration),
            Box::new(m0017_inbound_media::Migration),
            Box::new(m0018_message_changes::Migration),
            Box::new(m0019_instance_states::Migration),
            Box::new(m0020_event_log::Migration),
            Box::new(m0021_event_log_order::Migration),
            Box::new(m0022_batch_completed_event::Migration),
            Box::new(m0023_inbox::Migration),
            Box::new(m0024_instance_events::Migration),
            Box::new(m0025_webhooks::Migration),
            Box::new(m0026_hub::Migration),
            Box::new(m0027_preferences::Migration),
            Box::new(m0028_email_tracking::Migration),
            Box::new(m0029_tenant_weight::Migration),
            Box::new(m0030_webhook_indexes::Migration),
            Box::new(m0031_notification_trace_context::Migration),
            Box::new(m0032_analytics_rollups::Migration),
        ]
    }
}
