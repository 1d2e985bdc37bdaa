//! Pombo's activities: everything a notification workflow does to the world.
//!
//! - [`render`]: fills the content's placeholders and stores the result.
//! - [`channels`]: one folder per channel, one module per provider (`channels/email/smtp.rs`).
//! - [`notification`]: the activity implementations the worker registers, tying the two to
//!   the database records.

pub mod channels;
pub mod notification;
pub mod render;

pub use notification::NotificationActivities;
