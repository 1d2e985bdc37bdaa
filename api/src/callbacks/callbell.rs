//! Callbacks of `callbell`. STUB: to be implemented.

use pombo_contract::providers::CallbellSettings;

use super::{CallbackError, CallbackRequest, ProviderEvent};

#[allow(unused_variables)]
pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &CallbellSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    Err(CallbackError::Malformed("callbell callbacks are not supported yet".into()))
}
