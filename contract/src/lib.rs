//! The vocabulary every Pombo crate shares, free of I/O: what a notification is, which
//! statuses it moves through, how requests are validated, and the contracts between the
//! API, the workflows and the activities (workflow input, activity definitions, search
//! attributes). Nothing here touches the network or a database.

pub mod activities;
pub mod batch;
pub mod channel;
pub mod config;
pub mod content;
pub mod conversation;
pub mod delivery;
pub mod files;
pub mod hub;
pub mod inbound_media;
pub mod outbound;
pub mod preferences;
pub mod priority;
pub mod providers;
pub mod recipient;
pub mod render;
pub mod retention;
pub mod retry;
pub mod routing;
pub mod scope;
pub mod secret;
pub mod status;
pub mod tracking;
pub mod webhooks;
pub mod workflow;

pub use channel::Channel;
pub use priority::{NotificationType, Priority};
pub use scope::Scope;
pub use status::NotificationStatus;
