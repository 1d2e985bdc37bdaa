//! sea-orm entities, one per table (see `pombo-migrations` for the schema).

pub mod api_key;
pub mod audit_entry;
pub mod batch;
pub mod contact;
pub mod conversation;
pub mod conversation_message;
pub mod event_log;
pub mod event_log_horizon;
pub mod file;
pub mod inbox_item;
pub mod instance_state;
pub mod notification;
pub mod notification_attempt;
pub mod notification_event;
pub mod operator;
pub mod operator_grant;
pub mod operator_recovery_code;
pub mod operator_session;
pub mod parked_callback;
pub mod provider_account;
pub mod recipient;
pub mod routing_rule;
pub mod template;
pub mod template_version;
pub mod tenant;
pub mod text;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod webhook_fanout;

pub use text::Text;
