use std::sync::Arc;

use pombo_contract::Config;
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
}
