//! Callbacks of `instagram`. STUB: to be implemented.

use pombo_contract::providers::InstagramSettings;

use super::{CallbackError, CallbackRequest, ProviderEvent};

#[allow(unused_variables)]
pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &InstagramSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    Err(CallbackError::Malformed("instagram callbacks are not supported yet".into()))
}
