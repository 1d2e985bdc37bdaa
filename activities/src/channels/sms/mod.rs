//! The SMS channel: Twilio, Vonage.

pub mod twilio;
pub mod vonage;
