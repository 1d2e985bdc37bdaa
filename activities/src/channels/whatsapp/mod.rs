//! The WhatsApp channel: Meta's Cloud API, Callbell, and the self-hosted gateways Evolution API and WAHA.

pub mod callbell;
pub mod cloud_api;
pub mod evolution;
pub mod waha;
