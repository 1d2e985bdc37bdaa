//! Callbacks of `sendgrid`. STUB: to be implemented.

use pombo_contract::providers::SendgridSettings;

use super::{CallbackError, CallbackRequest, ProviderEvent};

#[allow(unused_variables)]
pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &SendgridSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    Err(CallbackError::Malformed("sendgrid callbacks are not supported yet".into()))
}
