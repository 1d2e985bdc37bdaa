//! Callbacks of `waha`. STUB: to be implemented.

use pombo_contract::providers::WahaSettings;

use super::{CallbackError, CallbackRequest, ProviderEvent};

#[allow(unused_variables)]
pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &WahaSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    Err(CallbackError::Malformed("waha callbacks are not supported yet".into()))
}
