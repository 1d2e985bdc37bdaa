//! Pombo's workflows: deterministic orchestration only. No I/O, clocks or randomness here;
//! everything that touches the world is an activity declared in `pombo_contract::activities`.

pub mod batch;
pub mod hub_check;
pub mod hub_forward;
pub mod inbound_media;
pub mod notification;
mod policy;
pub mod retention;
pub mod webhook_delivery;

pub use batch::BatchWorkflow;
pub use hub_check::HubCheckWorkflow;
pub use hub_forward::HubForwardWorkflow;
pub use inbound_media::InboundMediaWorkflow;
pub use notification::NotificationWorkflow;
pub use retention::RetentionWorkflow;
pub use webhook_delivery::WebhookDeliveryWorkflow;
