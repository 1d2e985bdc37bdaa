//! Pombo's workflows: deterministic orchestration only. No I/O, clocks or randomness here;
//! everything that touches the world is an activity declared in `pombo_contract::activities`.

pub mod notification;

pub use notification::NotificationWorkflow;
