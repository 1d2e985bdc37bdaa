//! Webhook subscriptions, kept: tenants' endpoints with their sealed secrets and health
//! ([`endpoints`]), and the deliveries of events to them with every attempt
//! ([`deliveries`]). Events become deliveries by [`deliveries::fan_out`], which reads the
//! event log after a shared cursor and moves it in the same transaction.

pub mod deliveries;
pub mod endpoints;
