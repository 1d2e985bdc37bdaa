//! Pombo's activities: everything a notification workflow does to the world.
//!
//! - [`render`]: fills the content's placeholders and stores the result.
//! - [`channels`]: one folder per channel, one module per provider (`channels/email/smtp.rs`).
//! - [`routing`]: which provider accounts deliver a notification, in failover order.
//! - [`notification`]: the activity implementations the worker registers, tying the two to
//!   the database records.
//! - [`telemetry`]: the worker's Prometheus recorder.

pub mod channels;
pub mod notification;
pub mod render;
pub mod routing;
pub mod telemetry;

pub use notification::NotificationActivities;
