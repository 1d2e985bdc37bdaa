//! Pombo's activities: everything a notification workflow does to the world.
//!
//! - [`render`]: fills the content's placeholders and stores the result.
//! - Providers' clients are `pombo_providers` (one folder per provider); this crate calls them.
//! - [`routing`]: which provider accounts deliver a notification, in failover order.
//! - [`notification`]: the activity implementations the worker registers, tying the two to
//!   the database records.
//! - [`files`]: uploaded files at send time (attachments downloaded, presigned URLs).
//! - [`inbound_media`]: files people send in, fetched into object storage.
//! - [`retention`]: the purge of personal data past the retention period.
//! - [`batch`]: the chunk activities of bulk sends, built from the same steps.
//! - [`telemetry`]: the worker's Prometheus recorder.
//! - [`webhooks`]: one attempt of a delivery to a tenant's webhook endpoint, signed.
//! - [`hub`]: one round of a chat platform's queue of forwards, in order.

pub mod batch;
pub mod files;
pub mod hub;
pub mod inbound_media;
pub mod inbox;
pub mod notification;
pub mod preferences;
pub mod render;
pub mod retention;
pub mod routing;
pub mod telemetry;
pub mod webhooks;

pub use batch::BatchActivities;
pub use hub::HubActivities;
pub use inbound_media::InboundMediaActivities;
pub use notification::NotificationActivities;
pub use retention::RetentionActivities;
pub use webhooks::WebhookActivities;
