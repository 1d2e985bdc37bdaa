//! The Telegram channel.

pub mod bot_api;
