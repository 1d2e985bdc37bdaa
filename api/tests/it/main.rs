//! Pombo's integration tests, against a real Temporal dev server, a real SMTP capture
//! server (maildev) and a real database (SQLite, or PostgreSQL with POMBO_TEST_DB=postgres).
//! One test binary; each test spawns its own app (see `support`).

mod admin_page;
mod attachments;
mod auth;
mod batches;
mod callbacks;
mod channels;
mod conversations;
mod delivery;
mod durability;
mod events;
mod files;
mod gateway_events;
mod https;
mod hub;
mod idempotency;
mod inbound_changes;
mod inbound_media;
mod inbox;
mod keys;
mod lifecycle;
mod listing;
mod metrics;
mod openapi;
mod operations;
mod operators;
mod outbound_guard;
mod plain_logs;
mod priority;
mod provider_rate_limits;
mod providers;
mod rate_limit;
mod readme;
mod recipients;
mod render_limits;
mod retention;
mod routing_rules;
mod scheduling;
mod secrets_in_logs;
mod stream;
mod support;
mod templates;
mod upgrade;
mod validation;
mod webhooks;
