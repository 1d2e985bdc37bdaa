//! The Instagram channel (Direct messages).

pub mod graph_api;
