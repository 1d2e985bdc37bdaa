//! The outbound webhook channel: the recipient is a URL.

pub mod standard_webhooks;
