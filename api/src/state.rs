use std::sync::Arc;

use pombo_config::Config;
use pombo_store::{Db, sealed::Keyring};

use crate::dispatch::Dispatcher;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub dispatcher: Arc<Dispatcher>,
    /// Seals credentials and personal data at rest; `None` when no key is configured.
    pub keyring: Option<Arc<Keyring>>,
    /// Per-tenant request rate limit, checked by the `Tenant` extractor.
    pub rate_limiter: Arc<crate::rate_limit::RateLimiter>,
    /// Per-client-address limits of the provider callbacks.
    pub callback_limiter: Arc<crate::rate_limit::CallbackLimiter>,
    /// Failed operator sign-ins per email and per client address.
    pub sign_in_throttle: Arc<crate::operators::throttle::SignInThrottle>,
    /// S3-compatible storage of uploaded files (`/v1/files`).
    pub object_store: Arc<crate::files::ObjectStore>,
    /// Renders tenants' templates in memory-limited child processes (`pombo-render`).
    pub renderer: pombo_renderer::Renderer,
    /// HTTP clients to the providers, guarded by the outbound rule for tenants' accounts:
    /// read receipts go out from the API (`conversations::mark_read`).
    pub providers: Arc<pombo_providers::outbound::OutboundClients>,
    /// The event stream's follower of the log, its token keys and open connections.
    pub streams: Arc<crate::stream::Streams>,
}
