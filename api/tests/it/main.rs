//! Pombo's integration tests, against a real Temporal dev server, a real SMTP capture
//! server (maildev) and a real database (SQLite, or PostgreSQL with POMBO_TEST_DB=postgres).
//! One test binary; each test spawns its own app (see `support`).

mod auth;
mod callbacks;
mod channels;
mod delivery;
mod durability;
mod idempotency;
mod lifecycle;
mod listing;
mod providers;
mod support;
mod validation;
